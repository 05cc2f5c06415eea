//! Running the backend: `/health`, `/metrics` and the background cleanup; and the
//! one-off `import-python` command.

pub mod cleanup;
pub mod health;
pub mod import_python;
pub mod metrics;
