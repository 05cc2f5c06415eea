//! What a decision costs does not grow with what the database holds (issue 17): a new
//! session, a refusal at the limit and a re-check of a user with thousands of open
//! sessions run the same work as with a handful. Counted in SQLite's virtual-machine
//! instructions (a progress handler called after every one), which are deterministic,
//! unlike time: a count that walked the user's sessions would add instructions for each.

mod common;

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use flussonic_backend::{
    clock,
    db::schema::{self, Role},
    flussonic::{
        decision::{self, Policy, Reason},
        request::AuthRequest,
    },
};
use rusqlite::Connection;

use common::TempDir;

const POLICY: Policy = Policy {
    auth_duration: 3600,
    session_grace: 60,
    access_logs: true,
    log_rechecks: true,
};

/// The database as the backend creates it, and a connection like its writer's.
fn database(dir: &TempDir) -> Connection {
    let conn = schema::open(&dir.path().join("tokens.db"), Role::Writer).unwrap();
    schema::migrate(&conn, &dir.path().join("tokens.logs.db")).unwrap();
    conn
}

fn token(conn: &Connection, token: &str, user: &str, max_sessions: i64) {
    conn.execute(
        "INSERT INTO tokens (token, user_id, max_sessions, created_at, updated_at)
         VALUES (?1, ?2, ?3, '2020-01-01T00:00:00.000000Z', '2020-01-01T00:00:00.000000Z')",
        rusqlite::params![token, user, max_sessions],
    )
    .unwrap();
}

fn request(token: &str, session: &str) -> AuthRequest {
    AuthRequest {
        token: Some(token.to_owned()),
        name: Some("live/a".to_owned()),
        ip: Some("10.0.0.1".to_owned()),
        proto: Some("hls".to_owned()),
        session_id: Some(session.to_owned()),
        ..AuthRequest::default()
    }
}

/// Decides `req` in a transaction of its own, as the writer would; its reason.
fn decide(conn: &Connection, req: &AuthRequest) -> Reason {
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    let decided = decision::decide(conn, req, &POLICY).unwrap();
    conn.execute_batch("COMMIT").unwrap();
    decided.reason
}

/// The instructions SQLite runs for one decision of `req`, and its reason.
fn instructions(conn: &Connection, req: &AuthRequest) -> (u64, Reason) {
    let counted = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&counted);
    conn.progress_handler(
        1,
        Some(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            false
        }),
    )
    .unwrap();
    let reason = decide(conn, req);
    conn.progress_handler(1, None::<fn() -> bool>).unwrap();
    (counted.load(Ordering::Relaxed), reason)
}

/// Opens `count` sessions of `token` through the decision, numbered from `first`.
fn open(conn: &Connection, token: &str, first: usize, count: usize) {
    for n in first..first + count {
        assert_eq!(
            decide(conn, &request(token, &format!("s-{n:06}"))),
            Reason::NewSession
        );
    }
}

/// The cost of each kind of decision for a user holding `open_sessions` sessions, in a
/// database of its own.
fn costs(open_sessions: usize) -> [(u64, Reason); 3] {
    let dir = TempDir::new(&format!("costs-{open_sessions}"));
    let conn = database(&dir);
    // Alice's limit is far away; Bob's is reached exactly.
    token(&conn, "alice", "ua", 1_000_000);
    token(&conn, "bob", "ub", open_sessions as i64);
    open(&conn, "alice", 0, open_sessions);
    open(&conn, "bob", 0, open_sessions);
    // The re-checked session's expiry moves (a re-check within the second it was set
    // writes nothing): a minute left, where a re-check gives it an hour.
    conn.execute(
        "UPDATE active_sessions SET expires_at = ?1 WHERE session_key = 's-000000'",
        [clock::stamp_after_ceil(clock::now(), 60)],
    )
    .unwrap();
    [
        instructions(&conn, &request("alice", "new")),
        instructions(&conn, &request("bob", "one-too-many")),
        instructions(&conn, &request("alice", "s-000000")),
    ]
}

#[test]
fn a_decision_costs_the_same_with_ten_or_two_thousand_open_sessions() {
    let few = costs(10);
    let many = costs(2000);
    let reasons = [Reason::NewSession, Reason::MaxSessionsReached, Reason::Recheck];
    for ((few, many), reason) in few.iter().zip(&many).zip(reasons) {
        assert_eq!((few.1, many.1), (reason, reason));
        assert_eq!(
            few.0, many.0,
            "{reason:?}: {} SQLite instructions with 10 open sessions, {} with 2000",
            few.0, many.0
        );
    }
}
