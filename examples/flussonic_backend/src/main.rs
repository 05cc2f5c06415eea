//! The `flussonic_backend` program: configuration, logging, the runtime, serving until
//! SIGTERM or Ctrl-C. The backend itself is the library beside this file; its
//! operations manual is the crate's README.md.
//!
//! ```text
//! cargo run --release -p flussonic_backend            # listens on 0.0.0.0:8080
//! cargo run --release -p flussonic_backend -- --help  # every setting and its variable
//! ```

// No input may reach a panic: what can panic (unwrapping, indexing and slicing,
// unchecked arithmetic, explicit panics) is refused outside tests, which may allow it.
// An allowance left in this code says why it cannot panic.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::unreachable,
    clippy::todo,
    clippy::unimplemented
)]
#![forbid(unsafe_code)]

use std::{process::ExitCode, time::Duration};

use flussonic_backend::{
    app,
    config::{Command, Config, ImportPython, LoadError},
    management::api_key::KeySource,
    ops::import_python,
};

/// How long requests in flight may take to finish after SIGTERM or Ctrl-C.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(LoadError::Help(help)) => {
            println!("{help}");
            return ExitCode::SUCCESS;
        }
        // `--version`, or a command line clap refused: clap's own message and exit code.
        Err(LoadError::Usage(e)) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
        Err(LoadError::Invalid(e)) => {
            eprintln!("flussonic_backend: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(Command::ImportPython(args)) = &config.command {
        return import(&config, args);
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&config.log_level))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("flussonic_backend: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("flussonic_backend: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `import-python`: the summary on standard output, log lines and errors on standard
/// error. Exit status 0: done; 3: done, something left out (listed); 1: an error.
fn import(config: &Config, args: &ImportPython) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&config.log_level))
        .with_writer(std::io::stderr)
        .init();
    match import_python::run(config, args) {
        Ok(report) => {
            print!("{report}");
            if report.left_something_out() {
                ExitCode::from(3)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(message) => {
            eprintln!("flussonic_backend import-python: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), String> {
    tracing::debug!(?config, "configuration");
    let app = app::build(&config)?;
    match &app.key_source {
        KeySource::Configured => tracing::info!("management API key: from API_KEY"),
        KeySource::File(path) => tracing::info!(file = %path.display(), "management API key: read from file"),
        KeySource::Generated(path) => tracing::warn!(
            file = %path.display(),
            "no API_KEY set: generated a management API key and stored it in this file (mode 0600)"
        ),
    }
    let listener = tokio::net::TcpListener::bind((config.api_host.as_str(), config.api_port))
        .await
        .map_err(|e| {
            format!(
                "cannot listen on {}:{} (API_HOST, API_PORT): {e}",
                config.api_host, config.api_port
            )
        })?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(
        %addr,
        database = %config.database_path.display(),
        access_log_database = %config.log_database_path.display(),
        auth_duration = config.auth_duration,
        session_grace = config.session_grace,
        access_logs = config.enable_access_logs,
        "flussonic_backend listening"
    );
    // One signal, two listeners: the server's graceful shutdown, and a deadline after
    // which requests still running (a stuck client) no longer hold the database open.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let serve = app::serve(listener, app.router, stopped(stop_rx.clone()));
    let deadline = async {
        stopped(stop_rx).await;
        tokio::time::sleep(SHUTDOWN_DEADLINE).await;
    };
    let served = tokio::select! {
        served = serve => served,
        () = deadline => {
            tracing::warn!(
                seconds = SHUTDOWN_DEADLINE.as_secs(),
                "requests still in flight after the shutdown deadline: closing anyway"
            );
            Ok(())
        }
    };
    tracing::info!("stopped serving; closing the database");
    app.state.shutdown().await;
    served.map_err(|e| format!("server error: {e}"))
}

/// Ctrl-C or SIGTERM (what systemd and docker send).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing requests in flight");
}
