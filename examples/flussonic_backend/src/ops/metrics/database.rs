//! The database's figures, read at each scrape: open sessions (a query), and the
//! writer's and the access-log writer's counters (kept by the `db` module as plain
//! atomics, so that it does not depend on the metrics library).

use std::{
    fmt,
    sync::atomic::{AtomicU64, Ordering},
};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric, prometheus_text},
    metrics::{counter::ConstCounter, gauge::ConstGauge},
    registry::Registry,
};

use crate::db::{log_writer::LogStats, writer::WriterStats};

/// The figures of one scrape.
#[derive(Debug, Clone, Copy)]
pub struct DatabaseSnapshot {
    /// Sessions that have not expired; `None`: the database did not answer.
    pub open_sessions: Option<i64>,
    writer_transactions: u64,
    writer_jobs: u64,
    writer_failures: u64,
    writer_pending: u64,
    wal_pages: i64,
    checkpoints: u64,
    logs_written: u64,
    logs_dropped: u64,
    logs_failed: u64,
    logs_queued: u64,
}

impl DatabaseSnapshot {
    /// The counters as they are now, with `open_sessions` from the scrape's query.
    pub fn read(open_sessions: Option<i64>, writer: &WriterStats, log: &LogStats) -> Self {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Self {
            open_sessions,
            writer_transactions: load(&writer.batches),
            writer_jobs: load(&writer.jobs),
            writer_failures: load(&writer.failures),
            writer_pending: load(&writer.pending),
            wal_pages: writer.wal_pages.load(Ordering::Relaxed),
            checkpoints: load(&writer.checkpoints),
            logs_written: load(&log.written),
            logs_dropped: load(&log.dropped),
            logs_failed: load(&log.failed),
            logs_queued: load(&log.queued),
        }
    }

    /// Appends the snapshot to `out` in the Prometheus text format 0.0.4.
    pub fn encode(self, out: &mut String) -> fmt::Result {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self));
        prometheus_text::encode(out, &registry)
    }
}

/// Gauges hold `i64`; a count beyond it is shown as the largest one.
fn whole(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Collector for DatabaseSnapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        // Counters are named without `_total`, which the encoder appends.
        let mut counter = |name: &str, help: &str, value: u64| {
            let metric = ConstCounter::new(value);
            metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
        };
        counter(
            "flussonic_auth_db_transactions",
            "Writer transactions (each commits a batch).",
            self.writer_transactions,
        )?;
        counter(
            "flussonic_auth_db_writes",
            "Writes run by the writer.",
            self.writer_jobs,
        )?;
        counter(
            "flussonic_auth_db_write_errors",
            "Writes that failed with a database error.",
            self.writer_failures,
        )?;
        counter(
            "flussonic_auth_db_checkpoints",
            "Checkpoints the writer ran at the WAL's limit.",
            self.checkpoints,
        )?;
        counter(
            "flussonic_auth_access_logs_written",
            "Access-log rows written.",
            self.logs_written,
        )?;
        counter(
            "flussonic_auth_access_logs_dropped",
            "Access-log rows dropped: the queue was full.",
            self.logs_dropped,
        )?;
        counter(
            "flussonic_auth_access_logs_failed",
            "Access-log rows lost to a failed write.",
            self.logs_failed,
        )?;
        let mut gauge = |name: &str, help: &str, value: i64| {
            let metric = ConstGauge::new(value);
            metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
        };
        // No sample when the database did not answer: a made-up count would be a lie.
        if let Some(open) = self.open_sessions {
            gauge(
                "flussonic_auth_open_sessions",
                "Sessions that have not expired.",
                open,
            )?;
        }
        gauge(
            "flussonic_auth_database_up",
            "Whether the database answered this scrape.",
            i64::from(self.open_sessions.is_some()),
        )?;
        gauge(
            "flussonic_auth_db_pending_writes",
            "Writes queued for the writer or running.",
            whole(self.writer_pending),
        )?;
        gauge(
            "flussonic_auth_db_wal_pages",
            "Pages in the database's WAL not yet seen checkpointed.",
            self.wal_pages,
        )?;
        gauge(
            "flussonic_auth_access_logs_queued",
            "Access-log rows waiting to be written.",
            whole(self.logs_queued),
        )
    }
}
