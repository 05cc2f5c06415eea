//! The top-level members of a JSON object body in document order, a repeated name
//! included, so that the first value of a name can win as it does in a query string.
//! (`serde_json::Value` keeps only the last value of a repeated name.)
//!
//! The body is validated by `serde_json` first; the scan below then only splits valid
//! JSON at its top-level commas, and `serde_json` reads each name and value again.

use serde_json::Value;

/// Each member of the object `body` as its (unescaped) name and its value's JSON text.
pub fn members(body: &[u8]) -> Result<Vec<(String, &[u8])>, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(_)) => {}
        Ok(_) => return Err("the JSON body must be an object".to_owned()),
        Err(e) => return Err(format!("malformed JSON body: {e}")),
    }
    let mut members = Vec::new();
    let mut state = State::BeforeObject;
    for (at, &byte) in body.iter().enumerate() {
        state = match std::mem::replace(&mut state, State::AfterObject) {
            State::BeforeObject if is_space(byte) => State::BeforeObject,
            State::BeforeObject if byte == b'{' => State::BeforeName,
            State::BeforeName if is_space(byte) => State::BeforeName,
            State::BeforeName if byte == b'"' => State::Name(Text::at(at)),
            State::BeforeName if byte == b'}' => State::AfterObject,
            State::Name(mut text) => {
                if text.ends_at(byte) {
                    let name = body
                        .get(text.start..=at)
                        .and_then(|raw| serde_json::from_slice::<String>(raw).ok())
                        .ok_or_else(unexpected)?;
                    State::AfterName(name)
                } else {
                    State::Name(text)
                }
            }
            State::AfterName(name) if is_space(byte) => State::AfterName(name),
            State::AfterName(name) if byte == b':' => State::BeforeValue(name),
            State::BeforeValue(name) if is_space(byte) => State::BeforeValue(name),
            State::BeforeValue(name) => value_byte(body, &mut members, name, Span::at(at), at, byte)?,
            State::Value(name, span) => value_byte(body, &mut members, name, span, at, byte)?,
            State::AfterObject if is_space(byte) => State::AfterObject,
            _ => return Err(unexpected()),
        };
    }
    match state {
        State::AfterObject => Ok(members),
        _ => Err(unexpected()),
    }
}

/// Where the scan is.
enum State {
    BeforeObject,
    BeforeName,
    Name(Text),
    AfterName(String),
    BeforeValue(String),
    Value(String, Span),
    AfterObject,
}

/// A string being scanned: where it starts (its opening quote), and whether the
/// previous byte was an escaping backslash.
struct Text {
    start: usize,
    escaped: bool,
}

impl Text {
    fn at(start: usize) -> Self {
        Self {
            start,
            escaped: false,
        }
    }

    /// Takes the next byte; whether it is the closing quote.
    fn ends_at(&mut self, byte: u8) -> bool {
        if self.escaped {
            self.escaped = false;
            return false;
        }
        match byte {
            b'\\' => self.escaped = true,
            b'"' => return true,
            _ => {}
        }
        false
    }
}

/// A value being scanned: where it starts, how deep inside it the scan is, and the
/// string the scan is in, if any.
struct Span {
    start: usize,
    depth: usize,
    string: Option<Text>,
}

impl Span {
    fn at(start: usize) -> Self {
        Self {
            start,
            depth: 0,
            string: None,
        }
    }
}

/// One byte of a value: the value goes on, or ends at a top-level `,` (another member
/// follows) or `}` (the object ends), when it is kept.
fn value_byte<'b>(
    body: &'b [u8],
    members: &mut Vec<(String, &'b [u8])>,
    name: String,
    mut span: Span,
    at: usize,
    byte: u8,
) -> Result<State, String> {
    if let Some(text) = &mut span.string {
        if text.ends_at(byte) {
            span.string = None;
        }
        return Ok(State::Value(name, span));
    }
    match byte {
        b'"' => span.string = Some(Text::at(at)),
        b'{' | b'[' => span.depth = span.depth.saturating_add(1),
        b'}' | b']' if span.depth > 0 => span.depth = span.depth.saturating_sub(1),
        b',' | b'}' if span.depth == 0 => {
            let value = body.get(span.start..at).ok_or_else(unexpected)?;
            members.push((name, value));
            return Ok(if byte == b',' {
                State::BeforeName
            } else {
                State::AfterObject
            });
        }
        _ => {}
    }
    Ok(State::Value(name, span))
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

/// Valid JSON (checked before the scan) never gets here.
fn unexpected() -> String {
    "malformed JSON body".to_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail by panicking")]
mod tests {
    use super::*;

    fn names_and_values(body: &str) -> Vec<(String, String)> {
        members(body.as_bytes())
            .unwrap()
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8(value.to_vec()).unwrap()))
            .collect()
    }

    #[test]
    fn every_member_in_document_order() {
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert_eq!(
            names_and_values(r#" { "a" : 1 , "b":"x,}\"]" ,"a":{"c":[1,{"d":"}"}]},"e":null} "#),
            pairs(&[
                ("a", "1 "),
                ("b", r#""x,}\"]" "#),
                ("a", r#"{"c":[1,{"d":"}"}]}"#),
                ("e", "null"),
            ])
        );
        assert_eq!(
            names_and_values(r#"{"na\u006de":"x","n\"q":true}"#),
            pairs(&[("name", r#""x""#), ("n\"q", "true")])
        );
        assert_eq!(names_and_values("{}"), pairs(&[]));
        assert_eq!(names_and_values(r#"{"a":"\\"}"#), pairs(&[("a", r#""\\""#)]));
    }

    #[test]
    fn anything_else_is_refused() {
        for body in [
            "",
            "[1]",
            "\"x\"",
            "{",
            "{\"a\":1",
            "{\"a\":1}x",
            "{\"a\" 1}",
            "{\"a\":]}",
        ] {
            assert!(members(body.as_bytes()).is_err(), "{body:?}");
        }
    }
}
