//! Everything that can go wrong in the wallet, each variant one thing, with its hint.

use std::path::PathBuf;

/// Everything that can go wrong in the wallet.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalletError {
    /// The PIN breaks the policy (the message says which rule).
    #[error("PIN refused: {0}")]
    PinPolicy(String),
    /// The two PIN entries differ.
    #[error("the two PINs do not match")]
    PinMismatch,
    /// Wrong PIN.
    #[error("wrong PIN ({remaining} attempt(s) left before the wallet locks)")]
    WrongPin {
        /// Attempts left.
        remaining: u32,
    },
    /// Too soon after a wrong PIN.
    #[error("too many wrong PINs: wait {0} s before trying again")]
    Backoff(i64),
    /// Locked after too many wrong PINs.
    #[error("the wallet is locked after 5 wrong PINs")]
    Locked,
    /// No wallet yet.
    #[error("no wallet in {0}")]
    NotInitialised(PathBuf),
    /// Already a wallet.
    #[error("a wallet already exists in {0}")]
    AlreadyInitialised(PathBuf),
    /// No credential imported yet.
    #[error("no ID card in the wallet yet")]
    NoCredential,
    /// A credential package that does not check out.
    #[error("credential package refused: {0}")]
    BadPackage(String),
    /// Core errors (malformed data, ssi failures).
    #[error(transparent)]
    Core(#[from] tuaton_common::Error),
    /// The trust bundle given with `import --bundle` failed its checks.
    #[error("trust bundle refused: {0}")]
    Trust(tuaton_common::Error),
    /// The engagement session with a gate failed (a bad message, wrong keys, a timeout).
    #[error("session with the gate failed: {0}")]
    Session(tuaton_common::Error),
    /// The connection a gate needs (socket or Bluetooth LE) could not be opened.
    #[error("{what}: {reason}")]
    Transport {
        /// Which address or radio.
        what: String,
        /// The OS's or the stack's words.
        reason: String,
    },
    /// The wallet store holds data that does not decode (a damaged or altered disk).
    #[error("the wallet store is damaged: {0}")]
    StoreDamaged(&'static str),
    /// The store.
    #[error(transparent)]
    Store(#[from] tuaton_store::StoreError),
    /// The citizen's PIN for consent could not be read (no terminal, input ended...).
    #[error("no PIN was given to share: {0}")]
    NoConsent(String),
    /// The gate stopped waiting before the answer could be sent.
    #[error("the gate has gone: it waits {0} s for the answer and stopped waiting")]
    GateGone(u64),
    /// The card has no ISO 18013-5 form: it is bound to an Ed25519 holder key, or its
    /// issuer had no mdoc keys when it was issued.
    #[error("this card has no mdoc (ISO 18013-5) form")]
    NoMdoc,
    /// An ISO 18013-5 reader that did not prove who it is (no ReaderAuth, or one that does
    /// not hold): refused unless the citizen overrides.
    #[error("the reader did not prove who it is: {0}")]
    UnverifiedReader(String),
    /// An ISO 18013-5 reader asked for elements its certificate does not allow.
    #[error("the reader \"{reader}\" asks for more than its certificate allows: {beyond}")]
    BeyondCertificate {
        /// The reader's certificate subject.
        reader: String,
        /// The elements beyond it.
        beyond: String,
    },
    /// Binary output (CBOR) would go to a terminal.
    #[error("the {0} is binary CBOR and standard output is a terminal")]
    BinaryToTerminal(&'static str),
    /// The command line asks for something inconsistent or incomplete.
    #[error("{0}")]
    Usage(String),
    /// The officer's credential offer does not parse (a misread, an altered character).
    #[error("the credential offer: {0}")]
    BadOffer(tuaton_common::Error),
    /// The offer is not signed by the issuer its trust bundle names: a relayed or
    /// re-wrapped offer, or a fake officer's screen.
    #[error(
        "this offer is not vouched for by the issuer ({0}): the screen that showed it may be fake"
    )]
    FakeOffer(String),
    /// The card offered or imported is from another issuer than the card this wallet
    /// holds (refused unless the citizen replaces the card on purpose).
    #[error("this wallet holds a card from \"{held}\"; this one is from {offered}")]
    OtherIssuer {
        /// The issuer of the card held.
        held: String,
        /// The issuer of the card offered.
        offered: String,
    },
    /// The issuance service (or its bundle) could not be reached or answered nonsense.
    #[error("could not reach the issuance service at {url}: {reason}")]
    Unreachable {
        /// What was asked for.
        url: String,
        /// Why it failed.
        reason: String,
    },
    /// The issuance service refused to issue (the offer was used, expired, the code was
    /// wrong...).
    #[error("the issuance service refused: {message}")]
    Service {
        /// The service's error code (`offer_used`, `wrong_tx_code`...).
        code: String,
        /// Its message.
        message: String,
    },
    /// Files.
    #[error("{path}: {source}")]
    Io {
        /// Which.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl tuaton_cli::Hint for WalletError {
    /// What the user should do about it.
    fn hint(&self) -> &'static str {
        match self {
            WalletError::PinPolicy(_) => "choose digits with no run like 1234 or 1111 and not your birth date",
            WalletError::PinMismatch => "enter the same PIN twice",
            WalletError::WrongPin { .. } => "try again; after 5 wrong PINs the wallet locks and you must re-enroll",
            WalletError::Backoff(_) => "wait, then try again",
            WalletError::Locked => "run `tuaton-wallet reset`, then re-enroll at a registration office (ask the officer to revoke your old card)",
            WalletError::NotInitialised(_) => "run `tuaton-wallet init` first, or pass the right --home",
            WalletError::AlreadyInitialised(_) => "use `change-pin`, or `reset` to start over",
            WalletError::NoCredential => "enroll: `tuaton-wallet request`, then `tuaton-wallet import FILE` with what the issuer gives you",
            WalletError::BadPackage(_) => "ask the issuer for the package made for this wallet's enrollment request",
            WalletError::Core(_) => "check the input; nothing was written",
            WalletError::Trust(_) => "use the bundle the issuer publishes, with its root fingerprint",
            WalletError::Session(_) => "nothing was shared; run `tuaton-wallet engage` again and scan the new QR",
            WalletError::Transport { .. } => "use --transport socket:127.0.0.1:0 (a free port), or turn Bluetooth on",
            WalletError::StoreDamaged(_) => "run `tuaton-wallet reset` and re-enroll at a registration office",
            WalletError::UnverifiedReader(_) => "nothing was shared; ask the staff to use an authorised reader (or, if you trust it, run again with --allow-unverified-reader)",
            WalletError::BeyondCertificate { .. } => "nothing was shared; this reader is not authorised for all of that (run again with --allow-unverified-reader only if you want to share it anyway)",
            WalletError::NoMdoc => "mdocs are issued to P-256 wallets (`init --key-type p256`): enroll such a wallet, or renew with `refresh` if the issuer has added them since",
            WalletError::BinaryToTerminal(_) => "redirect it to a file: `tuaton-wallet export --mdoc > card.cbor`",
            WalletError::Usage(_) => "check the command line with --help",
            WalletError::Unreachable { .. } => {
                "check the network and ask the officer whether the service is up; nothing was added to your wallet"
            }
            WalletError::BadOffer(_) => "scan the officer's QR code again, or ask for a new offer",
            WalletError::FakeOffer(_) => {
                "do not type the transaction code; tell the officer at the counter and ask for a new offer"
            }
            WalletError::OtherIssuer { .. } => {
                "keep your card; to replace it on purpose, run the command again with --replace-card"
            }
            WalletError::Service { code, .. } if code == "wrong_tx_code" || code == "invalid_grant" => {
                "type the digits the officer reads out; the offer closes after 5 wrong codes"
            }
            WalletError::Service { .. } => {
                "ask the officer for a new offer; nothing was added to your wallet"
            }
            WalletError::NoConsent(_) => "nothing was shared; run `tuaton-wallet engage` again in a terminal",
            WalletError::GateGone(_) => "nothing was shared; run `tuaton-wallet engage` again and scan the new QR",
            WalletError::Store(e) => tuaton_store::StoreError::hint(e),
            WalletError::Io { .. } => "check the path exists and is readable/writable",
        }
    }
    fn disk_full(&self) -> bool {
        matches!(
            self,
            WalletError::Store(tuaton_store::StoreError::DiskFull(_))
        )
    }
}

impl From<sled::Error> for WalletError {
    fn from(e: sled::Error) -> Self {
        WalletError::Store(tuaton_store::StoreError::from_sled(
            std::path::Path::new("the wallet store"),
            e,
        ))
    }
}

/// Shorthand.
pub type Result<T, E = WalletError> = std::result::Result<T, E>;
