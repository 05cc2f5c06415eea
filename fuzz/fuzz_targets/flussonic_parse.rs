//! The Flussonic backend's `/auth` request reader (`flussonic_backend::flussonic::request`):
//! query string, JSON body or form body, any method, headers and size limit. It never panics and
//! never waits; every value it keeps is trimmed and non-empty, and no longer than its
//! field's limit unless cut there, marked, and the request is a problem; a `GET` body is
//! ignored; an oversized body is a problem, not a parse; the query string only fills
//! in what the body did not set (a `token` of its own does beat one the body only had
//! inside `qs`); and in a query the first value of a name wins.
//!
//! Input, one item a line (readable, so seeds and crashes are easy to write and read);
//! everything after the sixth line is the body, byte for byte:
//!
//! ```text
//! METHOD          GET, POST, PUT, … (an invalid method is GET)
//! CONTENT-TYPE    the header's value; empty: no header
//! CONTENT-LENGTH  the header's value, `*` for the body's real length; empty: no header
//! LIMIT           the body size limit in bytes; empty: 4096
//! QUERY           `?` and the query string; anything else: no query string
//! SECOND QUERY    appended to the query with `&`, for the first-value-wins check
//! BODY…
//! ```
#![no_main]

use std::{
    future::Future,
    pin::pin,
    task::{Context, Poll, Waker},
};

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, Method, header},
};
use flussonic_backend::flussonic::request::{
    self, AuthRequest,
    fields::{CUT_MARKER, Field},
};
use libfuzzer_sys::fuzz_target;

/// `read` awaits nothing but an in-memory body, so one poll must finish it.
fn run<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("request::read waited on an in-memory body"),
    }
}

fn read(method: &Method, headers: &HeaderMap, query: Option<&str>, body: &[u8], limit: usize) -> AuthRequest {
    run(request::read(
        method,
        headers,
        query,
        Body::from(body.to_vec()),
        limit,
    ))
}

fn fields(r: &AuthRequest) -> [(&'static str, &Option<String>); 7] {
    [
        ("token", &r.token),
        ("name", &r.name),
        ("ip", &r.ip),
        ("proto", &r.proto),
        ("session_id", &r.session_id),
        ("request_type", &r.request_type),
        ("qs", &r.qs),
    ]
}

fn header(bytes: &[u8]) -> Option<HeaderValue> {
    if bytes.is_empty() {
        None
    } else {
        HeaderValue::from_bytes(bytes).ok()
    }
}

fuzz_target!(|data: &[u8]| {
    let mut lines = data.splitn(7, |b| *b == b'\n');
    let mut line = || lines.next().unwrap_or(b"");
    let method = Method::from_bytes(line()).unwrap_or(Method::GET);
    let content_type = header(line());
    let content_length = line();
    let limit = std::str::from_utf8(line())
        .ok()
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(4096)
        .min(1 << 20);
    let query_line = String::from_utf8_lossy(line()).into_owned();
    let second_query = String::from_utf8_lossy(line()).into_owned();
    let body = line();

    let mut headers = HeaderMap::new();
    if let Some(value) = content_type {
        headers.insert(header::CONTENT_TYPE, value);
    }
    let content_length = if content_length == b"*" {
        Some(HeaderValue::from(body.len()))
    } else {
        header(content_length)
    };
    if let Some(value) = content_length {
        headers.insert(header::CONTENT_LENGTH, value);
    }
    let query = query_line.strip_prefix('?');
    let has_body = method == Method::POST || method == Method::PUT;

    let full = read(&method, &headers, query, body, limit);
    for (name, value) in fields(&full) {
        if let Some(value) = value {
            assert!(!value.is_empty(), "{name} kept empty");
            assert_eq!(value.trim(), value, "{name} kept untrimmed");
            let field = Field::from_name(name).expect("a field of the request");
            if value.len() > field.limit() {
                assert!(
                    value.ends_with(CUT_MARKER),
                    "{name} kept over its limit, unmarked"
                );
                assert!(
                    value.len() <= field.limit() + CUT_MARKER.len(),
                    "{name} kept over its limit"
                );
                assert!(full.problem.is_some(), "{name} over its limit is no problem");
            }
        }
    }
    assert_eq!(
        full,
        read(&method, &headers, query, body, limit),
        "not deterministic"
    );

    if has_body {
        if body.len() > limit {
            assert!(full.problem.is_some(), "a body over the limit was read: {full:?}");
        }
        // The query only fills in: what the body set stays. One exception by design: a
        // token the body only had inside `qs` (the viewer's query string, a fallback)
        // gives way to a `token` Flussonic put in the query string itself.
        let body_only = read(&method, &headers, None, body, limit);
        let mut query_only = AuthRequest::default();
        query_only.set_form(query.unwrap_or("").as_bytes());
        let token_may_be_from_qs = body_only.qs.is_some() && query_only.token.is_some();
        // What makes the body alone a problem makes the request one (unless it was the
        // token taken from the body's `qs`, which a token in the query replaces).
        if body_only.problem.is_some() && !token_may_be_from_qs {
            assert!(
                full.problem.is_some(),
                "the body's problem was lost: {body_only:?}"
            );
        }
        for ((name, from_body), (_, with_query)) in fields(&body_only).into_iter().zip(fields(&full)) {
            if from_body.is_none() {
                continue;
            }
            if name == "token" && token_may_be_from_qs {
                assert!(with_query.is_some(), "the body's token was lost");
            } else {
                assert_eq!(
                    from_body, with_query,
                    "the query string overrode the body's {name}"
                );
            }
        }
    } else {
        if query.is_none() {
            assert!(full.problem.is_none(), "{method} has no body to be a problem");
        }
        assert_eq!(
            full,
            read(&method, &HeaderMap::new(), query, b"", limit),
            "a {method} body or its headers were read"
        );
    }

    // In a query string the first value of a name wins, whatever follows it.
    if let Some(query) = query {
        let mut first = AuthRequest::default();
        first.set_form(query.as_bytes());
        let mut both = AuthRequest::default();
        both.set_form(format!("{query}&{}", second_query).as_bytes());
        for ((name, a), (_, b)) in fields(&first).into_iter().zip(fields(&both)) {
            if a.is_some() {
                assert_eq!(a, b, "a later {name} overrode the first");
            }
        }
    }
});
