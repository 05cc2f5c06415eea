//! What the backend records as it works: `/auth` decisions by result and reason, their
//! latency, and the cleanup's deletions. The metrics are prometheus-client's; each
//! `/auth` answer costs an atomic add and a histogram observation.

use std::{fmt, time::Duration};

use prometheus_client::{
    encoding::{EncodeLabelSet, prometheus_text},
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};

use crate::flussonic::decision::Reason;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS_SECONDS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The labels of `flussonic_auth_decisions_total`, in the order they are written.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    /// `allowed`, `denied`, or `error` (no decision: the database did not answer).
    result: &'static str,
    /// The reason code, or `backend_unavailable`.
    reason: &'static str,
}

/// The recorded metrics and the registry that writes them out.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// One counter of the decisions family per reason, in [`Reason::ALL`]'s order,
    /// created up front: every reason is exported from the start (at 0), and counting
    /// one needs no lookup in the family.
    decisions: Vec<Counter>,
    undecided: Counter,
    latency: Histogram,
    sessions_cleaned: Counter,
    logs_deleted: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric at zero. (Counters are registered without `_total`, which the
    /// encoder appends, so `flussonic_auth_decisions` is exported as
    /// `flussonic_auth_decisions_total`.)
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let family = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "flussonic_auth_decisions",
            "/auth answers by result and reason",
            family.clone(),
        );
        let counter =
            |result, reason| Counter::clone(&family.get_or_create(&DecisionLabels { result, reason }));
        let decisions = Reason::ALL
            .iter()
            .map(|reason| {
                let result = if reason.allowed() { "allowed" } else { "denied" };
                counter(result, reason.code())
            })
            .collect();
        let undecided = counter("error", "backend_unavailable");
        let latency = Histogram::new(BUCKETS_SECONDS);
        registry.register(
            "flussonic_auth_request_duration_seconds",
            "Time to answer /auth",
            latency.clone(),
        );
        let sessions_cleaned = Counter::default();
        registry.register(
            "flussonic_auth_sessions_cleaned",
            "Expired sessions deleted",
            sessions_cleaned.clone(),
        );
        let logs_deleted = Counter::default();
        registry.register(
            "flussonic_auth_access_logs_deleted",
            "Access-log rows deleted by retention",
            logs_deleted.clone(),
        );
        Self {
            registry,
            decisions,
            undecided,
            latency,
            sessions_cleaned,
            logs_deleted,
        }
    }

    /// Counts one `/auth` answer (`None`: the backend could not decide) and its latency.
    pub fn observe(&self, reason: Option<Reason>, elapsed: Duration) {
        let counter = match reason {
            Some(reason) => self.decisions.get(reason.index()),
            None => Some(&self.undecided),
        };
        if let Some(counter) = counter {
            counter.inc();
        }
        self.latency.observe(elapsed.as_secs_f64());
    }

    /// Counts a cleanup's deletions.
    pub fn cleaned(&self, sessions: usize, logs: usize) {
        self.sessions_cleaned.inc_by(sessions as u64);
        self.logs_deleted.inc_by(logs as u64);
    }

    /// Appends these metrics to `out` in the Prometheus text format 0.0.4.
    pub fn encode(&self, out: &mut String) -> fmt::Result {
        prometheus_text::encode(out, &self.registry)
    }
}
