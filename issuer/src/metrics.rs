//! What `/metrics` exposes, in Prometheus' text format (version 0.0.4): requests by route
//! and status, their latency, failures by the stable error code, offers, redemptions and
//! refreshes, the time spent signing both forms of a card, and the database pool. Counters
//! live in memory, per instance: Prometheus scrapes each instance and sums.
//!
//! Labels are bounded: a route is axum's matched template (`/bundle/{*path}`, never the
//! requested path) or `unmatched`, a code is one of the service's stable error codes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// A latency histogram: cumulative counts are made when written out.
#[derive(Clone, Copy, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    const fn new() -> Histogram {
        Histogram {
            counts: [0; BUCKETS.len()],
            count: 0,
            sum: 0.0,
        }
    }

    fn observe(&mut self, d: Duration) {
        let s = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| s <= *b) {
            self.counts[i] += 1;
        }
        self.count += 1;
        self.sum += s;
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (b, n) in BUCKETS.iter().zip(self.counts) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {cumulative}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let labels = match labels {
            "" => String::new(),
            l => format!("{{{l}}}"),
        };
        let _ = writeln!(out, "{name}_sum{labels} {}", self.sum);
        let _ = writeln!(out, "{name}_count{labels} {}", self.count);
    }
}

/// Time spent signing both forms of a card, whichever command or request signed it.
static SIGNING: Mutex<Histogram> = Mutex::new(Histogram::new());

/// Records one card's signing time (both forms).
pub(crate) fn observe_signing(d: Duration) {
    SIGNING.lock().expect("not poisoned").observe(d);
}

/// What one instance has counted since it started.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Counted>,
}

#[derive(Default)]
struct Counted {
    requests: BTreeMap<(String, &'static str, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    failures: BTreeMap<&'static str, u64>,
    offers: u64,
    redemptions: u64,
    refreshes: u64,
}

impl Metrics {
    /// One answered request: its route template (axum's, one of the router's own, so the
    /// label's values are bounded; `None` for a path no route matched), method, status and
    /// latency, and the error code when it failed.
    pub(crate) fn request(
        &self,
        route: Option<&str>,
        method: &axum::http::Method,
        status: u16,
        code: Option<&'static str>,
        took: Duration,
    ) {
        let route = route.unwrap_or("unmatched");
        let method = match *method {
            axum::http::Method::GET => "GET",
            axum::http::Method::POST => "POST",
            axum::http::Method::HEAD => "HEAD",
            _ => "other",
        };
        let mut c = self.inner.lock().expect("not poisoned");
        *c.requests
            .entry((route.to_owned(), method, status))
            .or_default() += 1;
        c.latency.entry(route.to_owned()).or_default().observe(took);
        if let Some(code) = code {
            *c.failures.entry(code).or_default() += 1;
        }
        if (200..300).contains(&status) {
            match route {
                "/v1/offers" => c.offers += 1,
                // The compact flow's redemption, or the standard flow's credential request
                // (a re-delivery to the same holder counts again, as on the compact one).
                "/v1/credential" | tuaton_common::oid4vci::CREDENTIAL_PATH => c.redemptions += 1,
                "/v1/refresh" => c.refreshes += 1,
                _ => {}
            }
        }
    }

    /// The text Prometheus scrapes; `pool` is (connections open, most allowed).
    pub fn render(&self, pool: (usize, usize)) -> String {
        let c = self.inner.lock().expect("not poisoned");
        let mut out = String::new();
        let family = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
        };
        family(&mut out, "tuaton_offers_total", "counter", "Offers made.");
        let _ = writeln!(out, "tuaton_offers_total {}", c.offers);
        family(
            &mut out,
            "tuaton_redemptions_total",
            "counter",
            "Offers redeemed (cards issued through the service).",
        );
        let _ = writeln!(out, "tuaton_redemptions_total {}", c.redemptions);
        family(
            &mut out,
            "tuaton_refreshes_total",
            "counter",
            "Cards renewed online.",
        );
        let _ = writeln!(out, "tuaton_refreshes_total {}", c.refreshes);
        family(
            &mut out,
            "tuaton_failures_total",
            "counter",
            "Requests answered with an error, by its stable code.",
        );
        for (code, n) in &c.failures {
            let _ = writeln!(out, "tuaton_failures_total{{code=\"{code}\"}} {n}");
        }
        family(
            &mut out,
            "tuaton_http_requests_total",
            "counter",
            "Requests answered, by route, method and status.",
        );
        for ((route, method, status), n) in &c.requests {
            let _ = writeln!(
                out,
                "tuaton_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
            );
        }
        family(
            &mut out,
            "tuaton_http_request_duration_seconds",
            "histogram",
            "Time from request to answer, by route.",
        );
        for (route, h) in &c.latency {
            h.write(
                &mut out,
                "tuaton_http_request_duration_seconds",
                &format!("route=\"{route}\""),
            );
        }
        family(
            &mut out,
            "tuaton_signing_duration_seconds",
            "histogram",
            "Time to sign both forms of one card.",
        );
        let signing = *SIGNING.lock().expect("not poisoned");
        signing.write(&mut out, "tuaton_signing_duration_seconds", "");
        family(
            &mut out,
            "tuaton_db_pool_connections",
            "gauge",
            "Database connections open.",
        );
        let _ = writeln!(out, "tuaton_db_pool_connections {}", pool.0);
        family(
            &mut out,
            "tuaton_db_pool_max_connections",
            "gauge",
            "Most database connections this instance opens.",
        );
        let _ = writeln!(out, "tuaton_db_pool_max_connections {}", pool.1);
        out
    }
}
