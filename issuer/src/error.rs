//! Everything that can go wrong in the issuer, each variant one thing, with its hint.

use std::path::PathBuf;

/// Everything that can go wrong in the issuer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssuerError {
    /// Bad input or a check in the core failed (the message names the field).
    #[error(transparent)]
    Core(#[from] tuaton_common::Error),
    /// The store could not be read or written.
    #[error(transparent)]
    Store(#[from] tuaton_store::StoreError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// Which file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `init` on a home that already has an issuer.
    #[error("an issuer already exists in {0}")]
    AlreadyInitialised(PathBuf),
    /// Any command before `init`.
    #[error("no issuer in {0}")]
    NotInitialised(PathBuf),
    /// The passphrase did not open the keys.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// No key id matches.
    #[error("no signing key with kid {0}")]
    UnknownKid(String),
    /// No credential id matches.
    #[error("no credential with id {0}")]
    UnknownCredential(String),
    /// All signing keys are retired or revoked.
    #[error("no active signing key")]
    NoActiveKey,
    /// The command line asks for something impossible (an empty name, a threshold above
    /// the number of keys...).
    #[error("{0}")]
    Usage(String),
    /// The issuer store holds data that does not decode (a damaged or altered disk).
    #[error("the issuer store is damaged: {0}")]
    StoreDamaged(String),
    /// A file given as a backup is not one (or not whole).
    #[error("{path} is not a tuaton issuer backup ({why})")]
    NotBackup {
        /// The file.
        path: PathBuf,
        /// What gave it away.
        why: String,
    },
}

impl tuaton_cli::Hint for IssuerError {
    /// What the user should do about it.
    fn hint(&self) -> &'static str {
        match self {
            IssuerError::Core(_) => {
                "correct the input and run the command again; nothing was written"
            }
            IssuerError::Usage(_) => "check the command line with --help",
            IssuerError::StoreDamaged(_) => {
                "restore the issuer from its backup (`tuaton-issuer restore --from FILE`)"
            }
            IssuerError::NotBackup { .. } => "give the file `tuaton-issuer backup --out` wrote",
            IssuerError::Store(e) => tuaton_store::StoreError::hint(e),
            IssuerError::Io { .. } => "check the path exists and is readable/writable",
            IssuerError::AlreadyInitialised(_) => {
                "use another --home, or keep using the existing issuer"
            }
            IssuerError::NotInitialised(_) => {
                "run `tuaton-issuer init --name NAME` first, or pass the right --home"
            }
            IssuerError::WrongPassphrase => {
                "enter the passphrase given at init (or set TUATON_ISSUER_PASSPHRASE)"
            }
            IssuerError::UnknownKid(_) => "list keys with `tuaton-issuer keys`",
            IssuerError::UnknownCredential(_) => {
                "use the credential id printed by `issue` (16 hex digits)"
            }
            IssuerError::NoActiveKey => "run `tuaton-issuer rotate` to create a new signing key",
        }
    }
    fn disk_full(&self) -> bool {
        matches!(
            self,
            IssuerError::Store(tuaton_store::StoreError::DiskFull(_))
        )
    }
}

impl From<sled::Error> for IssuerError {
    fn from(e: sled::Error) -> Self {
        IssuerError::Store(tuaton_store::StoreError::from_sled(
            std::path::Path::new("the issuer store"),
            e,
        ))
    }
}

/// Shorthand.
pub type Result<T, E = IssuerError> = std::result::Result<T, E>;

pub(crate) fn core(e: tuaton_common::Error) -> IssuerError {
    match e {
        tuaton_common::Error::WrongSecret => IssuerError::WrongPassphrase,
        e => IssuerError::Core(e),
    }
}
