//! Running the backend: `/metrics` (whose names, types and labels are compared with a
//! fixture captured before the exposition moved to prometheus-client) and `/health`, the
//! background cleanup, and a graceful shutdown that lets requests in flight finish.

mod common;

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use common::{Server, TempDir, log_sql, sql};

/// `/metrics` as the hand-written exposition served it (commit f76898e), captured from a
/// running server after one decision of each kind; only its names, types and labels count.
const METRICS_BEFORE: &str = include_str!("fixtures/metrics_before.txt");

/// Each series' sample name, its family's type, and its label names (not their values:
/// which reasons exist may grow), from an exposition in the text format 0.0.4.
fn series_shapes(exposition: &str) -> BTreeSet<(String, String, Vec<String>)> {
    let types: Vec<(&str, &str)> = exposition
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE ")?.split_once(' '))
        .collect();
    let mut shapes = BTreeSet::new();
    for line in exposition.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap();
        let name = &line[..name_end];
        let mut labels: Vec<String> = match line[name_end..].strip_prefix('{') {
            Some(rest) => {
                let inside = &rest[..rest.rfind('}').unwrap()];
                inside
                    .split("\",")
                    .filter(|pair| !pair.is_empty())
                    .map(|pair| pair.split_once('=').unwrap().0.to_owned())
                    .collect()
            }
            None => Vec::new(),
        };
        labels.sort();
        // The family a sample belongs to: its own name, or the name without the suffix a
        // histogram's samples carry.
        let kind = types
            .iter()
            .find(|(family, _)| {
                name == *family
                    || ["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|suffix| name.strip_suffix(suffix) == Some(family))
            })
            .map_or("untyped", |(_, kind)| kind);
        shapes.insert((name.to_owned(), kind.to_owned(), labels));
    }
    shapes
}

#[tokio::test]
async fn metric_names_types_and_labels_are_those_operators_already_use() {
    let dir = TempDir::new("metric-names");
    let server = Server::start(&dir, &[]).await;
    server
        .token(json!({"token": "m", "user_id": "u", "max_sessions": 0}))
        .await;
    server
        .expect_auth(&[
            ("name=a&ip=1.1.1.1&token=m&session_id=1", "new_session"),
            ("name=a&ip=1.1.1.1&token=m&session_id=1", "session_recheck"),
            ("name=a&ip=1.1.1.1&token=nope", "token_not_found"),
        ])
        .await;
    let before = series_shapes(METRICS_BEFORE);
    let now = series_shapes(&server.metrics_text().await);
    assert_eq!(before.len(), 18, "the fixture lost series: {before:?}");
    let missing: Vec<_> = before.difference(&now).collect();
    let added: Vec<_> = now.difference(&before).collect();
    assert!(
        missing.is_empty() && added.is_empty(),
        "series no longer exported: {missing:#?}\nseries not exported before: {added:#?}"
    );
    // Every reason is exported from the start, the new one included.
    let text = server.metrics_text().await;
    for reason in flussonic_backend::flussonic::decision::Reason::ALL {
        let label = format!("reason=\"{}\"", reason.code());
        assert!(text.contains(&label), "no series with {label}");
    }
    server.stop().await;
}

#[test]
fn the_shape_comparison_sees_a_renamed_retyped_or_relabelled_series() {
    let base = "# TYPE a_total counter\na_total{x=\"1\",y=\"2\"} 1\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n";
    let shapes = series_shapes(base);
    assert_eq!(shapes.len(), 4, "{shapes:?}");
    assert!(shapes.contains(&(
        "h_bucket".to_owned(),
        "histogram".to_owned(),
        vec!["le".to_owned()]
    )));
    for changed in [
        base.replace("a_total{", "b_total{")
            .replace("# TYPE a_total", "# TYPE b_total"),
        base.replace("a_total counter", "a_total gauge"),
        base.replace("y=\"2\"", "z=\"2\""),
        base.replace("h_sum 1\n", ""),
    ] {
        assert_ne!(series_shapes(&changed), shapes, "{changed}");
    }
    // Values, label values and the order of labels and lines do not count.
    let same = "h_count 7\n# TYPE h histogram\n# TYPE a_total counter\na_total{y=\"9\",x=\"0\"} 5\nh_sum 2\nh_bucket{le=\"+Inf\"} 7\n";
    assert_eq!(series_shapes(same), shapes);
}

#[tokio::test]
async fn metrics_and_health_report_what_happened() {
    let dir = TempDir::new("metrics");
    let server = Server::start(&dir, &[]).await;
    server
        .token(json!({"token": "m", "user_id": "u", "max_sessions": 0}))
        .await;
    server
        .expect_auth(&[
            ("name=a&ip=1.1.1.1&token=m&session_id=1", "new_session"),
            ("name=a&ip=1.1.1.1&token=m&session_id=2", "new_session"),
            (
                "name=a&ip=1.1.1.1&token=m&session_id=2&request_type=update_session",
                "session_recheck",
            ),
            ("name=a&ip=1.1.1.1&token=nope", "token_not_found"),
        ])
        .await;

    let r = server.client.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text().await.unwrap();
    for line in [
        "flussonic_auth_decisions_total{result=\"allowed\",reason=\"new_session\"} 2",
        "flussonic_auth_decisions_total{result=\"allowed\",reason=\"session_recheck\"} 1",
        "flussonic_auth_decisions_total{result=\"denied\",reason=\"token_not_found\"} 1",
        "flussonic_auth_decisions_total{result=\"denied\",reason=\"max_sessions_reached\"} 0",
        "flussonic_auth_request_duration_seconds_bucket{le=\"+Inf\"} 4",
        "flussonic_auth_request_duration_seconds_count 4",
        "flussonic_auth_open_sessions 2",
        "flussonic_auth_database_up 1",
        "# TYPE flussonic_auth_request_duration_seconds histogram",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    // Buckets are cumulative and end at the count.
    let buckets: Vec<u64> = text
        .lines()
        .filter(|l| l.starts_with("flussonic_auth_request_duration_seconds_bucket"))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(*buckets.last().unwrap(), 4);

    let r = server.client.get(server.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(body, json!({"status": "healthy", "database": "ok"}));

    // With the database gone, /health says so, and /auth cannot decide: 503, not a "no".
    server.state.db.close().await;
    let r = server.client.get(server.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(body["status"], "unhealthy");
    let auth = server.auth_get("name=a&ip=1.1.1.1&token=m").await;
    assert_eq!(auth.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(auth.body["errors"][0]["code"], "backend_unavailable");
    let text = server.metrics_text().await;
    assert!(text.contains("flussonic_auth_database_up 0"), "{text}");
    assert!(text.contains("reason=\"backend_unavailable\"} 1"), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn the_background_cleanup_removes_expired_sessions_and_old_logs() {
    let dir = TempDir::new("background");
    let server = Server::start(
        &dir,
        &[
            ("SESSION_CLEANUP_INTERVAL", "1"),
            ("ACCESS_LOG_RETENTION_DAYS", "1"),
        ],
    )
    .await;
    server
        .token(json!({"token": "t", "user_id": "u", "max_sessions": 0}))
        .await;
    server
        .expect_auth(&[
            ("name=a&ip=1.1.1.1&token=t&session_id=old", "new_session"),
            ("name=a&ip=1.1.1.1&token=t&session_id=live", "new_session"),
        ])
        .await;
    sql(
        &dir,
        "UPDATE active_sessions SET expires_at = '2000-01-01T00:00:00.000000Z' WHERE session_key = 'old'",
    );
    server.logs_settled().await;
    assert_eq!(
        log_sql(
            &dir,
            "UPDATE access_logs SET timestamp = '2000-01-01T00:00:00.000000Z' WHERE session_id = 'old'",
        ),
        1
    );
    // Polled, not timed: the task runs every second.
    let mut waited = 0;
    while server.metric("flussonic_auth_access_logs_deleted_total").await != Some(1.0) {
        assert!(waited < 1000, "the cleanup never ran");
        waited += 1;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        server.metric("flussonic_auth_sessions_cleaned_total").await,
        Some(1.0)
    );
    assert_eq!(sql(&dir, "SELECT COUNT(*) FROM active_sessions"), 1);
    assert_eq!(
        sql(
            &dir,
            "SELECT COUNT(*) FROM active_sessions WHERE session_key = 'live'"
        ),
        1
    );
    assert_eq!(
        log_sql(&dir, "SELECT COUNT(*) FROM access_logs WHERE session_id = 'old'"),
        0
    );
    assert_eq!(log_sql(&dir, "SELECT COUNT(*) FROM access_logs"), 1);
    server.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_lets_requests_in_flight_finish() {
    let dir = TempDir::new("graceful");
    let mut server = Server::start(&dir, &[]).await;
    server
        .token(json!({"token": "g", "user_id": "u", "max_sessions": 0}))
        .await;
    // Another connection holds the write lock, so the requests below stay in flight
    // (queued for the writer) until it lets go.
    let blocker = rusqlite::Connection::open(dir.path().join("tokens.db")).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let client = server.client.clone();
        let url = server.url(&format!("/auth?name=a&ip=1.1.1.1&token=g&session_id=g{i}"));
        tasks.spawn(async move { client.get(url).send().await.map(|r| r.status()) });
    }
    let mut waited = 0;
    // (The background cleanup may have a write pending too.)
    while server.metric("flussonic_auth_db_pending_writes").await < Some(20.0) {
        assert!(waited < 500, "the requests never reached the writer");
        waited += 1;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // The signal arrives while all 20 are in flight; then the lock is released.
    server.signal_stop();
    tokio::task::yield_now().await;
    blocker.execute_batch("ROLLBACK").unwrap();
    drop(blocker);
    let mut statuses = Vec::new();
    while let Some(result) = tasks.join_next().await {
        statuses.push(result.unwrap().unwrap());
    }
    assert_eq!(statuses, vec![StatusCode::OK; 20]);
    server.stop().await;
    assert_eq!(sql(&dir, "SELECT COUNT(*) FROM active_sessions"), 20);
}
