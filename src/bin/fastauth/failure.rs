//! Why a command failed, and the exit status that says so.

use std::{fmt, process::ExitCode};

/// A failed command: the message for standard error and the kind, which fixes the
/// documented exit status.
#[derive(Debug)]
pub enum Failure {
    /// Exit 1: a "no" (the token does not verify, a value would be replaced).
    Refused(String),
    /// Exit 2: the command cannot run as given (arguments, key, configuration).
    Usage(String),
    /// Exit 3: reading or writing a file failed.
    Io(String),
}

impl Failure {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Failure::Refused(_) => 1,
            Failure::Usage(_) => 2,
            Failure::Io(_) => 3,
        })
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Refused(m) | Failure::Usage(m) | Failure::Io(m) => f.write_str(m),
        }
    }
}
