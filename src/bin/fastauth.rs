//! `fastauth`: keys and tokens from the command line (the `cli` feature).
//!
//! ```text
//! cargo install fastauth --features cli     # or: cargo run --features cli --bin fastauth -- …
//!
//! fastauth keygen [--env-file .env [--name CRYPTOGRAPHY_KEY] [--force]]
//! fastauth token new --client-id ID [--access-lifetime SECS] [--refresh-lifetime SECS]
//!                    [--key KEY | --config fastauth.config.json]
//! fastauth token inspect [--key KEY | --config fastauth.config.json] <TOKEN | ->
//! ```
//!
//! - `keygen` prints a new cryptography key (32 random bytes, URL-safe base64 with
//!   padding: 44 characters, fastauth-api's shape) or, with `--env-file`, sets
//!   `CRYPTOGRAPHY_KEY` (or `--name`) in a `.env` file, created if needed, every other
//!   line kept as it is. It refuses to replace a value without `--force`: tokens signed
//!   with the old key stop verifying.
//! - `token new` mints a pair offline and prints it as JSON, in the shape of the token
//!   endpoint's `data` (`client_id`, `access_token`, `refresh_token`). It saves nothing:
//!   a stateless service accepts the pair at once, a stored-mode one only once it is in
//!   the store.
//! - `token inspect` verifies an access or refresh token and prints its claims, its
//!   issue and expiry times (UTC) and the time it has left, as JSON. `-` reads the token
//!   from standard input, which keeps it out of the shell history and the process list.
//!
//! The key comes from `--key`, else the `cryptography_key` of `--config`, else
//! `CRYPTOGRAPHY_KEY`: code over file over environment, as in the library. Token
//! lifetimes come from the options, else the configuration file, else 30 and 365 days. A
//! service's own configuration file works as it is: of its settings, only the keys
//! (`cryptography_key`, `key_id`, `previous_keys`), the lifetimes, the leeway and the
//! token mode count here.
//!
//! Results go to standard output, errors to standard error, and the exit status is one
//! of the codes in `EXIT_CODES` below (also shown by `--help`), which scripts may rely on:
//! 0 success; 1 refused (the token does not verify, or a value would be replaced); 2 usage
//! or configuration error; 3 I/O error (the `.env` file or standard input).

use std::{path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand};

// A binary's root file looks for modules beside itself; these live in fastauth/.
#[path = "fastauth/env_file.rs"]
mod env_file;
#[path = "fastauth/failure.rs"]
mod failure;
#[path = "fastauth/keygen.rs"]
mod keygen;
#[path = "fastauth/token.rs"]
mod token;

const EXIT_CODES: &str = "\
Exit status:
  0  success
  1  refused: the token does not verify (bad signature, expired, malformed),
     or keygen would replace an existing value without --force
  2  usage or configuration error: bad arguments, no or weak key, unreadable
     or invalid configuration file
  3  I/O error: the .env file could not be read or written, or the token
     could not be read from standard input";

/// Keys and tokens for fastauth (and fastauth-api) deployments.
///
/// The key comes from --key, else the cryptography_key of --config, else the
/// CRYPTOGRAPHY_KEY environment variable. Results go to standard output (JSON for the
/// token commands), errors to standard error.
#[derive(Debug, Parser)]
#[command(name = "fastauth", version, after_help = EXIT_CODES, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a cryptography key: 32 random bytes, URL-safe base64 (44 characters).
    ///
    /// Prints the key, or with --env-file adds NAME=KEY to a .env file (created if
    /// needed, every other line kept as it is).
    #[command(after_help = EXIT_CODES)]
    Keygen(KeygenArgs),
    /// Mint and inspect tokens with the configured key.
    #[command(subcommand, after_help = EXIT_CODES, arg_required_else_help = true)]
    Token(TokenCommand),
}

#[derive(Debug, Args)]
struct KeygenArgs {
    /// Write the key into this .env file instead of printing it.
    #[arg(long, value_name = "PATH")]
    env_file: Option<PathBuf>,
    /// The variable to set in the .env file.
    #[arg(long, value_name = "NAME", default_value = "CRYPTOGRAPHY_KEY", requires = "env_file", value_parser = parse_name)]
    name: String,
    /// Replace the variable's existing value. Tokens signed with the old key stop verifying.
    #[arg(long, requires = "env_file")]
    force: bool,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Mint an access and refresh token pair offline and print it as JSON.
    ///
    /// The pair is signed with the configured key and is not saved to any token store:
    /// a stateless deployment accepts it at once, a stored-mode one only once saved.
    #[command(after_help = EXIT_CODES)]
    New(NewArgs),
    /// Verify a token and print its claims and the time it has left, as JSON.
    ///
    /// Exits with 1 and the reason on standard error when the token is malformed,
    /// tampered with, signed with another key or expired.
    #[command(after_help = EXIT_CODES)]
    Inspect(InspectArgs),
}

#[derive(Debug, Args)]
struct NewArgs {
    /// The client the pair is issued to.
    #[arg(long, value_name = "ID")]
    client_id: String,
    /// Access token lifetime in seconds (default: the configuration's, else 30 days).
    #[arg(long, value_name = "SECS")]
    access_lifetime: Option<u64>,
    /// Refresh token lifetime in seconds (default: the configuration's, else 365 days).
    #[arg(long, value_name = "SECS")]
    refresh_lifetime: Option<u64>,
    #[command(flatten)]
    key: KeyArgs,
}

#[derive(Debug, Args)]
struct InspectArgs {
    /// The token (access or refresh), or `-` to read it from standard input, which
    /// keeps it out of the shell history and the process list.
    #[arg(value_name = "TOKEN")]
    token: String,
    #[command(flatten)]
    key: KeyArgs,
}

/// Where the key comes from: --key, else the configuration file, else the
/// CRYPTOGRAPHY_KEY environment variable (the library's own order).
#[derive(Debug, Args)]
struct KeyArgs {
    /// The cryptography key. Visible to other users in the process list: prefer
    /// CRYPTOGRAPHY_KEY or --config.
    #[arg(long, value_name = "KEY")]
    key: Option<String>,
    /// A fastauth.config.json to read the key (and token lifetimes) from.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
}

fn parse_name(name: &str) -> Result<String, String> {
    if env_file::is_valid_name(name) {
        Ok(name.to_owned())
    } else {
        Err("expected letters, digits and '_', not starting with a digit".to_owned())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Keygen(args) => keygen::run(args),
        Command::Token(TokenCommand::New(args)) => token::new(args),
        Command::Token(TokenCommand::Inspect(args)) => token::inspect(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("fastauth: {failure}");
            failure.exit_code()
        }
    }
}
