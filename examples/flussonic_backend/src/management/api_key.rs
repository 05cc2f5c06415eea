//! The management key: configured, or generated once and kept in a file only its owner
//! can read. Management is never served without a key.

use std::{
    fs,
    io::{self, Write},
    path::{Path, PathBuf},
};

use crate::hex::hex;

/// Where the effective key came from (never the key itself, so this can be logged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `API_KEY`.
    Configured,
    /// Read from the key file of an earlier start.
    File(PathBuf),
    /// Generated now and written to this file.
    Generated(PathBuf),
}

/// The configured key, else the key file's, else a new key written to the key file.
pub fn resolve(configured: Option<&str>, file: &Path) -> Result<(String, KeySource), String> {
    if let Some(key) = configured {
        return Ok((key.to_owned(), KeySource::Configured));
    }
    match fs::read_to_string(file) {
        Ok(text) => {
            let key = text.trim();
            if key.is_empty() {
                return Err(format!(
                    "the API key file {} is empty: delete it to have a key generated, or set API_KEY",
                    file.display()
                ));
            }
            warn_if_readable_by_others(file);
            return Ok((key.to_owned(), KeySource::File(file.to_owned())));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read the API key file {}: {e}", file.display())),
    }
    let key = generate();
    write_private(file, &key)
        .map_err(|e| format!("cannot write the API key file {}: {e}", file.display()))?;
    Ok((key, KeySource::Generated(file.to_owned())))
}

/// 32 random bytes, hex: 256 bits from the thread-local CSPRNG (seeded by the OS).
pub fn generate() -> String {
    let bytes: [u8; 32] = rand::random();
    hex(&bytes)
}

fn write_private(path: &Path, key: &str) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let mut options = fs::OpenOptions::new();
    // create_new: two instances starting at once cannot overwrite each other's key.
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(key.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                file = %path.display(),
                "the API key file is readable by other users; chmod 600 it"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}
