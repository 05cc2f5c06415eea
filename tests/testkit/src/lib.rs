//! What the workspace's tests and fuzz targets share beyond the fixtures of one test crate.
//!
//! - [`router`]: routes tagged with the level their author meant, hostile spellings of
//!   paths to them, and the hit log that is the router differential tests' oracle;
//! - [`reference`]: the path semantics written the plain way, for `level_for`;
//! - [`jwt`]: jsonwebtoken's decoding behind the documented header policy, for the token
//!   verifier;
//! - [`example`]: the example programs started as processes, as a user runs them;
//! - [`client`] (feature `client`): the HTTP requests those tests send;
//! - [`browser`]: headless Chromium, for the pages of the CORS example.

pub mod browser;
#[cfg(feature = "client")]
pub mod client;
pub mod example;
pub mod jwt;
pub mod reference;
pub mod router;
