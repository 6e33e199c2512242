//! Prometheus metrics: one registry per process and every metric any Switchyard process
//! records, defined once so names, labels and help texts cannot drift between binaries
//! (docs/OPERATIONS.md lists them).
//!
//! Labels carry only aggregate values (route patterns, statuses, stream kinds), never an
//! org, attempt or user id: `/metrics` is platform-wide and readable without an org.
//! Each process builds one [`Metrics`] and passes it explicitly (no global registry), so
//! two apps in one test process count apart.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Prefix of every metric name.
const NAMESPACE: &str = "switchyard";

/// Request latency buckets, in seconds: 5 ms to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Queue wait buckets, in seconds: 10 ms to an hour (an org at its limit waits long).
const QUEUE_WAIT_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0,
];

/// The metrics of one process. Cloning is cheap and shares the same series.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Requests answered, by method, matched route pattern (`unmatched` when none) and status.
    pub http_requests: IntCounterVec,
    /// Time to answer, by method and route pattern (for SSE: until the headers).
    pub http_request_duration: HistogramVec,
    /// SSE streams open now, by stream kind (`events`, `logs`, `diff`).
    pub sse_connections: IntGaugeVec,
    /// Entries in the attempt queue (set at scrape time from Redis).
    pub queue_depth: IntGauge,
    /// Seconds an attempt waited `queued` before the scheduler scheduled it.
    pub queue_wait: Histogram,
    /// Attempts by status (set at scrape time from Postgres).
    pub attempts: IntGaugeVec,
    /// Running attempts whose worker's lease expired and the reaper took back.
    pub lease_expiries: IntCounter,
    /// Failed calls to the object store.
    pub s3_errors: IntCounter,
    /// Failed Redis commands the process noticed (a pass or a request that failed on one).
    pub redis_errors: IntCounter,
    /// GitHub webhook deliveries processed, by outcome (`processed`, `ignored`, `retry`,
    /// `failed`).
    pub webhook_deliveries: IntCounterVec,
}

impl Metrics {
    /// A fresh registry holding every metric, all at zero. Fails only if a definition
    /// below is invalid (a bad name, a label repeated), which the tests would show.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new_custom(Some(NAMESPACE.to_owned()), None)?;
        let metrics = Metrics {
            http_requests: IntCounterVec::new(
                Opts::new("http_requests_total", "HTTP requests answered"),
                &["method", "route", "status"],
            )?,
            http_request_duration: HistogramVec::new(
                HistogramOpts::new(
                    "http_request_duration_seconds",
                    "Time to answer an HTTP request",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["method", "route"],
            )?,
            sse_connections: IntGaugeVec::new(
                Opts::new("sse_connections", "SSE streams open now"),
                &["stream"],
            )?,
            queue_depth: IntGauge::new("queue_depth", "Entries in the attempt queue")?,
            queue_wait: Histogram::with_opts(
                HistogramOpts::new(
                    "queue_wait_seconds",
                    "Time an attempt waited queued before it was scheduled",
                )
                .buckets(QUEUE_WAIT_BUCKETS.to_vec()),
            )?,
            attempts: IntGaugeVec::new(Opts::new("attempts", "Attempts by status"), &["status"])?,
            lease_expiries: IntCounter::new(
                "lease_expiries_total",
                "Running attempts whose worker lease expired",
            )?,
            s3_errors: IntCounter::new("s3_errors_total", "Failed object-store calls")?,
            redis_errors: IntCounter::new("redis_errors_total", "Failed Redis commands")?,
            webhook_deliveries: IntCounterVec::new(
                Opts::new(
                    "webhook_deliveries_total",
                    "GitHub webhook deliveries processed, by outcome",
                ),
                &["outcome"],
            )?,
            registry,
        };
        let collectors: [Box<dyn prometheus::core::Collector>; 10] = [
            Box::new(metrics.http_requests.clone()),
            Box::new(metrics.http_request_duration.clone()),
            Box::new(metrics.sse_connections.clone()),
            Box::new(metrics.queue_depth.clone()),
            Box::new(metrics.queue_wait.clone()),
            Box::new(metrics.attempts.clone()),
            Box::new(metrics.lease_expiries.clone()),
            Box::new(metrics.s3_errors.clone()),
            Box::new(metrics.redis_errors.clone()),
            Box::new(metrics.webhook_deliveries.clone()),
        ];
        for c in collectors {
            metrics.registry.register(c)?;
        }
        Ok(metrics)
    }

    /// Every metric in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec fails only on invalid metric families, which `new` rules out.
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "could not encode metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }

    /// Observes one attempt's wait between queued and scheduled.
    pub fn observe_queue_wait(&self, seconds: f64) {
        self.queue_wait.observe(seconds.max(0.0));
    }

    /// Counts a Redis failure when `error`'s chain holds one (for `anyhow` errors of a pass).
    pub fn count_redis_error_in(&self, error: &anyhow::Error) {
        if error
            .chain()
            .any(|cause| cause.downcast_ref::<redis::RedisError>().is_some())
        {
            self.redis_errors.inc();
        }
    }
}

/// Counts one SSE stream as open until dropped (the stream's body holds it).
pub struct OpenStream(IntGauge);

impl OpenStream {
    /// Marks a stream of `kind` open on `metrics`.
    pub fn open(metrics: &Metrics, kind: &str) -> OpenStream {
        let gauge = metrics.sse_connections.with_label_values(&[kind]);
        gauge.inc();
        OpenStream(gauge)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_metrics_carry_the_namespace_and_labels() {
        let m = Metrics::new().expect("valid metrics");
        m.http_requests
            .with_label_values(&["GET", "/api/v1/orgs/{org}", "200"])
            .inc();
        {
            let _open = OpenStream::open(&m, "events");
            assert!(
                m.render()
                    .contains("switchyard_sse_connections{stream=\"events\"} 1")
            );
        }
        let text = m.render();
        assert!(text.contains(
            "switchyard_http_requests_total{method=\"GET\",route=\"/api/v1/orgs/{org}\",status=\"200\"} 1"
        ));
        assert!(text.contains("switchyard_sse_connections{stream=\"events\"} 0"));
        assert!(text.contains("# TYPE switchyard_lease_expiries_total counter"));
    }
}
