//! A trust bundle read from a directory, with the gate's rules: the same index checks and
//! size limits (`tuaton_common::bundle`), and the same root pinning.

use crate::{Result, WalletError};
use std::path::{Path, PathBuf};
use tuaton_common::bundle::{self, Source};
use tuaton_common::trust::{Anchor, TrustState};

/// A bundle directory on disk.
pub struct DirSource(pub PathBuf);

impl Source for DirSource {
    type Error = WalletError;
    fn read(&self, rel: &str, max: u64) -> Result<Vec<u8>> {
        let p = self.0.join(rel);
        let io = |source| WalletError::Io {
            path: p.clone(),
            source,
        };
        tuaton_cli::read_bounded(&p, max)
            .map_err(io)?
            .ok_or_else(|| io(std::io::Error::other(format!("larger than {max} bytes"))))
    }
    fn location(&self) -> String {
        self.0.display().to_string()
    }
}

/// Reads and verifies the bundle in `dir` from `anchor` (a pinned root fingerprint, or
/// trust on first use) as of `now`.
pub fn load(dir: &Path, anchor: Anchor, now: i64) -> Result<TrustState> {
    let src = DirSource(dir.to_path_buf());
    let raw = bundle::fetch(&src, WalletError::Trust)?;
    TrustState::first(&raw.roots, &raw.trust_list, anchor, now).map_err(WalletError::Trust)
}
