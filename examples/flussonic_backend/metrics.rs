//! Prometheus metrics: `/auth` decisions by result and reason, a latency histogram,
//! open sessions, cleanup, writer and access-log counters. Counting is a few relaxed atomic adds,
//! so it costs nothing measurable on the hot path.

use std::{
    fmt::Write as _,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use axum::{
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::{app::AppState, clock, db::sessions, decision::Reason};

/// Upper bounds of the latency buckets, in microseconds.
const BUCKETS_MICROS: [u64; 14] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000,
];

/// The counters.
#[derive(Debug, Default)]
pub struct Metrics {
    decisions: [AtomicU64; Reason::ALL.len()],
    undecided: AtomicU64,
    buckets: [AtomicU64; BUCKETS_MICROS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    sessions_cleaned: AtomicU64,
    logs_deleted: AtomicU64,
}

impl Metrics {
    /// Counts one `/auth` answer (`None`: the backend could not decide) and its latency.
    pub fn observe(&self, reason: Option<Reason>, elapsed: Duration) {
        let counter = match reason {
            Some(reason) => self.decisions.get(reason.index()),
            None => Some(&self.undecided),
        };
        if let Some(counter) = counter {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        if let Some((_, bucket)) = BUCKETS_MICROS
            .iter()
            .zip(&self.buckets)
            .find(|(bound, _)| micros <= **bound)
        {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Counts a cleanup's deletions.
    pub fn cleaned(&self, sessions: usize, logs: usize) {
        self.sessions_cleaned
            .fetch_add(sessions as u64, Ordering::Relaxed);
        self.logs_deleted.fetch_add(logs as u64, Ordering::Relaxed);
    }

    /// The exposition text.
    pub fn render(
        &self,
        open_sessions: Option<i64>,
        writer: &crate::db::writer::WriterStats,
        log: &crate::db::log_writer::LogStats,
    ) -> String {
        let mut out = String::with_capacity(4096);
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        out.push_str(
            "# HELP flussonic_auth_decisions_total /auth answers by result and reason.\n\
             # TYPE flussonic_auth_decisions_total counter\n",
        );
        for reason in Reason::ALL {
            let result = if reason.allowed() { "allowed" } else { "denied" };
            let _ = writeln!(
                out,
                "flussonic_auth_decisions_total{{result=\"{result}\",reason=\"{}\"}} {}",
                reason.code(),
                self.decisions.get(reason.index()).map_or(0, load)
            );
        }
        let _ = writeln!(
            out,
            "flussonic_auth_decisions_total{{result=\"error\",reason=\"backend_unavailable\"}} {}",
            load(&self.undecided)
        );

        out.push_str(
            "# HELP flussonic_auth_request_duration_seconds Time to answer /auth.\n\
             # TYPE flussonic_auth_request_duration_seconds histogram\n",
        );
        let mut cumulative = 0;
        for (bound, bucket) in BUCKETS_MICROS.iter().zip(&self.buckets) {
            cumulative = load(bucket).saturating_add(cumulative);
            let _ = writeln!(
                out,
                "flussonic_auth_request_duration_seconds_bucket{{le=\"{}\"}} {cumulative}",
                *bound as f64 / 1e6
            );
        }
        let count = load(&self.latency_count);
        let _ = writeln!(
            out,
            "flussonic_auth_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "flussonic_auth_request_duration_seconds_sum {}",
            load(&self.latency_sum_micros) as f64 / 1e6
        );
        let _ = writeln!(out, "flussonic_auth_request_duration_seconds_count {count}");

        out.push_str(
            "# HELP flussonic_auth_open_sessions Sessions that have not expired.\n\
             # TYPE flussonic_auth_open_sessions gauge\n",
        );
        if let Some(open) = open_sessions {
            let _ = writeln!(out, "flussonic_auth_open_sessions {open}");
        }
        let _ = write!(
            out,
            "# HELP flussonic_auth_database_up Whether the database answered this scrape.\n\
             # TYPE flussonic_auth_database_up gauge\n\
             flussonic_auth_database_up {}\n\
             # HELP flussonic_auth_sessions_cleaned_total Expired sessions deleted.\n\
             # TYPE flussonic_auth_sessions_cleaned_total counter\n\
             flussonic_auth_sessions_cleaned_total {}\n\
             # HELP flussonic_auth_access_logs_deleted_total Access-log rows deleted by retention.\n\
             # TYPE flussonic_auth_access_logs_deleted_total counter\n\
             flussonic_auth_access_logs_deleted_total {}\n\
             # HELP flussonic_auth_db_transactions_total Writer transactions (each commits a batch).\n\
             # TYPE flussonic_auth_db_transactions_total counter\n\
             flussonic_auth_db_transactions_total {}\n\
             # HELP flussonic_auth_db_writes_total Writes run by the writer.\n\
             # TYPE flussonic_auth_db_writes_total counter\n\
             flussonic_auth_db_writes_total {}\n\
             # HELP flussonic_auth_db_write_errors_total Writes that failed with a database error.\n\
             # TYPE flussonic_auth_db_write_errors_total counter\n\
             flussonic_auth_db_write_errors_total {}\n\
             # HELP flussonic_auth_db_pending_writes Writes queued for the writer or running.\n\
             # TYPE flussonic_auth_db_pending_writes gauge\n\
             flussonic_auth_db_pending_writes {}\n\
             # HELP flussonic_auth_db_wal_pages Pages in the database's WAL not yet seen checkpointed.\n\
             # TYPE flussonic_auth_db_wal_pages gauge\n\
             flussonic_auth_db_wal_pages {}\n\
             # HELP flussonic_auth_db_checkpoints_total Checkpoints the writer ran at the WAL's limit.\n\
             # TYPE flussonic_auth_db_checkpoints_total counter\n\
             flussonic_auth_db_checkpoints_total {}\n\
             # HELP flussonic_auth_access_logs_written_total Access-log rows written.\n\
             # TYPE flussonic_auth_access_logs_written_total counter\n\
             flussonic_auth_access_logs_written_total {}\n\
             # HELP flussonic_auth_access_logs_dropped_total Access-log rows dropped: the queue was full.\n\
             # TYPE flussonic_auth_access_logs_dropped_total counter\n\
             flussonic_auth_access_logs_dropped_total {}\n\
             # HELP flussonic_auth_access_logs_failed_total Access-log rows lost to a failed write.\n\
             # TYPE flussonic_auth_access_logs_failed_total counter\n\
             flussonic_auth_access_logs_failed_total {}\n\
             # HELP flussonic_auth_access_logs_queued Access-log rows waiting to be written.\n\
             # TYPE flussonic_auth_access_logs_queued gauge\n\
             flussonic_auth_access_logs_queued {}\n",
            u8::from(open_sessions.is_some()),
            load(&self.sessions_cleaned),
            load(&self.logs_deleted),
            load(&writer.batches),
            load(&writer.jobs),
            load(&writer.failures),
            load(&writer.pending),
            writer.wal_pages.load(Ordering::Relaxed),
            load(&writer.checkpoints),
            load(&log.written),
            load(&log.dropped),
            load(&log.failed),
            load(&log.queued),
        );
        out
    }
}

/// `GET /metrics`.
pub async fn handle(State(app): State<AppState>) -> Response {
    let open = app
        .db
        .read(|conn| sessions::count_open(conn, &clock::stamp(clock::now())))
        .await
        .ok();
    let body = app.metrics.render(open, app.db.stats(), app.db.log_stats());
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        body,
    )
        .into_response()
}
