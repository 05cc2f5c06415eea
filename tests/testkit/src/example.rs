//! The example programs as a user runs them: each test starts the program cargo built for
//! it (`env!("CARGO_BIN_EXE_<name>")`) as a process, with only the environment the README
//! tells a user to set, and talks to it over the address it prints.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader, Read},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex, mpsc},
    thread,
    time::Duration,
};

/// The `CRYPTOGRAPHY_KEY` the example programs are started with: what `fastauth keygen`
/// prints, 32 random bytes in base64.
pub const KEY: &str = "q3O2m1bWJmXc7b0yLr5yQ2kE4Jt8vHn6Wc9sZp1aR0U=";
/// The `MASTER_TOKEN` the example programs are started with.
pub const MASTER: &str = "a-long-master-token-for-the-tests";

/// How long a program may take to print its address (a cold start, on a busy machine).
const STARTUP: Duration = Duration::from_secs(60);

/// A running example program, killed when dropped.
pub struct Program {
    name: String,
    child: Child,
    line: String,
    stderr: Arc<Mutex<String>>,
}

impl Program {
    /// Starts `binary` with exactly `env` (nothing inherited: no `MASTER_TOKEN` of the
    /// developer's shell leaks in) and waits for the first line it prints with an
    /// `http://` address in it. Panics, with what the program wrote, if it exits first.
    pub fn start(binary: &str, env: &[(&str, &str)]) -> Program {
        let mut child = spawn(binary, env);
        let stderr = Arc::new(Mutex::new(String::new()));
        let collected = stderr.clone();
        let mut err = child.stderr.take().expect("piped stderr");
        thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = err.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
                collected.lock().unwrap().push_str(&text);
            }
        });
        let out = child.stdout.take().expect("piped stdout");
        let (lines, received) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut program = Program {
            name: binary.rsplit('/').next().unwrap_or(binary).to_owned(),
            child,
            line: String::new(),
            stderr,
        };
        loop {
            match received.recv_timeout(STARTUP) {
                Ok(line) if line.contains("http://") => {
                    program.line = line;
                    return program;
                }
                Ok(_) => {}
                Err(_) => {
                    let status = program.child.try_wait().ok().flatten();
                    panic!(
                        "{} printed no address within {STARTUP:?} (exit status {status:?}); stderr:\n{}",
                        program.name,
                        program.stderr()
                    );
                }
            }
        }
    }

    /// Starts `binary` as the README runs the examples: `CRYPTOGRAPHY_KEY` set to [`KEY`],
    /// `MASTER_TOKEN` to [`MASTER`], and `more`.
    pub fn start_with_secrets(binary: &str, more: &[(&str, &str)]) -> Program {
        let mut env = vec![("CRYPTOGRAPHY_KEY", KEY), ("MASTER_TOKEN", MASTER)];
        env.extend_from_slice(more);
        Program::start(binary, &env)
    }

    /// The first address the program printed (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> &str {
        self.urls().into_iter().next().expect("start found an address")
    }

    /// Every address of the line it printed, in order.
    pub fn urls(&self) -> Vec<&str> {
        self.line
            .split_whitespace()
            .filter(|word| word.starts_with("http://"))
            .map(|word| word.trim_end_matches([',', '.']))
            .collect()
    }

    /// What the program wrote to stderr so far (its log).
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Stops the program (SIGKILL, as a crash or a host going down would) and waits for it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a program that ends by itself (a configuration error) left behind.
pub struct Exit {
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

/// Runs `binary` with exactly `env` until it exits (it must, within the start-up time:
/// for a configuration it refuses).
pub fn run_to_exit(binary: &str, env: &[(&str, &str)]) -> Exit {
    let mut child = spawn(binary, env);
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > STARTUP {
            let _ = child.kill();
            panic!("{binary} did not exit within {STARTUP:?}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    Exit {
        status,
        stdout,
        stderr,
    }
}

/// `binary` with exactly `env` (and `PATH`), its output piped, no input.
fn spawn(binary: &str, env: &[(&str, &str)]) -> Child {
    command(binary, env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"))
}

fn command(binary: &str, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(binary);
    command.env_clear();
    // A program may need to find others (a browser, say) but nothing else of ours.
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    let env: HashMap<&str, &str> = env.iter().copied().collect();
    command.envs(env);
    command
}
