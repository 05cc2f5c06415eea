//! Fault injection for the Flussonic backend (issue 6): the real `flussonic_backend`
//! binary, killed with SIGKILL under load and restarted on the same database file,
//! several times over.
//!
//! After every restart: each token the API acknowledged (201) is there, unchanged; each
//! user's live sessions are exactly those whose `/auth` was answered 200, plus possibly
//! some whose request was still unanswered at the kill (they may or may not have
//! committed), never one that was refused or never sent; the limit still holds; and the
//! files as the kill left them (the database and the access log's own database) pass
//! `PRAGMA integrity_check`.
//!
//! The binary is the crate's own, which cargo builds before this test
//! (`CARGO_BIN_EXE_flussonic_backend`), also for `cargo test --test crash`.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs::File,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

mod common;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tokio::{sync::Semaphore, task::JoinSet};

use common::TempDir;

const API_KEY: &str = "crash-test-management-key-0123456789";
/// Kill/restart cycles in the test.
const CYCLES: usize = 3;
/// Concurrent load tasks; each opens up to `max_sessions + 2` sessions at once.
const WORKERS: usize = 8;
/// Tokens acknowledged in a cycle before the kill: enough load to be sure the kill
/// lands among requests in flight.
const ACKED_BEFORE_KILL: usize = 100;
/// The stream every session plays.
const STREAM: &str = "live/crash";

// ---------------------------------------------------------------- the process

/// A running backend. Dropping it kills the process (also when an assertion failed,
/// and then its log is printed).
struct Backend {
    child: Child,
    base: String,
    client: Client,
    log: PathBuf,
}

impl Backend {
    /// Starts the binary on `dir/tokens.db` and waits until `/health` answers.
    async fn start(binary: &Path, dir: &Path, generation: usize) -> Self {
        // A free port can be taken by someone else between the probe and the bind:
        // then the backend exits saying so, and another port is tried.
        for attempt in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .unwrap()
                .port();
            let log = dir.join(format!("backend-{generation}-{attempt}.log"));
            let out = File::create(&log).unwrap();
            let child = Command::new(binary)
                // The backend reads `.env` from its working directory: keep it hermetic.
                .current_dir(dir)
                .env_clear()
                .env("API_HOST", "127.0.0.1")
                .env("API_PORT", port.to_string())
                .env("API_KEY", API_KEY)
                .env("DATABASE_URL", dir.join("tokens.db"))
                // Sessions must not expire during the test.
                .env("AUTH_DURATION", "600")
                .env("LOG_LEVEL", "warn")
                .env("RUST_BACKTRACE", "1")
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let mut backend = Backend {
                child,
                base: format!("http://127.0.0.1:{port}"),
                client: Client::builder()
                    .timeout(Duration::from_secs(20))
                    .build()
                    .unwrap(),
                log,
            };
            if backend.wait_ready().await {
                return backend;
            }
        }
        panic!("the backend could not listen on a free port in 5 attempts");
    }

    /// `true` once `/health` says healthy; `false` if the port was taken.
    async fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let log = self.log_text();
                if log.contains("cannot listen") {
                    return false;
                }
                panic!("the backend exited on start ({status}):\n{log}");
            }
            if let Ok(response) = self.client.get(self.url("/health")).send().await
                && response.status() == StatusCode::OK
            {
                return true;
            }
            assert!(
                Instant::now() < deadline,
                "the backend did not become healthy within 20 s:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Asserts that it is still running (it has not died by itself), then SIGKILLs it.
    fn kill(mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!(
                "the backend exited by itself under load ({status}):\n{}",
                self.log_text()
            );
        }
        // `Child::kill` is SIGKILL on Unix: no shutdown code runs.
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- backend log {}:\n{}", self.log.display(), self.log_text());
        }
    }
}

// ---------------------------------------------------------------- what the clients saw

/// Everything the clients know, kept across kills. A request that got no answer is
/// "in flight": the next restart tells whether it committed, and from then on that is
/// known too.
#[derive(Default)]
struct Model {
    /// By token string.
    tokens: BTreeMap<String, TokenFact>,
    /// By user id (one token per user).
    users: BTreeMap<String, UserFact>,
    /// Answers that break the contract, wherever they were seen.
    violations: Vec<String>,
}

struct TokenFact {
    /// The creation request's body.
    sent: Value,
    /// The token as the 201 showed it; `None` while unanswered.
    acked: Option<Value>,
}

#[derive(Clone)]
struct UserFact {
    token: String,
    max: usize,
    /// Sessions whose `/auth` was answered 200 (or that a restart showed to exist).
    live: BTreeSet<String>,
    /// Sessions whose `/auth` got no answer before the kill.
    in_flight: BTreeSet<String>,
}

/// What one load cycle shares.
struct Load {
    client: Client,
    base: String,
    cycle: usize,
    stop: AtomicBool,
    acked: AtomicUsize,
    model: Mutex<Model>,
    /// Sessions known live before this cycle: re-checked under load.
    known: Vec<(String, String)>,
}

/// `/auth` for `session`: status and `X-Auth-Reason`, or no answer.
async fn auth(client: &Client, base: &str, token: &str, session: &str) -> Option<(StatusCode, String)> {
    let url = format!("{base}/auth?name={STREAM}&ip=10.1.2.3&proto=hls&token={token}&session_id={session}");
    let response = client.get(url).send().await.ok()?;
    let status = response.status();
    let reason = response
        .headers()
        .get("x-auth-reason")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    // The status arrived: the decision is committed, whatever happens to the body.
    let _ = response.bytes().await;
    Some((status, reason))
}

/// A management call with the key; `None` when unanswered.
async fn api(
    client: &Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> Option<(StatusCode, Value)> {
    let mut request = client
        .request(method, format!("{base}{path}"))
        .header("X-API-Key", API_KEY);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.ok()?;
    let status = response.status();
    let bytes = response.bytes().await.ok()?;
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Some((status, body))
}

/// One load task: creates tokens for new users, at once opens `max + 2` sessions for
/// each (so the limit is contended), and re-checks sessions of earlier cycles. It stops
/// at its first unanswered request (the backend is gone) or when told to.
async fn worker(load: Arc<Load>, index: usize) {
    let mut n = 0usize;
    while !load.stop.load(Ordering::Relaxed) {
        n += 1;
        let token = format!("tok-c{}-w{index}-n{n}", load.cycle);
        let user = format!("user-c{}-w{index}-n{n}", load.cycle);
        let max = 1 + (n + index) % 4;
        let sent = json!({
            "token": token,
            "user_id": user,
            "max_sessions": max,
            "allowed_streams": ["live/*"],
            "allowed_ips": ["10.0.0.0/8"],
            "meta": {"cycle": load.cycle, "worker": index, "n": n},
        });
        load.model.lock().unwrap().tokens.insert(
            token.clone(),
            TokenFact {
                sent: sent.clone(),
                acked: None,
            },
        );
        let Some((status, body)) = api(
            &load.client,
            &load.base,
            reqwest::Method::POST,
            "/api/tokens",
            Some(&sent),
        )
        .await
        else {
            return;
        };
        {
            let mut model = load.model.lock().unwrap();
            if status != StatusCode::CREATED {
                model
                    .violations
                    .push(format!("POST /api/tokens {token}: {status} {body}"));
                model.tokens.remove(&token);
                continue;
            }
            if let Some(fact) = model.tokens.get_mut(&token) {
                fact.acked = Some(body);
            }
            model.users.insert(
                user.clone(),
                UserFact {
                    token: token.clone(),
                    max,
                    live: BTreeSet::new(),
                    in_flight: BTreeSet::new(),
                },
            );
        }
        load.acked.fetch_add(1, Ordering::Relaxed);

        // Concurrent first requests: exactly `max` may win.
        let sessions: Vec<String> = (0..max + 2).map(|i| format!("{token}-s{i}")).collect();
        load.model
            .lock()
            .unwrap()
            .users
            .get_mut(&user)
            .unwrap()
            .in_flight
            .extend(sessions.iter().cloned());
        let mut burst = JoinSet::new();
        for session in sessions {
            let (client, base, token) = (load.client.clone(), load.base.clone(), token.clone());
            burst.spawn(async move {
                let answer = auth(&client, &base, &token, &session).await;
                (session, answer)
            });
        }
        let (mut allowed, mut unanswered) = (0, 0);
        while let Some(joined) = burst.join_next().await {
            let (session, answer) = joined.unwrap();
            let mut model = load.model.lock().unwrap();
            let fact = model.users.get_mut(&user).unwrap();
            match answer {
                None => unanswered += 1,
                Some((StatusCode::OK, reason)) if reason == "new_session" => {
                    allowed += 1;
                    fact.in_flight.remove(&session);
                    fact.live.insert(session);
                }
                Some((StatusCode::FORBIDDEN, reason)) if reason == "max_sessions_reached" => {
                    fact.in_flight.remove(&session);
                }
                Some((status, reason)) => {
                    fact.in_flight.remove(&session);
                    model
                        .violations
                        .push(format!("/auth {session} under load: {status} {reason}"));
                }
            }
        }
        if allowed > max || (unanswered == 0 && allowed != max) {
            load.model.lock().unwrap().violations.push(format!(
                "{max} slots for {user}, {} concurrent first requests: {allowed} allowed, {unanswered} unanswered",
                max + 2
            ));
        }
        if unanswered > 0 {
            return;
        }

        // A re-check of an earlier cycle's session, racing the new ones.
        if !load.known.is_empty() {
            let (token, session) = &load.known[(n * WORKERS + index) % load.known.len()];
            match auth(&load.client, &load.base, token, session).await {
                None => return,
                Some((StatusCode::OK, reason)) if reason == "session_recheck" => {}
                Some((status, reason)) => load
                    .model
                    .lock()
                    .unwrap()
                    .violations
                    .push(format!("re-check of {session} under load: {status} {reason}")),
            }
        }
    }
}

// ---------------------------------------------------------------- the checks

/// Every row of `PRAGMA integrity_check` (a healthy file gives exactly `["ok"]`) and of
/// `PRAGMA foreign_key_check` (none: no session outlives its token).
fn integrity(path: &Path) -> (Vec<String>, usize) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let rows = conn
        .prepare("PRAGMA integrity_check")
        .unwrap()
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let orphans = conn
        .prepare("PRAGMA foreign_key_check")
        .unwrap()
        .query_map([], |_| Ok(()))
        .unwrap()
        .count();
    (rows, orphans)
}

/// Checks the file exactly as the kill left it (database and WAL), on a copy, so that
/// the restarted backend still has to recover the original by itself.
fn check_crashed_file(dir: &Path, cycle: usize) {
    let copy = dir.join(format!("crashed-{cycle}"));
    std::fs::create_dir_all(&copy).unwrap();
    // The database, and the access log's own file (written by its own thread).
    for file in ["tokens.db", "tokens.logs.db"] {
        for suffix in ["", "-wal"] {
            let from = dir.join(format!("{file}{suffix}"));
            if from.exists() {
                std::fs::copy(&from, copy.join(format!("{file}{suffix}"))).unwrap();
            }
        }
        let (rows, orphans) = integrity(&copy.join(file));
        assert_eq!(rows, ["ok"], "integrity_check of {file} after kill {cycle}");
        assert_eq!(orphans, 0, "foreign_key_check of {file} after kill {cycle}");
    }
    std::fs::remove_dir_all(&copy).unwrap();
}

/// All tokens, by token string.
async fn list_tokens(backend: &Backend) -> BTreeMap<String, Value> {
    let mut all = BTreeMap::new();
    for skip in (0..).step_by(1000) {
        let path = format!("/api/tokens?skip={skip}&limit=1000");
        let (status, page) = api(&backend.client, &backend.base, reqwest::Method::GET, &path, None)
            .await
            .expect("GET /api/tokens answered");
        assert_eq!(status, StatusCode::OK, "{page}");
        let page = page.as_array().unwrap().clone();
        let last = page.len() < 1000;
        for token in page {
            all.insert(token["token"].as_str().unwrap().to_owned(), token);
        }
        if last {
            break;
        }
    }
    all
}

/// The user's live session keys, as the API lists them.
async fn list_sessions(client: &Client, base: &str, user: &str) -> BTreeSet<String> {
    let path = format!("/api/sessions?user_id={user}&limit=1000");
    let (status, sessions) = api(client, base, reqwest::Method::GET, &path, None)
        .await
        .expect("GET /api/sessions answered");
    assert_eq!(status, StatusCode::OK, "{sessions}");
    sessions
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_key"].as_str().unwrap().to_owned())
        .collect()
}

/// After a restart: compares what the backend has with what the clients saw, settles
/// every in-flight outcome, then fills each user up to the limit and checks that one
/// more session is refused.
async fn verify(backend: &Backend, model: &mut Model, cycle: usize) -> Settled {
    let stored = list_tokens(backend).await;
    for token in stored.keys() {
        if !model.tokens.contains_key(token) {
            model
                .violations
                .push(format!("token {token} exists, but no client ever sent it"));
        }
    }
    let mut settled = Settled::default();
    let mut gone = Vec::new();
    for (token, fact) in &mut model.tokens {
        match (&fact.acked, stored.get(token)) {
            (Some(acked), Some(now)) if acked == now => {}
            (Some(acked), Some(now)) => model.violations.push(format!(
                "token {token} changed across the kill: was {acked}, is {now}"
            )),
            (Some(_), None) => model
                .violations
                .push(format!("acknowledged token {token} is lost")),
            // In flight at the kill: it committed or it did not, but wholly.
            (None, Some(now)) => {
                for (field, value) in fact.sent.as_object().unwrap() {
                    if now[field] != *value {
                        model.violations.push(format!(
                            "in-flight token {token} committed with {field} = {}",
                            now[field]
                        ));
                    }
                }
                fact.acked = Some(now.clone());
                let user = fact.sent["user_id"].as_str().unwrap().to_owned();
                model.users.insert(
                    user,
                    UserFact {
                        token: token.clone(),
                        max: fact.sent["max_sessions"].as_u64().unwrap() as usize,
                        live: BTreeSet::new(),
                        in_flight: BTreeSet::new(),
                    },
                );
                settled.tokens_committed += 1;
            }
            (None, None) => {
                gone.push(token.clone());
                settled.tokens_not += 1;
            }
        }
    }
    for token in gone {
        model.tokens.remove(&token);
    }

    let limit = Arc::new(Semaphore::new(16));
    let mut checks = JoinSet::new();
    for (user, fact) in model.users.clone() {
        let (client, base, limit) = (backend.client.clone(), backend.base.clone(), Arc::clone(&limit));
        checks.spawn(async move {
            let _permit = limit.acquire().await.unwrap();
            let in_flight = fact.in_flight.clone();
            let (fact, violations) = verify_user(&client, &base, &user, fact, cycle).await;
            (user, in_flight, fact, violations)
        });
    }
    while let Some(joined) = checks.join_next().await {
        let (user, in_flight, fact, violations) = joined.unwrap();
        let committed = in_flight.iter().filter(|s| fact.live.contains(*s)).count();
        settled.sessions_committed += committed;
        settled.sessions_not += in_flight.len() - committed;
        model.users.insert(user, fact);
        model.violations.extend(violations);
    }
    settled
}

/// How the requests unanswered at a kill turned out.
#[derive(Debug, Default)]
struct Settled {
    tokens_committed: usize,
    tokens_not: usize,
    sessions_committed: usize,
    sessions_not: usize,
}

async fn verify_user(
    client: &Client,
    base: &str,
    user: &str,
    mut fact: UserFact,
    cycle: usize,
) -> (UserFact, Vec<String>) {
    let mut violations = Vec::new();
    let observed = list_sessions(client, base, user).await;
    let lost: Vec<_> = fact.live.difference(&observed).collect();
    if !lost.is_empty() {
        violations.push(format!("{user}: acknowledged sessions lost: {lost:?}"));
    }
    let extra: Vec<_> = observed
        .iter()
        .filter(|s| !fact.live.contains(*s) && !fact.in_flight.contains(*s))
        .collect();
    if !extra.is_empty() {
        violations.push(format!(
            "{user}: sessions that were refused or never requested: {extra:?}"
        ));
    }
    if observed.len() > fact.max {
        violations.push(format!(
            "{user}: {} live sessions, limit {}",
            observed.len(),
            fact.max
        ));
    }
    fact.live = observed;
    fact.in_flight.clear();

    // Free slots are exactly `max - live`: each is granted, and one more is refused.
    for i in 0..fact.max.saturating_sub(fact.live.len()) {
        let session = format!("{}-r{cycle}-{i}", fact.token);
        match auth(client, base, &fact.token, &session).await {
            Some((StatusCode::OK, reason)) if reason == "new_session" => {
                fact.live.insert(session);
            }
            other => violations.push(format!(
                "{user}: free slot {i} of {} after restart {cycle}: {other:?}",
                fact.max
            )),
        }
    }
    let over = format!("{}-over{cycle}", fact.token);
    match auth(client, base, &fact.token, &over).await {
        Some((StatusCode::FORBIDDEN, reason)) if reason == "max_sessions_reached" => {}
        other => violations.push(format!(
            "{user}: a session beyond max_sessions = {} after restart {cycle}: {other:?}",
            fact.max
        )),
    }
    // A re-check of a session the kill left is a re-check, not a new session.
    if let Some(session) = fact.live.first() {
        match auth(client, base, &fact.token, session).await {
            Some((StatusCode::OK, reason)) if reason == "session_recheck" => {}
            other => violations.push(format!(
                "{user}: re-check of {session} after restart {cycle}: {other:?}"
            )),
        }
    }
    let after = list_sessions(client, base, user).await;
    if after != fact.live {
        violations.push(format!(
            "{user}: after the limit checks, sessions {after:?}, expected {:?}",
            fact.live
        ));
    }
    (fact, violations)
}

fn assert_no_violations(model: &Model, when: &str) {
    assert!(
        model.violations.is_empty(),
        "{when}: {} violations:\n{}",
        model.violations.len(),
        model
            .violations
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

// ---------------------------------------------------------------- the test

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_write() {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_flussonic_backend"));
    let dir = TempDir::new("crash");
    let mut model = Model::default();
    let mut backend = Backend::start(&binary, dir.path(), 0).await;

    for cycle in 1..=CYCLES {
        let known = model
            .users
            .values()
            .flat_map(|f| f.live.iter().map(|s| (f.token.clone(), s.clone())))
            .collect();
        let load = Arc::new(Load {
            client: backend.client.clone(),
            base: backend.base.clone(),
            cycle,
            stop: AtomicBool::new(false),
            acked: AtomicUsize::new(0),
            model: Mutex::new(std::mem::take(&mut model)),
            known,
        });
        let mut workers = JoinSet::new();
        for index in 0..WORKERS {
            workers.spawn(worker(Arc::clone(&load), index));
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while load.acked.load(Ordering::Relaxed) < ACKED_BEFORE_KILL {
            assert!(
                Instant::now() < deadline,
                "cycle {cycle}: only {} tokens acknowledged in 15 s",
                load.acked.load(Ordering::Relaxed)
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // Land the kill at a different point of the request stream each time.
        tokio::time::sleep(Duration::from_micros(rand::random_range(0..20_000))).await;
        backend.kill();
        load.stop.store(true, Ordering::Relaxed);
        while let Some(joined) = workers.join_next().await {
            joined.unwrap();
        }
        model = Arc::into_inner(load).unwrap().model.into_inner().unwrap();
        assert_no_violations(&model, &format!("cycle {cycle}, under load"));

        check_crashed_file(dir.path(), cycle);

        backend = Backend::start(&binary, dir.path(), cycle).await;
        let settled = verify(&backend, &mut model, cycle).await;
        assert_no_violations(&model, &format!("after restart {cycle}"));
        let sessions: usize = model.users.values().map(|f| f.live.len()).sum();
        eprintln!(
            "cycle {cycle}: {} tokens, {sessions} sessions; unanswered at the kill: {settled:?}",
            model.tokens.len(),
        );
    }

    backend.kill();
    let (rows, orphans) = integrity(&dir.path().join("tokens.db"));
    assert_eq!(rows, ["ok"], "integrity_check at the end");
    assert_eq!(orphans, 0, "foreign_key_check at the end");
    let (rows, _) = integrity(&dir.path().join("tokens.logs.db"));
    assert_eq!(rows, ["ok"], "integrity_check of the access log at the end");
}
