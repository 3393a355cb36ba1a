//! The one error type of `tuaton-common`: what went wrong, named precisely enough that a
//! CLI can tell the user which field or which file to fix.

/// Everything in `tuaton-common` that can fail returns this.
///
/// A presentation that fails verification is *not* an error: it is a
/// [`Verdict`](crate::verify::Verdict) with reasons. Errors are for input we were asked
/// to build or parse (a citizen record, a key, a credential package) that is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A field of a citizen record or a claim is missing or invalid.
    #[error("field `{field}`: {reason}")]
    InvalidField {
        /// The field's name as it appears in the citizen record JSON.
        field: &'static str,
        /// What is wrong with it, in words a registration officer understands.
        reason: String,
    },
    /// Input that should be JSON is not (a record, a credential package, a W3C VC).
    #[error("not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A CBOR structure could not be encoded or decoded.
    #[error("bad CBOR: {0}")]
    Cbor(String),
    /// A signature or key was malformed or did not verify.
    #[error("signature: {0}")]
    Signature(String),
    /// A signing key held outside this process (a PKCS#11 token) did not sign.
    #[error("the signing key did not sign: {0}")]
    Signer(String),
    /// The W3C form could not be built, signed or verified by ssi.
    #[error("W3C credential: {0}")]
    W3c(String),
    /// A QR or text payload is not in a format we understand.
    #[error("payload: {0}")]
    Payload(String),
    /// A tuaton payload of a version this build does not know.
    #[error("payload version not supported by this version of tuaton")]
    UnsupportedVersion,
    /// Trust data (root, trust list, status list) that is damaged.
    #[error("trust data: {0}")]
    Trust(String),
    /// Too few valid signatures from the keys that must sign.
    #[error("{what}: {got} valid signature(s), {need} required")]
    Threshold {
        /// What was being checked.
        what: String,
        /// Valid signatures found.
        got: usize,
        /// Required.
        need: usize,
    },
    /// Trust data older than what is already trusted (TUF rollback attack).
    #[error(
        "rollback refused: {what} version {offered} is older than the trusted version {trusted}"
    )]
    Rollback {
        /// Root or trust list.
        what: &'static str,
        /// Offered version.
        offered: u64,
        /// Trusted version.
        trusted: u64,
    },
    /// The chain of roots has a gap.
    #[error("root chain broken: expected version {expected}, found {found}")]
    ChainGap {
        /// Expected version.
        expected: u64,
        /// Newest version offered.
        found: u64,
    },
    /// A trust list signed under a root other than the current one (mix-and-match).
    #[error("trust list was signed under root version {signed_under}, but the current root is version {current} (mix-and-match)")]
    WrongRoot {
        /// Root version the trust list names.
        signed_under: u64,
        /// Current root version.
        current: u64,
    },
    /// A status list whose digest differs from the one the trust list pins (mix-and-match).
    #[error("status list {0} does not match the digest in the trust list (mix-and-match)")]
    StatusMismatch(String),
    /// A status list the trust list names is missing.
    #[error("status list {0} is missing from the bundle")]
    StatusMissing(String),
    /// A status list credential failed its W3C proof or could not be decoded.
    #[error("status list {0}: {1}")]
    StatusProof(String, String),
    /// A root or trust list carries a signature that is not a valid one by the keys
    /// allowed to sign it (an extra signer is refused, never skipped).
    #[error("{0} carries a signature that is not a valid one by its signing keys")]
    ForeignSignature(String),
    /// A root fingerprint as typed is not 64 hex digits.
    #[error("a root fingerprint is 64 hex digits")]
    BadFingerprint,
    /// No root in the bundle has the fingerprint the operator pinned.
    #[error("no root in the bundle has the pinned fingerprint {expected}")]
    UnpinnedRoot {
        /// The fingerprint asked for (hex).
        expected: String,
    },
    /// A root in the bundle differs from the same version already trusted (or from
    /// another copy in the same bundle).
    #[error("root version {version} in the bundle differs from the root version {version} already trusted")]
    RootMismatch {
        /// The version.
        version: u64,
    },
    /// The newest root in the bundle is past its expiry.
    #[error("root version {version} expired at Unix time {expires}")]
    RootExpired {
        /// Its version.
        version: u64,
        /// Its expiry, Unix seconds.
        expires: i64,
    },
    /// A BLE or socket session failed (timeout, bad message, wrong keys).
    #[error("session: {0}")]
    Session(#[from] SessionError),
    /// A PIN or passphrase did not open the sealed secret.
    #[error("wrong PIN or passphrase")]
    WrongSecret,
    /// An ISO 18013-5 mdoc could not be built, or a reader refused one.
    #[error("mdoc: {0}")]
    Mdoc(#[from] MdocError),
}

/// Why an ISO 18013-5 mdoc was refused (or could not be made): one variant per check of
/// section 9.3, so a reader can say which one failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MdocError {
    /// A structure is not what the CDDL of 18013-5 says (a missing or repeated key, a
    /// wrong type, a wrong version).
    #[error("malformed: {0}")]
    Malformed(String),
    /// The response is larger than a reader decodes.
    #[error("{0} bytes is larger than a reader accepts")]
    TooLarge(usize),
    /// The document signer certificate does not chain to a trusted IACA certificate, or a
    /// certificate is not valid now or not for this use.
    #[error("certificate chain: {0}")]
    Chain(String),
    /// The issuer's signature over the MSO is missing, of another algorithm, or wrong.
    #[error("issuer signature: {0}")]
    Issuer(String),
    /// A disclosed element does not match the digest the issuer signed.
    #[error("digest: {0}")]
    Digest(String),
    /// The MSO is outside its validity window.
    #[error("the mobile security object is not valid at this time")]
    Expired,
    /// The device key is not a P-256 key, or is damaged.
    #[error("device key: {0}")]
    DeviceKey(String),
    /// The device signature is missing, of another algorithm, or not over this session.
    #[error("device authentication: {0}")]
    Device(String),
    /// The engagement or a session message is malformed, of another cipher suite, does not
    /// decrypt, or replays.
    #[error("session: {0}")]
    Session(String),
    /// The wallet ended the session without an answer (the citizen declined, or the wallet
    /// refused the reader): the SessionData status.
    #[error("the wallet declined to answer (status {0})")]
    Declined(u64),
}

/// Why an engagement session failed: what the peer did wrong, or what happened to the
/// link. Tests and callers match these, never the wording.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The text is not an engagement (`TTB1:`).
    #[error("not an engagement (it should start with TTB1:)")]
    NotEngagement,
    /// The engagement's body is not base45.
    #[error("the engagement is not base45")]
    EngagementEncoding,
    /// The engagement names a transport this version does not know.
    #[error("the engagement names an unknown transport ({0})")]
    UnknownTransport(u64),
    /// The listener's hello does not prove it holds the engagement key.
    #[error("the listener did not prove it holds the engagement key")]
    BadHello,
    /// A message failed authenticated decryption.
    #[error("a message does not decrypt: tampered, from another session, or wrong keys")]
    Decrypt,
    /// The gate's first message is not `[gate key, request]`.
    #[error("the session start is not [gate key, request]")]
    BadStart,
    /// The wallet's answer is not `[ciphertext]` or has an unknown status.
    #[error("the answer is not a tuaton session response")]
    BadResponse,
    /// A peer sent a low-order (small-subgroup) key.
    #[error("the {0} key is a low-order point")]
    LowOrderKey(&'static str),
    /// The peer did not answer within the phase's deadline.
    #[error("the other side stopped answering (timeout)")]
    Timeout,
    /// The peer closed the connection.
    #[error("the other side closed the connection")]
    Closed,
    /// The operator cancelled (Esc at the gate).
    #[error("cancelled")]
    Cancelled,
    /// The link failed (the operating system's or radio stack's words).
    #[error("the link failed: {0}")]
    Link(String),
    /// A chunk shorter than its 2-byte header.
    #[error("a chunk is shorter than its header")]
    ChunkTooShort,
    /// A chunk's flag byte is neither "last" (0) nor "more" (1).
    #[error("a chunk has an unknown flag {0:#04x}")]
    ChunkFlag(u8),
    /// The chunk just received repeats the previous one.
    #[error("chunk {got} is duplicated (expected {expected})")]
    ChunkDuplicated {
        /// Its sequence number.
        got: u8,
        /// The one expected.
        expected: u8,
    },
    /// A chunk came out of order, or one before it was lost.
    #[error("chunk {got} is out of order or lost (expected {expected})")]
    ChunkOutOfOrder {
        /// Its sequence number.
        got: u8,
        /// The one expected.
        expected: u8,
    },
    /// An empty chunk that says more follows (a peer holding the link without progress).
    #[error("a chunk is empty but says more follows")]
    ChunkEmpty,
    /// The message grew past the receiver's limit.
    #[error("a message is larger than {0} bytes")]
    MessageTooLarge(usize),
    /// A chunk larger than the link can carry was to be sent.
    #[error("a chunk of {len} bytes exceeds the link's MTU {mtu} - 3")]
    ChunkTooLarge {
        /// Bytes in the chunk.
        len: usize,
        /// The link's MTU.
        mtu: usize,
    },
}

impl Error {
    /// An [`Error::InvalidField`] naming `field`.
    pub fn field(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidField {
            field,
            reason: reason.into(),
        }
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
