//! The master-token corpus: near misses, encodings, other headers and other places for
//! the master token, each with the message it must get.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::common::{
    bodies::{INVALID_MASTER, MISSING_MASTER},
    jwt::b64,
    keys::MASTER,
};

/// Request headers as raw bytes (values need not be UTF-8), in order.
type Headers = Vec<(&'static str, Vec<u8>)>;

pub struct MasterCase {
    pub name: &'static str,
    pub headers: Headers,
    pub message: &'static str,
}

impl MasterCase {
    pub fn headers(&self) -> Vec<(&str, &[u8])> {
        self.headers.iter().map(|(k, v)| (*k, v.as_slice())).collect()
    }
}

/// Every case, for a server whose master token is `MASTER`; `access_token` is a valid
/// access token of that server.
pub fn master_cases(access_token: &str) -> Vec<MasterCase> {
    let mut non_utf8 = MASTER.as_bytes().to_vec();
    non_utf8.push(0xff);
    let table: Vec<(&str, Headers, &str)> = vec![
        ("no header", vec![], MISSING_MASTER),
        ("empty header", vec![("master-token", b"".into())], INVALID_MASTER),
        (
            "wrong token",
            vec![("master-token", b"guess".into())],
            INVALID_MASTER,
        ),
        (
            "upper case",
            vec![("master-token", MASTER.to_uppercase().into())],
            INVALID_MASTER,
        ),
        (
            "a prefix",
            vec![("master-token", MASTER.as_bytes()[..MASTER.len() - 1].into())],
            INVALID_MASTER,
        ),
        (
            "one character more",
            vec![("master-token", format!("{MASTER}x").into())],
            INVALID_MASTER,
        ),
        (
            "an escaped NUL after it",
            vec![("master-token", format!("{MASTER}\\0").into())],
            INVALID_MASTER,
        ),
        (
            "repeated past 1 KiB",
            vec![("master-token", MASTER.repeat(30).into())],
            INVALID_MASTER,
        ),
        (
            "64 KiB",
            vec![("master-token", "m".repeat(64 * 1024).into())],
            INVALID_MASTER,
        ),
        (
            "a non-UTF-8 byte after it",
            vec![("master-token", non_utf8)],
            INVALID_MASTER,
        ),
        (
            "percent-encoded",
            vec![(
                "master-token",
                utf8_percent_encode(MASTER, NON_ALPHANUMERIC).to_string().into(),
            )],
            INVALID_MASTER,
        ),
        (
            "base64-encoded",
            vec![("master-token", b64(MASTER).into())],
            INVALID_MASTER,
        ),
        (
            "an access token instead",
            vec![("master-token", access_token.into())],
            INVALID_MASTER,
        ),
        (
            "wrong, then right, in two headers",
            vec![("master-token", b"guess".into()), ("master-token", MASTER.into())],
            INVALID_MASTER,
        ),
        (
            "as a bearer token",
            vec![("authorization", format!("Bearer {MASTER}").into())],
            MISSING_MASTER,
        ),
        (
            "in ACCESS-TOKEN",
            vec![("access-token", MASTER.into())],
            MISSING_MASTER,
        ),
        (
            "in a cookie",
            vec![("cookie", format!("MASTER-TOKEN={MASTER}").into())],
            MISSING_MASTER,
        ),
        (
            "header spelt master_token",
            vec![("master_token", MASTER.into())],
            MISSING_MASTER,
        ),
    ];
    table
        .into_iter()
        .map(|(name, headers, message)| MasterCase {
            name,
            headers,
            message,
        })
        .collect()
}
