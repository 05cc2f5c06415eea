//! A Flussonic Media Server authorization backend on `fastauth`: token-based, with
//! per-user session limits, stored in SQLite, with a management API behind
//! `FastAuthLayer`. The operations manual is README.md beside `Cargo.toml`.
//!
//! This library is the backend's implementation, public so that its binary, its tests
//! and the fuzz target can reach it; it is not an API with stability promises.
//!
//! The modules, from the top of the import graph down; a file imports only from rows
//! below its own (`tests/layout.rs` reads the sources and fails on an import cycle):
//!
//! | module | what it holds |
//! |---|---|
//! | [`app`] | assembling the routes, the guard and the background cleanup; serving. Imported only by the binary and the tests |
//! | [`flussonic::handler`], [`management`]'s handlers, [`ops::health`], [`ops::metrics`], [`ops::cleanup`], [`ops::import_python`] | the endpoints, the background task, and the `import-python` command |
//! | [`state`] | what every handler shares: it imports no handler, so the handlers can import it |
//! | [`flussonic::decision`] (with [`flussonic::request`], [`flussonic::rules`]), [`ops::metrics::recorder`], [`management::api_key`] | the protocol's decision, what is counted, the management key |
//! | [`db`] | the SQLite files, their writer threads and queries; imports only itself and the leaves |
//! | [`config`], [`clock`], [`hex`] | leaves: import nothing of this crate |

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
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod app;
pub mod clock;
pub mod config;
pub mod db;
pub mod flussonic;
pub mod hex;
pub mod management;
pub mod ops;
pub mod state;
