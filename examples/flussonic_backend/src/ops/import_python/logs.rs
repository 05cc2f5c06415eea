//! Copying the Python backend's access log, after its tokens and apart from them: in
//! chunks of [`CHUNK`] rows, each committed with a mark of how far the copy got (in the
//! log database's `imported_access_logs`), so that a copy interrupted resumes after its
//! last chunk and a second run copies only rows added since. Rows keep their time and
//! fields and get ids of this log; a row that cannot be read is left out and reported.

use rusqlite::{Connection, types::Value};
use time::UtcOffset;

use super::source::{PythonLogRow, Source};
use crate::{
    clock,
    db::logs::{self, Entry},
};

/// Rows per transaction.
pub const CHUNK: i64 = 5000;
/// Rows left out that the report names.
const NAMED: usize = 20;

/// What the copy of the access log did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogReport {
    /// Rows copied by this run.
    pub imported: u64,
    /// Rows copied by earlier runs (the mark found at the start).
    pub earlier: i64,
    /// Rows this run left out: how many, and the first few ids with the reason.
    pub left_out: u64,
    /// The first rows left out.
    pub left_out_rows: Vec<(i64, String)>,
    /// Rows copied without a reason (the Python backend wrote none): kept as "".
    pub without_reason: u64,
}

/// Copies the rows of `source`'s access log not copied yet into the log database.
pub fn import(source: &Source, log: &Connection, local_offset: UtcOffset) -> Result<LogReport, String> {
    let mut report = LogReport::default();
    let Some(identity) = source.log_identity()? else {
        return Ok(report);
    };
    let db_error = |e: rusqlite::Error| format!("writing the access log: {e}");
    logs::create_import_marks(log).map_err(db_error)?;
    let (mut last_id, earlier) = logs::import_mark(log, &identity)
        .map_err(db_error)?
        .unwrap_or((0, 0));
    report.earlier = earlier;
    loop {
        let rows = source.log_rows(last_id, CHUNK)?;
        let Some(last) = rows.last().map(|r| r.id) else {
            break;
        };
        let chunk = write_chunk(log, &rows, &identity, last, local_offset, &mut report).map_err(db_error);
        if chunk.is_err() && !log.is_autocommit() {
            let _ = log.execute_batch("ROLLBACK");
        }
        chunk?;
        last_id = last;
        if (rows.len() as i64) < CHUNK {
            break;
        }
    }
    Ok(report)
}

/// One transaction: the chunk's rows and the mark past them.
fn write_chunk(
    log: &Connection,
    rows: &[PythonLogRow],
    identity: &str,
    last: i64,
    local_offset: UtcOffset,
    report: &mut LogReport,
) -> rusqlite::Result<()> {
    log.execute_batch("BEGIN IMMEDIATE")?;
    let mut written: i64 = 0;
    for row in rows {
        match entry(row, local_offset) {
            Ok(converted) => {
                if converted.reason.is_none() {
                    report.without_reason = report.without_reason.saturating_add(1);
                }
                logs::insert(
                    log,
                    &Entry {
                        timestamp: &converted.timestamp,
                        token: converted.token.as_deref(),
                        user_id: converted.user_id.as_deref(),
                        stream_name: converted.stream_name.as_deref(),
                        client_ip: converted.client_ip.as_deref(),
                        protocol: converted.protocol.as_deref(),
                        result: converted.result,
                        reason: converted.reason.as_deref().unwrap_or(""),
                        session_id: None,
                    },
                )?;
                written = written.saturating_add(1);
            }
            Err(why) => {
                report.left_out = report.left_out.saturating_add(1);
                if report.left_out_rows.len() < NAMED {
                    report.left_out_rows.push((row.id, why));
                }
            }
        }
    }
    logs::set_import_mark(log, identity, last, written, &clock::stamp(clock::now()))?;
    log.execute_batch("COMMIT")?;
    report.imported = report
        .imported
        .saturating_add(u64::try_from(written).unwrap_or(0));
    Ok(())
}

/// A row as this log keeps it.
struct Converted {
    timestamp: String,
    token: Option<String>,
    user_id: Option<String>,
    stream_name: Option<String>,
    client_ip: Option<String>,
    protocol: Option<String>,
    result: &'static str,
    reason: Option<String>,
}

fn entry(row: &PythonLogRow, local_offset: UtcOffset) -> Result<Converted, String> {
    let timestamp = match &row.timestamp {
        Value::Text(t) => {
            clock::parse_naive_at(t, local_offset).map_err(|m| format!("timestamp {t:?}: {m}"))?
        }
        _ => return Err("timestamp is not text".to_owned()),
    };
    let result = match &row.result {
        Value::Text(r) if r == "allowed" => "allowed",
        Value::Text(r) if r == "denied" => "denied",
        _ => return Err("result is neither allowed nor denied".to_owned()),
    };
    Ok(Converted {
        timestamp,
        token: optional_text("token", &row.token)?,
        user_id: optional_text("user_id", &row.user_id)?,
        stream_name: optional_text("stream_name", &row.stream_name)?,
        client_ip: optional_text("client_ip", &row.client_ip)?,
        protocol: optional_text("protocol", &row.protocol)?,
        result,
        reason: optional_text("reason", &row.reason)?,
    })
}

fn optional_text(column: &str, value: &Value) -> Result<Option<String>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Text(text) => Ok(Some(text.clone())),
        // A number in a text column: its digits.
        Value::Integer(n) => Ok(Some(n.to_string())),
        _ => Err(format!("{column} is not text")),
    }
}
