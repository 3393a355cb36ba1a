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
    AlreadyInitialised(crate::seam::Place),
    /// Any command before `init`.
    #[error("no issuer in {0}")]
    NotInitialised(crate::seam::Place),
    /// The passphrase did not open the keys.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// No key id matches.
    #[error("no signing key with kid {0}")]
    UnknownKid(String),
    /// No credential id matches.
    #[error("no credential with id {0}")]
    UnknownCredential(String),
    /// The credential was revoked for cause: it is never renewed.
    #[error("credential {0} is revoked")]
    Revoked(String),
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
    /// PostgreSQL is unreachable, or refused a statement (the reason says which).
    #[error("the database: {0}")]
    Database(String),
    /// The PKCS#11 token could not be opened, or refused an operation.
    #[error("the key token: {0}")]
    Token(String),
    /// No offer has this code (never made, or the code was altered).
    #[error("no such credential offer (was the code altered?)")]
    UnknownOffer,
    /// The offer was already redeemed by another wallet.
    #[error("this credential offer has already been used")]
    OfferUsed,
    /// This wallet redeemed the offer, but the card can no longer be sent again: it is
    /// kept for re-delivery only until the offer expires.
    #[error("this wallet already redeemed this offer, and its card can no longer be sent again: the offer has expired")]
    RedeliveryOver,
    /// Concurrent issuances took the status place this one chose, every time it tried;
    /// nothing was issued.
    #[error("the issuer is busy: {0}; nothing was issued")]
    Busy(&'static str),
    /// The keys are kept elsewhere than the command says: in a PKCS#11 token while no
    /// token was given, or sealed under the passphrase while one was.
    #[error("{0}")]
    KeysElsewhere(&'static str),
    /// A key operation before the keys were unlocked (a caller's mistake).
    #[error("the issuer's keys are not unlocked")]
    KeysLocked,
    /// `revoke-key` of the active key with no staged key to take over.
    #[error("{0} is the active signing key and no new key is staged")]
    NoStagedKey(String),
    /// Too few of the current root's keys are here to sign the next root.
    #[error("root {version} needs {need} signatures and only {have} of its keys are here")]
    NotEnoughRootKeys {
        /// The current root's version.
        version: u64,
        /// Its threshold.
        need: u32,
        /// Keys present.
        have: u32,
    },
    /// `office add` with the name of an office that is not revoked.
    #[error("an office named \"{0}\" exists")]
    OfficeExists(String),
    /// `office revoke` of a name no active office has.
    #[error("no active office named \"{0}\"")]
    NoSuchOffice(String),
    /// The offer's time ran out before it was redeemed.
    #[error("this credential offer has expired")]
    OfferExpired,
    /// Too many wrong transaction codes: the offer is closed for good.
    #[error("this credential offer is closed after too many wrong transaction codes")]
    OfferClosed,
    /// The transaction code does not match the offer.
    #[error("wrong transaction code ({left} tries left)")]
    WrongTxCode {
        /// Tries left before the offer closes.
        left: i32,
    },
    /// An access token of the standard flow that is unknown or has expired.
    #[error("the access token is unknown or has expired")]
    AccessTokenInvalid,
    /// A token request of a grant type other than the pre-authorised code.
    #[error("only the pre-authorized code grant is supported")]
    UnsupportedGrantType,
    /// A credential request for a configuration the issuer does not offer.
    #[error("no credential configuration {0:?}: this issuer offers tuaton_id_card and tuaton_id_card_ldp")]
    UnknownConfiguration(String),
    /// The key proof's `nonce` is not one of the service's `c_nonce` values, or is old.
    #[error("the key proof's nonce is not a fresh one of this service: fetch one from the nonce endpoint and sign again")]
    StaleNonce,
    /// A console sign-in with an unknown name, a wrong password, or for an account locked
    /// after too many (which of the three is not said).
    #[error("wrong name or password")]
    WrongPassword,
    /// `officer revoke` of a name no active officer has.
    #[error("no active officer named \"{0}\"")]
    NoSuchOfficer(String),
    /// `officer add` with the name of an active officer.
    #[error("an officer named \"{0}\" exists")]
    OfficerExists(String),
    /// The office credential is unknown, revoked or malformed.
    #[error("the office credential is not accepted")]
    BadOfficeCredential,
    /// An office credential asked for an admin operation.
    #[error("this operation needs an admin credential")]
    NotAdmin,
    /// A client sent more redemptions or refreshes than its rate allows.
    #[error("too many requests from this address; wait a moment")]
    RateLimited,
    /// A request to the service was malformed (a field missing or of the wrong shape).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The issuance service answered with an error.
    #[error("the issuance service refused: {message}")]
    Service {
        /// HTTP status.
        status: u16,
        /// The service's error code.
        code: String,
        /// Its message.
        message: String,
    },
    /// The issuance service could not be reached, or its answer was unreadable.
    #[error("could not reach the issuance service at {url}: {reason}")]
    Unreachable {
        /// The service URL.
        url: String,
        /// Why.
        reason: String,
    },
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
            IssuerError::AlreadyInitialised(crate::seam::Place::Home(_)) => {
                "use another --home, or keep using the existing issuer"
            }
            IssuerError::AlreadyInitialised(crate::seam::Place::Database) => {
                "give --database another (empty) database, or keep using the existing issuer"
            }
            IssuerError::NotInitialised(crate::seam::Place::Home(_)) => {
                "run `tuaton-issuer init --name NAME` first, or pass the right --home"
            }
            IssuerError::NotInitialised(crate::seam::Place::Database) => {
                "run `tuaton-issuer --database URL init --name NAME` first, or check --database names the right database"
            }
            IssuerError::WrongPassphrase => {
                "enter the passphrase given at init (or set TUATON_ISSUER_PASSPHRASE)"
            }
            IssuerError::UnknownKid(_) => "list keys with `tuaton-issuer keys`",
            IssuerError::UnknownCredential(_) => {
                "use the credential id printed by `issue` (16 hex digits)"
            }
            IssuerError::Revoked(_) => {
                "a revoked card is not renewed: enrol again at a registration office"
            }
            IssuerError::NoActiveKey => {
                "run `tuaton-issuer rotate`, then `tuaton-issuer publish` to activate the new key"
            }
            IssuerError::Database(_) => {
                "check the PostgreSQL server is running and --database is right; nothing was issued"
            }
            IssuerError::Token(_) => {
                "check --pkcs11-module, --token-label and the token PIN (TUATON_TOKEN_PIN)"
            }
            IssuerError::UnknownOffer => "scan the offer again, or ask the officer for a new one",
            IssuerError::OfferUsed | IssuerError::OfferExpired | IssuerError::OfferClosed => {
                "ask the officer for a new offer; nothing was issued from this one"
            }
            IssuerError::Busy(_) => "try again in a moment",
            IssuerError::KeysElsewhere(_) => {
                "give --pkcs11-module and --token-label for keys in a token, neither for sealed keys"
            }
            IssuerError::KeysLocked => "unlock the keys first (this is a bug of the caller)",
            IssuerError::NoStagedKey(_) => {
                "run `tuaton-issuer rotate` first (the staged key takes over), then revoke-key, then publish"
            }
            IssuerError::NotEnoughRootKeys { .. } => {
                "run it where the root keys are (--root-keys at init made them), or with the token that holds them"
            }
            IssuerError::OfficeExists(_) => "revoke it first (`tuaton-issuer office revoke NAME`) or choose another name",
            IssuerError::NoSuchOffice(_) => "check the name: `office revoke` takes the name given to `office add`",
            IssuerError::RedeliveryOver => {
                "ask the officer for a new offer: the card from this one is replaced when you enrol again"
            }
            IssuerError::WrongTxCode { .. } => "type the digits the officer reads out",
            IssuerError::BadOfficeCredential => {
                "use the file `tuaton-issuer office add` made for this office (--office-credential)"
            }
            IssuerError::NotAdmin => {
                "use a credential made with `tuaton-issuer office add --admin`"
            }
            IssuerError::BadRequest(_) => "send the fields docs/FORMAT.md lists for this endpoint",
            IssuerError::RateLimited => "wait a few seconds and try again",
            IssuerError::AccessTokenInvalid => {
                "exchange the offer's code at the token endpoint again, or ask the officer for a new offer"
            }
            IssuerError::UnsupportedGrantType => {
                "use grant_type urn:ietf:params:oauth:grant-type:pre-authorized_code"
            }
            IssuerError::UnknownConfiguration(_) => {
                "ask for one of the configurations the issuer metadata lists"
            }
            IssuerError::StaleNonce => "fetch a nonce from the nonce endpoint and sign the proof again",
            IssuerError::WrongPassword => "check the name and password (the account locks after 5 wrong ones in a row)",
            IssuerError::NoSuchOfficer(_) => "check the name: `officer revoke` takes the name given to `officer add`",
            IssuerError::OfficerExists(_) => "revoke it first (`tuaton-issuer officer revoke NAME`) or choose another name",
            IssuerError::Service { .. } => "correct what the service names and try again",
            IssuerError::Unreachable { .. } => {
                "check --service and the network; nothing was issued if no offer was printed"
            }
        }
    }
    fn disk_full(&self) -> bool {
        matches!(
            self,
            IssuerError::Store(tuaton_store::StoreError::DiskFull(_))
        )
    }
}

impl From<tokio_postgres::Error> for IssuerError {
    fn from(e: tokio_postgres::Error) -> Self {
        // The server's own words when it has them (a constraint, a timeout, a wrong
        // password, a missing database), else the connection's with its cause.
        match e.as_db_error() {
            Some(db) if db.code().code() == crate::pg::LIST_AT_MARK => {
                IssuerError::Busy(crate::seam::LIST_FILLED)
            }
            Some(db) => IssuerError::Database(format!("{} ({})", db.message(), db.code().code())),
            None if e.is_closed() => {
                IssuerError::Database("the connection to the server was lost".into())
            }
            None => IssuerError::Database(match std::error::Error::source(&e) {
                Some(src) => format!("{e}: {src}"),
                None => e.to_string(),
            }),
        }
    }
}

impl From<deadpool_postgres::PoolError> for IssuerError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            deadpool_postgres::PoolError::Timeout(_) => IssuerError::Database(
                "no connection to the server within 5 s (is it running and reachable?)".into(),
            ),
            e => IssuerError::Database(format!("no connection to the server ({e})")),
        }
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

/// An error of `tuaton_common` as the issuer's (a wrong secret is a wrong passphrase).
pub(crate) fn core_error(e: tuaton_common::Error) -> IssuerError {
    match e {
        tuaton_common::Error::WrongSecret => IssuerError::WrongPassphrase,
        e => IssuerError::Core(e),
    }
}
