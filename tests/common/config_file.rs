//! Config files of a test's own, for `FastAuth::from_file`.

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
};

use fastauth::{FastAuth, FastAuthBuilder};

/// A config file in the temporary directory, under a name no other test (or process)
/// uses, removed when dropped.
pub struct ConfigFile(PathBuf);

impl ConfigFile {
    pub fn new(json: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "fastauth-test-{}-{}.json",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, json).unwrap();
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `FastAuth::from_file` on this file. The environment is not ignored: add
    /// `ignore_environment()` unless the test is about it.
    pub fn builder(&self) -> FastAuthBuilder {
        FastAuth::from_file(&self.0).unwrap()
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
