//! Where a gate's bundle comes from: a directory, or a web server or CDN over HTTP(S),
//! each read bounded before it is made.

use crate::{GateError, Result};
use std::path::PathBuf;

/// Where bundle files come from.
pub use tuaton_common::bundle::Source;

/// Where a gate's bundle comes from (a directory, a URL, a prefetched copy).
pub type BundleSource = dyn Source<Error = GateError> + Send + Sync;

/// A bundle directory on disk.
pub struct DirSource(pub PathBuf);
impl Source for DirSource {
    type Error = GateError;
    fn read(&self, rel: &str, max: u64) -> Result<Vec<u8>> {
        let p = self.0.join(rel);
        tuaton_cli::read_bounded(&p, max)
            .map_err(|source| GateError::Io {
                path: p.display().to_string(),
                source,
            })?
            .ok_or_else(|| GateError::TooLarge {
                what: p.display().to_string(),
                max,
            })
    }
    fn location(&self) -> String {
        self.0.display().to_string()
    }
}

/// How long a whole HTTP sync may take, every file included: a server that trickles
/// bytes cannot hold the gate's sync for ever.
pub const HTTP_SYNC_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

/// A bundle served over HTTP(S) (any static host or CDN). Bodies are read through a cap
/// (never buffered whole first), redirects are followed only within the same origin,
/// and the whole sync shares one deadline.
pub struct HttpSource {
    base: String,
    client: reqwest::blocking::Client,
    deadline: std::time::Instant,
    budget: std::time::Duration,
}

impl HttpSource {
    /// A source for `base` whose reads must all finish within `budget`.
    pub fn new(base: &str, budget: std::time::Duration) -> Result<HttpSource> {
        let origin = url_origin(base).ok_or_else(|| GateError::Http {
            url: base.to_owned(),
            reason: "not an http(s) URL with a host".into(),
        })?;
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                attempt.error("too many redirects")
            } else if url_origin(attempt.url().as_str()).as_deref() != Some(origin.as_str()) {
                // A mirror must not send the gate elsewhere (another host, or http from https).
                attempt.error("redirect to another origin refused")
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::blocking::Client::builder()
            .redirect(policy)
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| GateError::Http {
                url: base.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(HttpSource {
            base: base.trim_end_matches('/').to_owned(),
            client,
            deadline: std::time::Instant::now() + budget,
            budget,
        })
    }
}

pub use tuaton_common::bundle::url_origin;

impl Source for HttpSource {
    type Error = GateError;
    fn location(&self) -> String {
        self.base.clone()
    }
    fn read(&self, rel: &str, max: u64) -> Result<Vec<u8>> {
        use std::io::Read;
        let url = format!("{}/{rel}", self.base);
        let err = |reason: String| GateError::Http {
            url: url.clone(),
            reason,
        };
        let timed_out = || {
            err(format!(
                "timed out (a whole sync may take {} s)",
                self.budget.as_secs()
            ))
        };
        let left = self
            .deadline
            .checked_duration_since(std::time::Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(timed_out)?;
        let resp = self.client.get(&url).timeout(left).send().map_err(|e| {
            if e.is_timeout() {
                timed_out()
            } else {
                err(e.to_string())
            }
        })?;
        if !resp.status().is_success() {
            return Err(err(format!("HTTP {}", resp.status())));
        }
        if resp.content_length().is_some_and(|n| n > max) {
            return Err(GateError::TooLarge {
                what: url.clone(),
                max,
            });
        }
        let mut out = Vec::new();
        resp.take(max + 1).read_to_end(&mut out).map_err(|e| {
            if e.kind() == std::io::ErrorKind::TimedOut
                || e.to_string().contains("timed out")
                || std::time::Instant::now() >= self.deadline
            {
                timed_out()
            } else {
                err(e.to_string())
            }
        })?;
        if out.len() as u64 > max {
            return Err(GateError::TooLarge {
                what: url.clone(),
                max,
            });
        }
        Ok(out)
    }
}
