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

/// A bundle served over HTTP(S) (any static host or CDN), through the programs' one
/// bounded client ([`tuaton_cli::net`]): bodies capped, redirects within the origin, one
/// deadline for the whole sync.
pub type HttpSource = tuaton_cli::net::HttpSource<GateError>;

pub use tuaton_common::bundle::url_origin;

/// The source `SOURCE` names: an http(s) URL (its whole sync within
/// [`HTTP_SYNC_DEADLINE`]) or a directory. The one place that tells them apart.
pub fn bundle_source(source: &str) -> Result<Box<BundleSource>> {
    if source.starts_with("http://") || source.starts_with("https://") {
        Ok(Box::new(
            HttpSource::new(source, HTTP_SYNC_DEADLINE).map_err(GateError::from)?,
        ))
    } else {
        Ok(Box::new(DirSource(PathBuf::from(source))))
    }
}
