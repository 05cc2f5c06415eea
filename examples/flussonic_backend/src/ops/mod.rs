//! Running the backend: `/health`, `/metrics` and the background cleanup.

pub mod cleanup;
pub mod health;
pub mod metrics;
