//! The operator's metrics, kept in a Prometheus registry of this
//! application's own (so several apps in one process, as in the test
//! suites, never mix their counts) and rendered in the text exposition
//! format 0.0.4 by the `prometheus` crate.
//!
//! Label values are outcomes, reasons, methods, route patterns and status
//! codes only: never a username, a token or a client address, so the
//! number of series stays bounded whatever clients send.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use gatehouse_application::ports::{LoginOutcome, Metrics, RefreshOutcome, RevocationReason};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
    exponential_buckets,
};

/// What reads the number of hashes waiting, at export time.
type QueueProbe = Box<dyn Fn() -> usize + Send + Sync>;

/// The metric families of one application. Cheap to clone (clones share
/// the counts).
#[derive(Clone)]
pub struct PrometheusMetrics {
    inner: Arc<Families>,
}

struct Families {
    registry: Registry,
    requests: IntCounterVec,
    request_seconds: HistogramVec,
    logins: IntCounterVec,
    refreshes: IntCounterVec,
    revoked: IntCounterVec,
    hash_seconds: Histogram,
    hash_waiting: IntGauge,
    queue: Mutex<Option<QueueProbe>>,
}

impl std::fmt::Debug for PrometheusMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusMetrics").finish_non_exhaustive()
    }
}

impl Default for PrometheusMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl PrometheusMetrics {
    /// Every family of the contract, with the listed label values at 0.
    ///
    /// # Panics
    /// Never in practice: the names and labels are fixed and valid, and a
    /// fresh registry has none of them yet.
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let family = IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter");
            registry.register(Box::new(family.clone())).expect("registered once");
            family
        };
        let requests = counter(
            "gatehouse_http_requests_total",
            "HTTP requests answered, by method, route pattern and status.",
            &["method", "route", "status"],
        );
        let logins = counter("gatehouse_logins_total", "Login attempts, by outcome.", &["outcome"]);
        let refreshes = counter("gatehouse_refreshes_total", "Refresh-token presentations, by outcome.", &["outcome"]);
        let revoked = counter("gatehouse_sessions_revoked_total", "Sessions revoked, by reason.", &["reason"]);
        // 1 ms to about 16 s.
        let buckets = exponential_buckets(0.001, 2.0, 15).expect("valid buckets");
        let request_seconds = HistogramVec::new(
            HistogramOpts::new(
                "gatehouse_http_request_duration_seconds",
                "Time to answer a request, by method and route.",
            )
            .buckets(buckets.clone()),
            &["method", "route"],
        )
        .expect("valid histogram");
        registry.register(Box::new(request_seconds.clone())).expect("registered once");
        let hash_seconds = Histogram::with_opts(
            HistogramOpts::new("gatehouse_password_hash_seconds", "Time one argon2id hash or verification ran.")
                .buckets(buckets),
        )
        .expect("valid histogram");
        registry.register(Box::new(hash_seconds.clone())).expect("registered once");
        let hash_waiting =
            IntGauge::new("gatehouse_password_hash_waiting", "Hashes waiting for a hashing thread.").expect("gauge");
        registry.register(Box::new(hash_waiting.clone())).expect("registered once");
        for outcome in LoginOutcome::ALL {
            logins.with_label_values(&[outcome.as_str()]);
        }
        for outcome in RefreshOutcome::ALL {
            refreshes.with_label_values(&[outcome.as_str()]);
        }
        for reason in RevocationReason::ALL {
            revoked.with_label_values(&[reason.as_str()]);
        }
        Self {
            inner: Arc::new(Families {
                registry,
                requests,
                request_seconds,
                logins,
                refreshes,
                revoked,
                hash_seconds,
                hash_waiting,
                queue: Mutex::new(None),
            }),
        }
    }

    /// Times every hash `hasher` runs, and reads its queue at each export.
    pub fn watch_hasher(&self, hasher: &crate::Argon2Hasher) {
        let observed = self.clone();
        hasher.observe_with(move |took| observed.observe_hash(took));
        let queue = hasher.clone();
        self.watch_hash_queue(move || queue.waiting());
    }

    /// Counts one password hash or verification that ran for `took`.
    pub fn observe_hash(&self, took: Duration) {
        self.inner.hash_seconds.observe(took.as_secs_f64());
    }

    /// Reads the hash queue's length through `probe` at each export.
    pub fn watch_hash_queue(&self, probe: impl Fn() -> usize + Send + Sync + 'static) {
        *self.inner.queue.lock().unwrap_or_else(PoisonError::into_inner) = Some(Box::new(probe));
    }
}

impl Metrics for PrometheusMetrics {
    fn login(&self, outcome: LoginOutcome) {
        self.inner.logins.with_label_values(&[outcome.as_str()]).inc();
    }

    fn refresh(&self, outcome: RefreshOutcome) {
        self.inner.refreshes.with_label_values(&[outcome.as_str()]).inc();
    }

    fn sessions_revoked(&self, reason: RevocationReason, count: usize) {
        self.inner.revoked.with_label_values(&[reason.as_str()]).inc_by(u64::try_from(count).unwrap_or(u64::MAX));
    }

    fn request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.inner.requests.with_label_values(&[method, route, &status.to_string()]).inc();
        self.inner.request_seconds.with_label_values(&[method, route]).observe(seconds);
    }

    fn export(&self) -> Option<String> {
        if let Some(probe) = self.inner.queue.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
            self.inner.hash_waiting.set(i64::try_from(probe()).unwrap_or(i64::MAX));
        }
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.inner.registry.gather(), &mut out).ok()?;
        String::from_utf8(out).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_exists_from_the_start_with_its_listed_labels_at_zero() {
        let text = PrometheusMetrics::new().export().unwrap();
        for line in [
            "# TYPE gatehouse_logins_total counter",
            "gatehouse_logins_total{outcome=\"mfa_required\"} 0",
            "gatehouse_refreshes_total{outcome=\"grace\"} 0",
            "gatehouse_sessions_revoked_total{reason=\"password_change\"} 0",
            "# TYPE gatehouse_password_hash_seconds histogram",
            "gatehouse_password_hash_waiting 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing from:\n{text}");
        }
    }

    #[test]
    fn outcomes_requests_and_the_queue_are_counted() {
        let metrics = PrometheusMetrics::new();
        metrics.login(LoginOutcome::Throttled);
        metrics.sessions_revoked(RevocationReason::Logout, 3);
        metrics.request("GET", "/admin/users/{id}", 404, 0.002);
        metrics.watch_hash_queue(|| 7);
        let text = metrics.export().unwrap();
        assert!(text.contains("gatehouse_logins_total{outcome=\"throttled\"} 1"), "{text}");
        assert!(text.contains("gatehouse_sessions_revoked_total{reason=\"logout\"} 3"), "{text}");
        assert!(
            text.contains("gatehouse_http_requests_total{method=\"GET\",route=\"/admin/users/{id}\",status=\"404\"} 1"),
            "{text}"
        );
        assert!(text.contains("gatehouse_password_hash_waiting 7"), "{text}");
    }
}
