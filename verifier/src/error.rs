//! Everything that can go wrong at the gate, each variant one thing, with its hint.

/// Everything that can go wrong at the gate (a rejected presentation is a [`Verdict`](tuaton_common::verify::Verdict),
/// not an error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GateError {
    /// Trust data failed a check (rollback, threshold, mix-and-match, bad proof...).
    #[error("trust bundle refused: {0}")]
    Trust(tuaton_common::Error),
    /// A bundle file failed the bundle layout's checks (index schema, paths, sizes); the
    /// message names the bundle and the file.
    #[error("trust bundle in {location} refused: {error}")]
    Bundle {
        /// The directory or URL.
        location: String,
        /// What is wrong, naming the file.
        error: tuaton_common::Error,
    },
    /// The connection to a phone (socket or Bluetooth LE) could not be made or broke.
    #[error("{what}: {reason}")]
    Transport {
        /// Which address or radio.
        what: String,
        /// The OS's or the stack's words.
        reason: String,
    },

    /// The gate store could not be read or written.
    #[error(transparent)]
    Store(#[from] tuaton_store::StoreError),
    /// A bundle file or image could not be read.
    #[error("{path}: {source}")]
    Io {
        /// What.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Fetching a bundle over HTTP failed.
    #[error("fetching {url}: {reason}")]
    Http {
        /// What.
        url: String,
        /// Why.
        reason: String,
    },
    /// Nothing synced yet.
    #[error("no trust bundle synced")]
    NoBundle,
    /// A first sync with no root pinned (or a store from before pinning).
    #[error("this gate trusts no root yet, and none was pinned")]
    NotProvisioned,
    /// A file or body larger than its limit.
    #[error("{what} is larger than {max} bytes")]
    TooLarge {
        /// Which file or URL.
        what: String,
        /// The limit.
        max: u64,
    },
    /// The TUI was asked for without a terminal.
    #[error("the gate screen needs a terminal, and standard input or output is not one")]
    NoTerminal,
    /// The gate store holds data that does not parse.
    #[error("the gate store is damaged: {0} does not parse")]
    StoreDamaged(&'static str),
    /// An image held no readable QR code (nor, where one was wanted, a boarding pass).
    #[error("no ID QR code found in {0}")]
    NoQr(String),
    /// The gate's ISO 18013-5 reader certificate is missing, does not check, or is not
    /// for this gate's reader key.
    #[error("reader certificate: {0}")]
    ReaderCertificate(String),
    /// The command line asks for something inconsistent or impossible.
    #[error("{0}")]
    Usage(String),
}

impl tuaton_cli::Hint for GateError {
    /// What the user should do about it.
    fn hint(&self) -> &'static str {
        match self {
            GateError::Trust(_) | GateError::Bundle { .. } => {
                "the previous bundle stays in use; check the source is the issuer's real bundle"
            }
            GateError::Transport { .. } => "check the phone is near and its engagement QR is fresh, then scan it again",

            GateError::Store(e) => tuaton_store::StoreError::hint(e),
            GateError::Io { .. } => "check the path exists and is readable",
            GateError::Http { .. } => {
                "check the URL and the network, or sync from a directory copy"
            }
            GateError::NoBundle => "run `tuaton-verifier sync DIR-or-URL --expect-root FINGERPRINT` first",
            GateError::NotProvisioned => "sync with --expect-root FINGERPRINT (from `tuaton-issuer keys`), or --trust-on-first-use",
            GateError::TooLarge { .. } => "the source is not a tuaton bundle, or is under attack: use the issuer's real bundle",
            GateError::NoTerminal => "run it in a terminal, or use `tuaton-verifier check` from scripts",
            GateError::StoreDamaged(_) => "move --home aside and sync again with --expect-root",
            GateError::NoQr(_) => "use a sharper, well-lit image of the QR code or boarding pass",
            GateError::ReaderCertificate(_) => "print this gate's key with `tuaton-verifier reader-key`, get a reader certificate for it from the airport authority, then install it with `tuaton-verifier reader-cert FILE`",
            GateError::Usage(_) => "check the command line with --help",
        }
    }
    fn disk_full(&self) -> bool {
        matches!(
            self,
            GateError::Store(tuaton_store::StoreError::DiskFull(_))
        )
    }
}

/// The shared HTTP client's and picture decoder's errors, in the gate's words.
impl From<tuaton_cli::CliError> for GateError {
    fn from(e: tuaton_cli::CliError) -> Self {
        use tuaton_cli::CliError as C;
        match e {
            C::TooLarge { url, max } => GateError::TooLarge { what: url, max },
            C::Unreachable { url, reason } => GateError::Http { url, reason },
            C::HttpStatus { url, status } => GateError::Http {
                url,
                reason: format!("it answered HTTP {status}"),
            },
            C::TimedOut { ref url, .. } => GateError::Http {
                url: url.clone(),
                reason: e.to_string(),
            },
            C::Picture { path, reason } => GateError::Io {
                path,
                source: std::io::Error::other(reason),
            },
            other => GateError::Usage(other.to_string()),
        }
    }
}

impl From<sled::Error> for GateError {
    fn from(e: sled::Error) -> Self {
        GateError::Store(tuaton_store::StoreError::from_sled(
            std::path::Path::new("the gate store"),
            e,
        ))
    }
}

/// Shorthand.
pub type Result<T, E = GateError> = std::result::Result<T, E>;
