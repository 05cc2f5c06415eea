//! A Python backend's token as this backend stores it, or why it cannot be: the rule
//! is that an imported token allows exactly what it allowed there, or is not imported.
//!
//! The Python backend compared `allowed_ips` and `allowed_streams` entries with the
//! viewer's address and the stream name as exact strings. Here `10.0.0.0/8` is a range
//! and `live/*` a prefix: such entries, which matched no viewer there, would allow many
//! here. An entry that cannot be stored (not an address, written otherwise than the
//! address it is) cannot simply be dropped either: a list left empty allows everything.
//! Columns the Python backend could not read (malformed JSON) meant "no rule" there,
//! silently; they are reported for the operator to repair rather than copied as "any".
//! Everything else the API would refuse (whitespace in a token, a token over 256 bytes,
//! an unknown status, a `max_sessions` below 1) is reported as well.

use rusqlite::types::Value;
use serde_json::Value as Json;
use time::UtcOffset;

use super::source::PythonToken;
use crate::{
    clock,
    db::tokens::{STATUSES, Token},
    flussonic::rules,
    management::{input, tokens as api},
};

/// The token as this backend stores it (its `id` the Python backend's), or every
/// reason it cannot be imported.
pub fn token(row: &PythonToken, local_offset: UtcOffset) -> Result<Token, Vec<String>> {
    let mut problems = Vec::new();
    let mut check = Problems(&mut problems);
    let id = check.keep(match row.id {
        Value::Integer(id) => Ok(id),
        _ => Err("id is not a whole number".to_owned()),
    });
    let token = check.keep(token_string(&row.token));
    let user_id = check.keep(user_id(&row.user_id));
    let status = check.keep(status(&row.status));
    let max_sessions = check.keep(max_sessions(&row.max_sessions));
    let valid_from = check.keep(instant("valid_from", &row.valid_from, local_offset));
    let valid_until = check.keep(instant("valid_until", &row.valid_until, local_offset));
    let allowed_ips = check.keep(rule_list("allowed_ips", &row.allowed_ips, ip_rule));
    let allowed_streams = check.keep(rule_list("allowed_streams", &row.allowed_streams, stream_rule));
    let meta = check.keep(meta(&row.meta));
    let created_at = check.keep(required_instant("created_at", &row.created_at));
    let updated_at = check.keep(required_instant("updated_at", &row.updated_at));
    if let (Some(Some(from)), Some(Some(until))) = (&valid_from, &valid_until)
        && until <= from
    {
        problems.push(format!(
            "valid_until ({until}) is not later than valid_from ({from}): such a token can never play, \
             and the API keeps none"
        ));
    }
    // Every column read, or the row is refused with what was wrong.
    let complete = (|| {
        Some(Token {
            id: id?,
            token: token?,
            user_id: user_id?,
            status: status?,
            max_sessions: max_sessions?,
            valid_from: valid_from?,
            valid_until: valid_until?,
            allowed_ips: allowed_ips?,
            allowed_streams: allowed_streams?,
            meta: meta?,
            created_at: created_at?,
            updated_at: updated_at?,
        })
    })();
    match complete {
        Some(token) if problems.is_empty() => Ok(token),
        _ => Err(problems),
    }
}

/// Collects the problems of a row's columns.
struct Problems<'a>(&'a mut Vec<String>);

impl Problems<'_> {
    /// The column's value, or `None` with its problem noted.
    fn keep<T>(&mut self, result: Result<T, String>) -> Option<T> {
        result.map_err(|problem| self.0.push(problem)).ok()
    }
}

/// The column's text; `None` for NULL.
fn text<'a>(column: &str, value: &'a Value) -> Result<Option<&'a str>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Text(text) => Ok(Some(text)),
        _ => Err(format!("{column} is not text")),
    }
}

fn token_string(value: &Value) -> Result<String, String> {
    let token = text("token", value)?.ok_or("token is empty")?;
    if token.chars().any(char::is_whitespace) {
        return Err("token contains whitespace, which /auth cannot receive as part of a token".to_owned());
    }
    input::check_text(token, api::MAX_TOKEN).map_err(|m| format!("token {m}"))?;
    Ok(token.to_owned())
}

fn user_id(value: &Value) -> Result<String, String> {
    let user_id = match value {
        // A number in a text column: its digits are the user id the backend saw.
        Value::Integer(n) => n.to_string(),
        other => text("user_id", other)?.ok_or("user_id is empty")?.to_owned(),
    };
    input::check_text(&user_id, api::MAX_TEXT).map_err(|m| format!("user_id {m}"))?;
    if user_id.trim() != user_id {
        return Err(format!(
            "user_id {user_id:?} has leading or trailing whitespace, which the API removes: its sessions \
             would count with another user's"
        ));
    }
    Ok(user_id)
}

fn status(value: &Value) -> Result<String, String> {
    let status = text("status", value)?.unwrap_or_default();
    if STATUSES.contains(&status) {
        Ok(status.to_owned())
    } else {
        // The Python backend refused only `suspended` and `expired`: any other word played.
        Err(format!(
            "status {status:?} is none of {}: the Python backend let such a token play",
            STATUSES.join(", ")
        ))
    }
}

fn max_sessions(value: &Value) -> Result<i64, String> {
    match value {
        Value::Integer(n) if (1..=api::MAX_SESSIONS).contains(n) => Ok(*n),
        Value::Integer(0) => Err(
            "max_sessions is 0: the Python backend refused a new session once the user's count reached \
             max_sessions, so no session ever opened; here 0 means no limit"
                .to_owned(),
        ),
        Value::Integer(n) if *n < 0 => Err(format!("max_sessions is negative ({n})")),
        Value::Integer(n) => Err(format!(
            "max_sessions {n} is above {}, the most the API accepts",
            api::MAX_SESSIONS
        )),
        _ => Err("max_sessions is not a whole number".to_owned()),
    }
}

/// A naive timestamp written by the Python server's clock, at `offset`; NULL: none.
fn instant(column: &str, value: &Value, offset: UtcOffset) -> Result<Option<String>, String> {
    text(column, value)?
        .map(|t| clock::parse_naive_at(t, offset).map_err(|m| format!("{column} {t:?}: {m}")))
        .transpose()
}

/// A naive timestamp written by SQLite's clock (UTC), which must be there.
fn required_instant(column: &str, value: &Value) -> Result<String, String> {
    instant(column, value, UtcOffset::UTC)?.ok_or_else(|| format!("{column} is empty"))
}

/// A JSON column of the Python backend; `None` for NULL, an empty text or JSON `null`
/// (all "nothing" there).
fn json(column: &str, value: &Value, read_as: &str) -> Result<Option<Json>, String> {
    let Some(text) = text(column, value)?.filter(|t| !t.trim().is_empty()) else {
        return Ok(None);
    };
    match serde_json::from_str::<Json>(text) {
        Ok(Json::Null) => Ok(None),
        Ok(json) => Ok(Some(json)),
        Err(e) => Err(format!(
            "{column} is not valid JSON ({e}): the Python backend read it as {read_as}; repair or clear the \
             column and import again"
        )),
    }
}

/// A rule list: each entry must mean here what it meant there.
fn rule_list(
    column: &str,
    value: &Value,
    rule: fn(&str) -> Result<(), String>,
) -> Result<Vec<String>, String> {
    let read_as = "no rule, allowing any";
    let Some(json) = json(column, value, read_as)? else {
        return Ok(Vec::new());
    };
    let Json::Array(entries) = json else {
        return Err(format!("{column} is not a JSON list"));
    };
    if entries.len() > api::MAX_RULES {
        return Err(format!(
            "{column} has {} entries, more than the {} the API accepts",
            entries.len(),
            api::MAX_RULES
        ));
    }
    let mut rules: Vec<String> = Vec::with_capacity(entries.len());
    let mut problems = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let Json::String(entry) = entry else {
            problems.push(format!("{column}[{i}] is not a string"));
            continue;
        };
        match rule(entry) {
            Ok(()) if rules.contains(entry) => {}
            Ok(()) => rules.push(entry.clone()),
            Err(m) => problems.push(format!("{column}[{i}] {entry:?} {m}")),
        }
    }
    if problems.is_empty() {
        Ok(rules)
    } else {
        Err(problems.join("; "))
    }
}

fn ip_rule(entry: &str) -> Result<(), String> {
    if entry.contains('/') {
        return Err(
            "would be a range here, where the Python backend compared it as an exact string".to_owned(),
        );
    }
    match rules::normalise_ip_rule(entry) {
        Ok(stored) if stored == entry => Ok(()),
        Ok(stored) => Err(format!(
            "is written otherwise than the address it is here ({stored:?}), where the Python backend compared \
             the text"
        )),
        Err(_) => Err(
            "is not an IP address (it matched no viewer there; here it cannot be kept, and dropping it could \
             leave the list empty, allowing every address)"
                .to_owned(),
        ),
    }
}

fn stream_rule(entry: &str) -> Result<(), String> {
    if entry.contains('*') {
        return Err(
            "would be a pattern here, where the Python backend compared it as an exact string".to_owned(),
        );
    }
    match rules::normalise_stream_rule(entry) {
        Ok(stored) if stored == entry => Ok(()),
        Ok(_) => Err("has leading or trailing whitespace, which the API removes".to_owned()),
        Err(m) => Err(format!("cannot be kept: {m}")),
    }
}

fn meta(value: &Value) -> Result<Option<Json>, String> {
    json("meta", value, "{}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail by panicking")]
mod tests {
    use super::*;

    fn row() -> PythonToken {
        let text = |s: &str| Value::Text(s.to_owned());
        PythonToken {
            id: Value::Integer(1),
            token: text("py-secure-123"),
            user_id: text("user-001"),
            status: text("active"),
            max_sessions: Value::Integer(2),
            valid_from: text("2026-11-28 12:12:13.911504"),
            valid_until: text("2026-12-29 12:12:13.911504"),
            allowed_ips: text("[\"192.168.1.100\", \"192.168.1.101\"]"),
            allowed_streams: text("[\"stream1\", \"stream2\"]"),
            meta: text("{\"region\": \"us-east\"}"),
            created_at: text("2026-11-29 12:12:13"),
            updated_at: text("2026-11-29 12:12:13"),
        }
    }

    fn problems(change: impl FnOnce(&mut PythonToken)) -> String {
        let mut row = row();
        change(&mut row);
        token(&row, UtcOffset::UTC).unwrap_err().join(" | ")
    }

    #[test]
    fn the_spec_example_row_is_copied_field_for_field() {
        let token = token(&row(), UtcOffset::from_hms(3, 0, 0).unwrap()).unwrap();
        assert_eq!(token.id, 1);
        assert_eq!(token.valid_from.as_deref(), Some("2026-11-28T09:12:13.911504Z"));
        assert_eq!(token.valid_until.as_deref(), Some("2026-12-29T09:12:13.911504Z"));
        // SQLite's CURRENT_TIMESTAMP is UTC whatever the offset of the Python server.
        assert_eq!(token.created_at, "2026-11-29T12:12:13.000000Z");
        assert_eq!(token.allowed_ips, ["192.168.1.100", "192.168.1.101"]);
        assert_eq!(token.meta, Some(serde_json::json!({"region": "us-east"})));
    }

    #[test]
    fn entries_whose_meaning_would_widen_are_refused() {
        let ips = |list: &str| problems(|r| r.allowed_ips = Value::Text(list.to_owned()));
        assert!(ips("[\"10.0.0.0/8\"]").contains("would be a range"));
        assert!(ips("[\"10.0.0.1/32\"]").contains("would be a range"));
        assert!(ips("[\"10.0.0.1\", \"localhost\"]").contains("not an IP address"));
        assert!(ips("[\"::ffff:10.0.0.1\"]").contains("written otherwise"));
        assert!(ips("[\" 10.0.0.1\"]").contains("written otherwise"));
        assert!(ips("[\"2001:DB8::1\"]").contains("written otherwise"));
        assert!(ips("[1]").contains("allowed_ips[0] is not a string"));
        assert!(ips("\"10.0.0.1\"").contains("not a JSON list"));
        assert!(ips("[\"10.0.0.1\"").contains("not valid JSON"));
        let streams = |list: &str| problems(|r| r.allowed_streams = Value::Text(list.to_owned()));
        assert!(streams("[\"live/*\"]").contains("would be a pattern"));
        assert!(streams("[\"live/a \"]").contains("whitespace"));
        assert!(streams("[\"\"]").contains("cannot be kept"));
        assert!(problems(|r| r.max_sessions = Value::Integer(0)).contains("0 means no limit"));
        assert!(problems(|r| r.max_sessions = Value::Integer(-1)).contains("negative"));
        assert!(
            problems(|r| r.status = Value::Text("Suspended".to_owned())).contains("let such a token play")
        );
        assert!(problems(|r| r.token = Value::Text("a b".to_owned())).contains("whitespace"));
        assert!(problems(|r| r.token = Value::Text("x".repeat(257))).contains("at most 256 bytes"));
        // Every problem of a row is reported, not only the first.
        let all = problems(|r| {
            r.max_sessions = Value::Integer(-1);
            r.meta = Value::Text("{".to_owned());
            r.valid_until = Value::Text("2020-01-01 00:00:00".to_owned());
        });
        assert!(
            all.contains("negative") && all.contains("meta is not valid JSON") && all.contains("not later"),
            "{all}"
        );
    }

    #[test]
    fn nothing_is_nothing_and_a_valid_address_or_name_is_kept() {
        let mut row = row();
        row.allowed_ips = Value::Null;
        row.allowed_streams = Value::Text(String::new());
        row.meta = Value::Text("null".to_owned());
        row.valid_until = Value::Null;
        row.user_id = Value::Text("пользователь-1".to_owned());
        let empty = token(&row, UtcOffset::UTC).unwrap();
        assert!(empty.allowed_ips.is_empty() && empty.allowed_streams.is_empty());
        assert_eq!((empty.meta, empty.valid_until), (None, None));
        assert_eq!(empty.user_id, "пользователь-1");
        let mut row = self::row();
        row.allowed_ips = Value::Text("[\"2001:db8::1\", \"10.0.0.1\", \"10.0.0.1\"]".to_owned());
        row.allowed_streams = Value::Text("[]".to_owned());
        let kept = token(&row, UtcOffset::UTC).unwrap();
        assert_eq!(kept.allowed_ips, ["2001:db8::1", "10.0.0.1"]);
    }
}
