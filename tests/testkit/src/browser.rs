//! A real browser for the tests that need one: headless Chromium, which loads a page,
//! runs its scripts (CORS preflights included) and prints the DOM they left.
//!
//! Without a browser on the machine the test is skipped with a printed reason, unless
//! `FASTAUTH_REQUIRE_SERVICES=1` (set by `.ci/run`), where a missing browser fails it.

use std::{
    io::Read,
    path::PathBuf,
    process::{Command, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    thread,
    time::{Duration, Instant},
};

/// The names Chromium goes by on Linux distributions and macOS installs.
const NAMES: [&str; 4] = [
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

/// How long a page may take to load and settle.
const PAGE_TIME: Duration = Duration::from_secs(60);

/// A headless Chromium.
pub struct Browser {
    binary: PathBuf,
}

impl Browser {
    /// `FASTAUTH_BROWSER`, or the first of Chromium's usual names on `PATH`. `None` (with
    /// the reason printed) when there is none and services are not required.
    pub fn find(test: &str) -> Option<Browser> {
        let binary = std::env::var_os("FASTAUTH_BROWSER")
            .map(PathBuf::from)
            .or_else(|| NAMES.iter().find_map(|name| on_path(name)));
        match binary {
            Some(binary) => Some(Browser { binary }),
            None if std::env::var("FASTAUTH_REQUIRE_SERVICES").as_deref() == Ok("1") => panic!(
                "{test}: no browser (chromium) found and FASTAUTH_REQUIRE_SERVICES=1: install chromium \
                 or set FASTAUTH_BROWSER"
            ),
            None => {
                eprintln!(
                    "skipped {test}: no browser found (install chromium, or set FASTAUTH_BROWSER); \
                     FASTAUTH_REQUIRE_SERVICES=1 makes this a failure"
                );
                None
            }
        }
    }

    /// Loads `url`, lets its scripts run (their timers and fetches included) and returns
    /// the document as they left it.
    pub fn dom_after_scripts(&self, url: &str) -> String {
        // A profile of its own: browsers started side by side would fight over one.
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let profile = std::env::temp_dir().join(format!(
            "fastauth-browser-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        let mut child = Command::new(&self.binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--no-first-run",
                "--virtual-time-budget=10000",
                "--dump-dom",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        let mut out = child.stdout.take().expect("piped stdout");
        let reader = thread::spawn(move || {
            let mut dom = String::new();
            let _ = out.read_to_string(&mut dom);
            dom
        });
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > PAGE_TIME {
                let _ = child.kill();
                let _ = std::fs::remove_dir_all(&profile);
                panic!("the browser did not finish {url} within {PAGE_TIME:?}");
            }
            thread::sleep(Duration::from_millis(50));
        };
        let dom = reader.join().unwrap_or_default();
        let mut stderr = String::new();
        if let Some(mut err) = child.stderr.take() {
            let _ = err.read_to_string(&mut stderr);
        }
        let _ = std::fs::remove_dir_all(&profile);
        assert!(
            status.success(),
            "the browser failed on {url}: {status}\n{stderr}"
        );
        dom
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}
