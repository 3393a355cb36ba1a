//! What the service's handlers share (the API's and the console's): the issuer, the
//! address it is published at, the clock, the held bundle, the rate limits, the metrics.

use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::pg::PgStore;
use crate::{Issuer, IssuerError, Result};

/// What the handlers share.
pub struct App {
    /// The issuer, keys unlocked.
    pub issuer: Arc<Issuer<PgStore>>,
    /// The address wallets reach this service at (it goes into offers, and holder proofs
    /// are bound to it).
    pub public_url: String,
    /// The clock (fixed in tests with `--at`).
    pub now: fn() -> i64,
    /// Redemptions and refreshes per client address (`None`: no limit).
    pub redeem_limit: Option<RateLimit>,
    /// The reverse proxy in front, whose `X-Forwarded-For` names the client (`None`: the
    /// peer is the client).
    pub trusted_proxy: Option<std::net::IpAddr>,
    /// Their buckets.
    pub limiter: Limiter,
    /// The published bundle, held in memory for `/bundle/`.
    pub bundles: BundleCache,
    /// What `/metrics` reports.
    pub metrics: crate::metrics::Metrics,
    /// The key of `c_nonce` values, shared by every instance through the database; read
    /// at the first nonce.
    pub nonce_key: tokio::sync::OnceCell<[u8; 32]>,
}

/// The published bundle as the service serves it: every file held in memory, reloaded
/// only when a publish made a new generation. A gate's sync costs the database one
/// indexed read (the newest generation, when it asks for `index.json`); the other files,
/// named by their version or content hash, cost none and carry immutable cache headers,
/// so a CDN or any caching proxy in front serves them for ever. Requests read the held
/// copy under a lock held only to clone a pointer; one reload runs at a time, off it.
#[derive(Default)]
pub struct BundleCache {
    held: std::sync::RwLock<Arc<Held>>,
    reload: tokio::sync::Mutex<()>,
    reads: std::sync::atomic::AtomicU64,
    /// When a file missing from the held copy last made it ask the database for a newer
    /// generation (another instance behind the same balancer may have served its index).
    miss_checked: std::sync::Mutex<Option<std::time::Instant>>,
}

#[derive(Default)]
struct Held {
    loaded: bool,
    generation: i64,
    files: std::collections::HashMap<String, Bytes>,
}

/// How long a cache may keep `index.json` before asking again (the other files never
/// change under their names).
pub const INDEX_MAX_AGE_SECS: u32 = 60;

/// How often a request for a file the held copy lacks may make the service look for a
/// newer generation: a flood of requests for missing files costs the database one read a
/// second.
const MISS_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

impl BundleCache {
    /// How many times it has read the database (for the fleet bench and operators).
    pub fn database_reads(&self) -> u64 {
        self.reads.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn count_read(&self) {
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn current(&self) -> Arc<Held> {
        self.held.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The held copy, reloaded first unless it is loaded and of generation `at_least` or
    /// newer (generations only grow). Concurrent callers wait for one reload.
    async fn at_least(&self, issuer: &Issuer<PgStore>, at_least: i64) -> Result<Arc<Held>> {
        let cur = self.current();
        if cur.loaded && cur.generation >= at_least {
            return Ok(cur);
        }
        let _one = self.reload.lock().await;
        let cur = self.current();
        if cur.loaded && cur.generation >= at_least {
            return Ok(cur);
        }
        self.count_read();
        let (generation, files) = issuer.bundle_files().await?;
        let fresh = Arc::new(Held {
            loaded: true,
            generation,
            files: files
                .into_iter()
                .map(|(p, b)| (p, Bytes::from(b)))
                .collect(),
        });
        *self.held.write().unwrap_or_else(|e| e.into_inner()) = fresh.clone();
        Ok(fresh)
    }

    /// The file at `path` of the newest generation: for `index.json`, after checking
    /// that no publish came since the copy was loaded; for another file, from the copy,
    /// or (missing, at most once a second) after the same check.
    pub(crate) async fn get(&self, issuer: &Issuer<PgStore>, path: &str) -> Result<Option<Bytes>> {
        if path == tuaton_common::bundle::INDEX {
            self.count_read();
            let newest = issuer.bundle_generation().await?;
            let held = self.at_least(issuer, newest).await?;
            return Ok(held.files.get(path).cloned());
        }
        let held = self.at_least(issuer, 0).await?;
        if let Some(b) = held.files.get(path) {
            return Ok(Some(b.clone()));
        }
        let due = {
            let mut last = self.miss_checked.lock().unwrap_or_else(|e| e.into_inner());
            let due = last.is_none_or(|t| t.elapsed() >= MISS_CHECK_INTERVAL);
            if due {
                *last = Some(std::time::Instant::now());
            }
            due
        };
        if !due {
            return Ok(None);
        }
        self.count_read();
        let newest = issuer.bundle_generation().await?;
        Ok(self
            .at_least(issuer, newest)
            .await?
            .files
            .get(path)
            .cloned())
    }
}

impl App {
    /// The client's address: the peer's, or behind the trusted proxy the last address it
    /// appended to `X-Forwarded-For` (earlier entries are the client's own word).
    pub(crate) fn client(
        &self,
        peer: Option<&ConnectInfo<SocketAddr>>,
        headers: &HeaderMap,
    ) -> Option<std::net::IpAddr> {
        let ip = peer?.0.ip();
        if Some(ip) != self.trusted_proxy {
            return Some(ip);
        }
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .and_then(|a| a.trim().parse().ok())
            .or(Some(ip))
    }

    pub(crate) async fn nonce_key(&self) -> Result<[u8; 32]> {
        self.nonce_key
            .get_or_try_init(|| self.issuer.shared_secret("c_nonce"))
            .await
            .copied()
    }

    pub(crate) fn admit(
        &self,
        peer: Option<&ConnectInfo<SocketAddr>>,
        headers: &HeaderMap,
    ) -> Result<()> {
        match (self.redeem_limit, self.client(peer, headers)) {
            (Some(l), Some(ip)) if !self.limiter.allow(ip, l) => Err(IssuerError::RateLimited),
            _ => Ok(()),
        }
    }
}

/// Redemptions and refreshes allowed per client address: a burst, then a steady rate.
#[derive(Clone, Copy, Debug)]
pub struct RateLimit {
    /// Requests a client may make at once.
    pub burst: u32,
    /// Requests per second after that.
    pub per_sec: u32,
}

impl RateLimit {
    /// A wallet redeems once; a busy office's NAT a few per minute. Generous, but a
    /// client hammering the code-guessing endpoints is slowed to this.
    pub const DEFAULT: RateLimit = RateLimit {
        burst: 30,
        per_sec: 10,
    };
}

/// Token buckets per client address, for the redemption endpoints. Bounded: past 100,000
/// addresses the table starts over (an attacker with that many addresses is not slowed by
/// a table anyway).
#[derive(Default)]
pub struct Limiter {
    buckets:
        std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, (f64, std::time::Instant)>>,
}

impl Limiter {
    fn allow(&self, ip: std::net::IpAddr, limit: RateLimit) -> bool {
        // One IPv6 client holds a whole /64: its addresses share one bucket.
        let ip = match ip {
            std::net::IpAddr::V6(v6) => std::net::IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !((1u128 << 64) - 1),
            )),
            v4 => v4,
        };
        let now = std::time::Instant::now();
        let mut b = self.buckets.lock().expect("not poisoned");
        if b.len() > 100_000 {
            // Forget clients quiet for a minute (their buckets are full again anyway).
            b.retain(|_, (_, last)| now.duration_since(*last).as_secs() < 60);
        }
        let (tokens, last) = b.entry(ip).or_insert((f64::from(limit.burst), now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * f64::from(limit.per_sec))
            .min(f64::from(limit.burst));
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
