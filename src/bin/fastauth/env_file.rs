//! Setting one variable in a `.env` file without disturbing anything else in it.
//!
//! Every other byte of the file is kept: comments, blank lines, CRLF line ends, a last
//! line without a newline. A new assignment is appended on a line of its own, ending in
//! a newline. An existing non-empty value is replaced only when asked to, in place, on
//! every line that assigns the variable (with or without `export `).

use std::{
    fs,
    io::{self, Write},
    path::Path,
};

/// What [`set`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The file did not exist; it was created holding the one assignment.
    Created,
    /// The assignment was appended.
    Appended,
    /// Empty assignments (`NAME=`, `NAME=""`) were given the value.
    Filled,
    /// An existing value was replaced (`force`).
    Replaced,
}

/// Why [`set`] did nothing.
#[derive(Debug)]
pub enum EnvFileError {
    /// The variable already has a non-empty value and `force` was not given.
    Exists,
    /// The file could not be read or written.
    Io(io::Error),
}

impl From<io::Error> for EnvFileError {
    fn from(e: io::Error) -> Self {
        EnvFileError::Io(e)
    }
}

/// Whether `name` can be a variable name in a `.env` file and a shell.
pub fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Sets `name=value` in the file at `path`, creating it (readable by its owner only)
/// when it does not exist.
pub fn set(path: &Path, name: &str, value: &str, force: bool) -> Result<Outcome, EnvFileError> {
    let contents = match fs::read(path) {
        Ok(contents) => contents,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut line = Vec::new();
            push_assignment(&mut line, name, value, b"\n");
            create_private(path, &line)?;
            return Ok(Outcome::Created);
        }
        Err(e) => return Err(e.into()),
    };
    let (edited, outcome) = edit(&contents, name, value, force)?;
    replace_file(path, &edited)?;
    Ok(outcome)
}

/// The pure part of [`set`]: the new contents of an existing file.
pub fn edit(
    contents: &[u8],
    name: &str,
    value: &str,
    force: bool,
) -> Result<(Vec<u8>, Outcome), EnvFileError> {
    let lines: Vec<&[u8]> = contents.split_inclusive(|&b| b == b'\n').collect();
    let assignments: Vec<(usize, Assignment)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, line)| parse_assignment(line, name).map(|a| (i, a)))
        .collect();

    if assignments.is_empty() {
        // CRLF only for a file that uses it throughout; a stray one does not count.
        let crlf =
            contents.contains(&b'\n') && lines.iter().all(|l| !l.ends_with(b"\n") || l.ends_with(b"\r\n"));
        let newline: &[u8] = if crlf { b"\r\n" } else { b"\n" };
        let mut out = contents.to_vec();
        if !out.is_empty() && !out.ends_with(b"\n") {
            out.extend_from_slice(newline);
        }
        push_assignment(&mut out, name, value, newline);
        return Ok((out, Outcome::Appended));
    }

    let has_value = assignments.iter().any(|(_, a)| !a.value_is_empty);
    if has_value && !force {
        return Err(EnvFileError::Exists);
    }
    let mut out = Vec::with_capacity(contents.len() + value.len());
    let mut next = assignments.iter().peekable();
    for (i, line) in lines.iter().enumerate() {
        match next.next_if(|(at, _)| *at == i) {
            Some((_, a)) => {
                out.extend_from_slice(&line[..a.value_start]);
                out.extend_from_slice(value.as_bytes());
                out.extend_from_slice(&line[a.value_end..]);
            }
            None => out.extend_from_slice(line),
        }
    }
    Ok((
        out,
        if has_value {
            Outcome::Replaced
        } else {
            Outcome::Filled
        },
    ))
}

/// One line that assigns the variable: where its value starts and ends (before the
/// line end).
struct Assignment {
    value_start: usize,
    value_end: usize,
    value_is_empty: bool,
}

/// `[blanks][export<blanks>]NAME[blanks]=value[\r]\n`, as dotenv readers accept it.
fn parse_assignment(line: &[u8], name: &str) -> Option<Assignment> {
    let is_blank = |b: &u8| *b == b' ' || *b == b'\t';
    let mut at = line.iter().take_while(|b| is_blank(b)).count();
    if let Some(rest) = line[at..].strip_prefix(b"export") {
        let blanks = rest.iter().take_while(|b| is_blank(b)).count();
        if blanks > 0 {
            at += "export".len() + blanks;
        }
    }
    at += line[at..].strip_prefix(name.as_bytes()).map(|_| name.len())?;
    at += line[at..].iter().take_while(|b| is_blank(b)).count();
    if line.get(at) != Some(&b'=') {
        return None;
    }
    // Blanks after `=` are layout, kept as they are.
    let value_start = at + 1 + line[at + 1..].iter().take_while(|b| is_blank(b)).count();
    let mut value_end = line.len();
    for end in [b'\n', b'\r'] {
        if value_end > value_start && line[value_end - 1] == end {
            value_end -= 1;
        }
    }
    let value = line[value_start..value_end].trim_ascii();
    Some(Assignment {
        value_start,
        value_end,
        value_is_empty: matches!(value, b"" | b"\"\"" | b"''"),
    })
}

fn push_assignment(out: &mut Vec<u8>, name: &str, value: &str, newline: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.push(b'=');
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(newline);
}

fn create_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Writes a sibling file and renames it over the original, so that a crash leaves the
/// old file or the new one, never half of each. The file keeps its permissions, and a
/// symbolic link keeps pointing at the file it pointed at.
fn replace_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    let target = fs::canonicalize(path)?;
    let permissions = fs::metadata(&target)?.permissions();
    let file_name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = target.with_file_name(format!(
        ".{file_name}.fastauth-{}-{:016x}.tmp",
        std::process::id(),
        rand::random::<u64>()
    ));
    let written = (|| {
        let mut file = fs::OpenOptions::new().write(true).create_new(true).open(&temp)?;
        file.set_permissions(permissions)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&temp, &target)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edited(contents: &str, force: bool) -> Result<(String, Outcome), EnvFileError> {
        edit(contents.as_bytes(), "KEY", "new", force).map(|(b, o)| (String::from_utf8(b).unwrap(), o))
    }

    #[test]
    fn appends_on_a_line_of_its_own() {
        assert_eq!(
            edited("", false).unwrap(),
            ("KEY=new\n".into(), Outcome::Appended)
        );
        assert_eq!(
            edited("# c\nA=1", false).unwrap(),
            ("# c\nA=1\nKEY=new\n".into(), Outcome::Appended)
        );
        assert_eq!(
            edited("A=1\r\nB=2", false).unwrap(),
            ("A=1\r\nB=2\r\nKEY=new\r\n".into(), Outcome::Appended)
        );
        assert_eq!(
            edited("A=1\r\nB=2\nC=3", false).unwrap(),
            ("A=1\r\nB=2\nC=3\nKEY=new\n".into(), Outcome::Appended)
        );
        // Not assignments of KEY: a comment, a longer name, a prefix of the name.
        let others = "# KEY=old\nKEYS=1\nMY_KEY=2\nKE=3\n";
        assert_eq!(
            edited(others, false).unwrap(),
            (format!("{others}KEY=new\n"), Outcome::Appended)
        );
    }

    #[test]
    fn refuses_to_replace_a_value_without_force() {
        for contents in [
            "KEY=old\n",
            "A=1\n  export KEY = old",
            "KEY='x'\n",
            "KEY=\nKEY=old\n",
        ] {
            assert!(
                matches!(edited(contents, false), Err(EnvFileError::Exists)),
                "{contents:?}"
            );
        }
    }

    #[test]
    fn replaces_in_place_with_force() {
        assert_eq!(
            edited("# head\nKEY=old\nB=2", true).unwrap(),
            ("# head\nKEY=new\nB=2".into(), Outcome::Replaced)
        );
        assert_eq!(
            edited("export KEY = old\r\nKEY=older", true).unwrap(),
            ("export KEY = new\r\nKEY=new".into(), Outcome::Replaced)
        );
    }

    #[test]
    fn fills_empty_assignments_without_force() {
        assert_eq!(
            edited("A=1\nKEY=\nB=2\n", false).unwrap(),
            ("A=1\nKEY=new\nB=2\n".into(), Outcome::Filled)
        );
        assert_eq!(
            edited("KEY=\"\"", false).unwrap(),
            ("KEY=new".into(), Outcome::Filled)
        );
    }

    #[test]
    fn names() {
        assert!(is_valid_name("CRYPTOGRAPHY_KEY"));
        assert!(is_valid_name("_k1"));
        for bad in ["", "1A", "A-B", "A B", "A=B", "Ä"] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }
}
