//! Fixtures shared by the integration tests, one concern a file:
//!
//! - [`keys`]: the keys and master token the tests configure;
//! - [`auth`]: `FastAuth` builders with those keys and no environment fallbacks;
//! - [`config_file`]: config files of a test's own, for `FastAuth::from_file`;
//! - [`jwt`]: HS256 tokens made by hand, byte for byte, as an attacker would;
//! - [`bodies`]: fastauth's refusal messages and the exact bodies that carry them;
//! - [`server`]: axum servers on 127.0.0.1 and a counter of what reaches the handlers;
//! - [`grpc`] (feature `tonic`): a tonic health service behind the layer, and an HTTP/2
//!   client that sends a gRPC call with any method and path;
//! - [`client`]: reqwest requests whose answers are read as JSON, and a pair issued over
//!   HTTP;
//! - [`raw_http`]: an HTTP/1.1 client that sends a request target exactly as written;
//! - [`stores`]: a token store that is down, and stored pairs;
//! - [`proptest_config`]: case counts for the property tests.
//!
//! Each test crate declares `mod common;` and uses what it needs, hence the allowance.
#![allow(dead_code)]

pub mod auth;
pub mod bodies;
pub mod client;
pub mod config_file;
#[cfg(feature = "tonic")]
pub mod grpc;
pub mod jwt;
pub mod keys;
pub mod proptest_config;
pub mod raw_http;
pub mod server;
pub mod stores;
