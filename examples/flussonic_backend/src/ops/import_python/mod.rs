//! `flussonic_backend import-python`: the Python "Flussonic Auth Backend"'s database
//! copied into this backend's, so that its operators move over without typing their
//! tokens again (issue 18).
//!
//! * Tokens: every one, with all its fields (times included, naive ones read as UTC or at
//!   `--local-offset`), in one transaction: all of them or, on an error, none. The
//!   Python backend's id is kept where it is free here. A token string that is here
//!   already with the same values is skipped, so a second run changes nothing; with other
//!   values it is a conflict, left as it is unless `--overwrite`. A token whose meaning
//!   would change here is a conflict too, and never imported (see [`convert`]).
//! * Sessions are not copied: Flussonic's next checks open them again.
//! * The access log, with `--access-logs`: afterwards, apart, resumable (see [`logs`]).
//!
//! The Python backend's file is only read ([`source`]).

pub mod convert;
pub mod logs;
pub mod source;

use std::{fmt, path::Path};

use rusqlite::{Connection, TransactionBehavior};
use time::UtcOffset;

use self::{logs::LogReport, source::Source};
use crate::{
    config::{Config, ImportPython},
    db::{self, tokens},
};

/// What happened to one token that was not simply imported or skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// Not imported: why.
    Conflict {
        /// Its id in the Python database.
        python_id: String,
        /// Its user, when readable.
        user_id: Option<String>,
        /// Why.
        reasons: Vec<String>,
    },
    /// Imported under another id: the Python one belongs to another token here.
    NewId {
        /// Its id in the Python database.
        python_id: i64,
        /// Its id here.
        id: i64,
    },
    /// It was here with other values, replaced (`--overwrite`).
    Overwritten {
        /// Its id in the Python database.
        python_id: i64,
        /// Its id here.
        id: i64,
        /// The fields that changed.
        fields: Vec<&'static str>,
    },
}

/// The summary printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The Python backend's file.
    pub source: String,
    /// The database imported into.
    pub target: String,
    /// Tokens read.
    pub read: usize,
    /// Tokens imported (new here).
    pub imported: usize,
    /// Tokens already here with the same values.
    pub skipped: usize,
    /// Tokens replaced (`--overwrite`).
    pub overwritten: usize,
    /// Tokens not imported.
    pub conflicts: usize,
    /// Conflicts, new ids and replacements, in the Python database's order.
    pub notes: Vec<Note>,
    /// Sessions in the Python database (none copied); `None`: it has no sessions table.
    pub sessions: Option<i64>,
    /// The offset naive valid_from, valid_until and log times were read at.
    pub local_offset: UtcOffset,
    /// The copy of the access log, if asked for.
    pub access_log: Option<LogReport>,
}

impl Report {
    /// Whether something was left out: tokens in conflict, or access-log rows that could
    /// not be read (exit status 3).
    pub fn left_something_out(&self) -> bool {
        self.conflicts > 0 || self.access_log.as_ref().is_some_and(|log| log.left_out > 0)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "import-python: {} -> {}", self.source, self.target)?;
        let zone = if self.local_offset == UtcOffset::UTC {
            "UTC (--local-offset to change)".to_owned()
        } else {
            format!("UTC{}", self.local_offset)
        };
        writeln!(
            f,
            "naive valid_from, valid_until and access-log times read as {zone}; created_at and updated_at as UTC"
        )?;
        writeln!(
            f,
            "tokens: {} read: {} imported, {} skipped (here already, same values), {} overwritten, {} conflicts",
            self.read, self.imported, self.skipped, self.overwritten, self.conflicts
        )?;
        for note in &self.notes {
            match note {
                Note::Conflict {
                    python_id,
                    user_id,
                    reasons,
                } => {
                    let user = user_id
                        .as_ref()
                        .map(|u| format!(" (user {u:?})"))
                        .unwrap_or_default();
                    writeln!(
                        f,
                        "  conflict: token id {python_id}{user}: {}",
                        reasons.join("; ")
                    )?;
                }
                Note::NewId { python_id, id } => {
                    writeln!(
                        f,
                        "  new id: token id {python_id} is id {id} here (id {python_id} was taken)"
                    )?;
                }
                Note::Overwritten {
                    python_id,
                    id,
                    fields,
                } => writeln!(
                    f,
                    "  overwritten: token id {python_id} (id {id} here): {}",
                    fields.join(", ")
                )?,
            }
        }
        match self.sessions {
            Some(n) => writeln!(
                f,
                "sessions: {n} in the Python database, not imported (Flussonic's next checks open them again)"
            )?,
            None => writeln!(f, "sessions: none (no active_sessions table)")?,
        }
        match &self.access_log {
            None => writeln!(f, "access log: not imported (--access-logs imports it)")?,
            Some(log) => {
                writeln!(
                    f,
                    "access log: {} rows imported now, {} by earlier runs, {} left out (could not be read){}",
                    log.imported,
                    log.earlier,
                    log.left_out,
                    if log.without_reason > 0 {
                        format!("; {} had no reason, kept empty", log.without_reason)
                    } else {
                        String::new()
                    }
                )?;
                for (id, why) in &log.left_out_rows {
                    writeln!(f, "  left out: access-log row id {id}: {why}")?;
                }
                if log.left_out > log.left_out_rows.len() as u64 {
                    writeln!(
                        f,
                        "  and {} more",
                        log.left_out.saturating_sub(log.left_out_rows.len() as u64)
                    )?;
                }
            }
        }
        if self.conflicts > 0 {
            writeln!(
                f,
                "The tokens in conflict were left as they are. Repair them in the Python database and run the \
                 import again (what is here already is skipped), or create them through POST /api/tokens{}.",
                if self
                    .notes
                    .iter()
                    .any(|n| matches!(n, Note::Conflict { reasons, .. }
                    if reasons.iter().any(|r| r.starts_with("exists here"))))
                {
                    "; --overwrite replaces tokens that are here with other values"
                } else {
                    ""
                }
            )?;
        }
        Ok(())
    }
}

/// Runs the import described by `args` into the databases of `config`. `Err`: nothing
/// of the tokens was written (an access-log copy that failed keeps its committed chunks,
/// and resumes after them).
pub fn run(config: &Config, args: &ImportPython) -> Result<Report, String> {
    for (variable, target) in [
        ("DATABASE_URL", &config.database_path),
        ("ACCESS_LOG_DATABASE_URL", &config.log_database_path),
    ] {
        if same_file(&args.source, target) {
            return Err(format!(
                "{} is {variable} itself: point {variable} at the new database, and give the Python backend's \
                 file to import-python",
                args.source.display()
            ));
        }
    }
    let source = Source::open(&args.source)?;
    let rows = source.tokens()?;
    let sessions = source.count("active_sessions")?;
    let local_offset = args.local_offset.unwrap_or(UtcOffset::UTC);
    let (conn, log_conn) =
        db::open_connections(&config.database_path, &config.log_database_path).map_err(|e| e.to_string())?;
    let mut report = Report {
        source: source.path().display().to_string(),
        target: config.database_path.display().to_string(),
        read: rows.len(),
        imported: 0,
        skipped: 0,
        overwritten: 0,
        conflicts: 0,
        notes: Vec::new(),
        sessions,
        local_offset,
        access_log: None,
    };
    let tokens_done = import_tokens(&conn, &rows, args, &mut report);
    db::close_connection(conn);
    if let Err(e) = tokens_done {
        db::close_connection(log_conn);
        return Err(format!("importing the tokens: {e} (nothing was written)"));
    }
    if args.access_logs {
        let copied = logs::import(&source, &log_conn, local_offset);
        db::close_connection(log_conn);
        report.access_log = Some(copied.map_err(|e| {
            format!(
                "{} tokens imported; then the access log: {e} (the rows copied so far are kept, and the next \
                 run resumes after them)",
                report.imported
            )
        })?);
    } else {
        db::close_connection(log_conn);
    }
    Ok(report)
}

/// Every token of `rows` in one transaction.
fn import_tokens(
    conn: &Connection,
    rows: &[source::PythonToken],
    args: &ImportPython,
    report: &mut Report,
) -> rusqlite::Result<()> {
    let offset = args.local_offset.unwrap_or(UtcOffset::UTC);
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    for row in rows {
        let python_id = match &row.id {
            rusqlite::types::Value::Integer(id) => id.to_string(),
            other => format!("{other:?}"),
        };
        let token = match convert::token(row, offset) {
            Ok(token) => token,
            Err(reasons) => {
                let user_id = match &row.user_id {
                    rusqlite::types::Value::Text(u) => Some(u.clone()),
                    rusqlite::types::Value::Integer(n) => Some(n.to_string()),
                    _ => None,
                };
                report.conflicts = report.conflicts.saturating_add(1);
                report.notes.push(Note::Conflict {
                    python_id,
                    user_id,
                    reasons,
                });
                continue;
            }
        };
        let existing = match tokens::find(&tx, &token.token) {
            Ok(existing) => existing,
            Err(rusqlite::Error::FromSqlConversionFailure(..)) => {
                report.conflicts = report.conflicts.saturating_add(1);
                report.notes.push(Note::Conflict {
                    python_id,
                    user_id: Some(token.user_id),
                    reasons: vec![
                        "exists here, with a row that cannot be read (a rule or meta column edited by hand)"
                            .to_owned(),
                    ],
                });
                continue;
            }
            Err(e) => return Err(e),
        };
        match existing {
            None => {
                let id = tokens::insert_exact(&tx, &token, true)?;
                report.imported = report.imported.saturating_add(1);
                if id != token.id {
                    report.notes.push(Note::NewId {
                        python_id: token.id,
                        id,
                    });
                }
            }
            Some(here) => {
                let fields = differences(&here, &token);
                if fields.is_empty() {
                    report.skipped = report.skipped.saturating_add(1);
                } else if args.overwrite {
                    tokens::overwrite(&tx, here.id, &token)?;
                    report.overwritten = report.overwritten.saturating_add(1);
                    report.notes.push(Note::Overwritten {
                        python_id: token.id,
                        id: here.id,
                        fields,
                    });
                } else {
                    report.conflicts = report.conflicts.saturating_add(1);
                    report.notes.push(Note::Conflict {
                        python_id,
                        user_id: Some(token.user_id),
                        reasons: vec![format!(
                            "exists here (id {}) with other values: {}; left as it is",
                            here.id,
                            fields.join(", ")
                        )],
                    });
                }
            }
        }
    }
    tx.commit()
}

/// The fields (all but the id) in which `here` differs from `imported`.
fn differences(here: &tokens::Token, imported: &tokens::Token) -> Vec<&'static str> {
    let fields: [(&'static str, bool); 11] = [
        ("user_id", here.user_id == imported.user_id),
        ("status", here.status == imported.status),
        ("max_sessions", here.max_sessions == imported.max_sessions),
        ("valid_from", here.valid_from == imported.valid_from),
        ("valid_until", here.valid_until == imported.valid_until),
        ("allowed_ips", here.allowed_ips == imported.allowed_ips),
        (
            "allowed_streams",
            here.allowed_streams == imported.allowed_streams,
        ),
        ("meta", here.meta == imported.meta),
        ("created_at", here.created_at == imported.created_at),
        ("updated_at", here.updated_at == imported.updated_at),
        ("token", here.token == imported.token),
    ];
    fields
        .into_iter()
        .filter(|(_, same)| !same)
        .map(|(name, _)| name)
        .collect()
}

/// Whether `a` and `b` name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
