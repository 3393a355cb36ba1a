//! The engagement + session protocol, modelled on ISO/IEC 18013-5: the wallet shows an
//! engagement QR (ephemeral X25519 key, how to reach it); the gate answers with its own
//! ephemeral key and an encrypted request; both derive session keys with HKDF-SHA256 over
//! the session transcript; the wallet answers, after consent, with a presentation whose
//! holder proof binds the transcript and the gate's nonce.
//!
//! Sans-I/O typestate machines: bytes in, bytes out; every transition consumes `self`;
//! randomness (ephemeral secrets, nonces) is passed in.

use crate::cbor::{self, err, u};
use crate::error::{Error, Result, SessionError};
use crate::gate::Group;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use ciborium::Value;
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

/// Prefix of an engagement QR.
pub const ENGAGEMENT_PREFIX: &str = "TTB1:";
/// The GATT service UUID (ISO 18013-5 peripheral-server roles share this base:
/// state `...01`, client-to-server `...02`, server-to-client `...03`).
pub const SERVICE_UUID: [u8; 16] = [
    0x00, 0x00, 0x00, 0x00, 0xA1, 0x23, 0x48, 0xCE, 0x89, 0x6B, 0x4C, 0x76, 0x97, 0x33, 0x73, 0xE6,
];
/// The GATT characteristics of a session over Bluetooth LE, ISO 18013-5's peripheral-server
/// roles: the wallet serves them, the gate is the central client. UUIDs as 128-bit numbers
/// (the radio crates build their own UUID type from them).
pub mod gatt {
    /// State: the gate writes "start" (0x01) here to begin, "end" (0x02) to finish.
    pub const STATE: u128 = 0x00000001_A123_48CE_896B_4C76973373E6;
    /// Client to server: the gate writes its chunks here.
    pub const CLIENT_TO_SERVER: u128 = 0x00000002_A123_48CE_896B_4C76973373E6;
    /// Server to client: the wallet notifies its chunks here.
    pub const SERVER_TO_CLIENT: u128 = 0x00000003_A123_48CE_896B_4C76973373E6;
}

/// How long a gate waits, once connected, for the wallet's hello (it is sent at once).
pub const HELLO_WAIT_SECS: u64 = 10;
/// How long a gate waits for the answer once it has sent its request: the citizen reads
/// the request on the phone and types the PIN, which can take a minute at a busy gate.
pub const CONSENT_WAIT_SECS: u64 = 120;
/// The most a whole session may take on the gate, connection to verdict: no peer, however
/// it trickles bytes, holds a gate longer.
pub const GATE_SESSION_SECS: u64 = CONNECT_WAIT_SECS + HELLO_WAIT_SECS + CONSENT_WAIT_SECS;
/// How long a gate tries to connect to the engagement's socket.
pub const CONNECT_WAIT_SECS: u64 = 5;
/// How long either side waits for one chunk to be written before the peer counts as gone.
pub const WRITE_WAIT_SECS: u64 = 10;
/// How long either side waits for one Bluetooth LE notification or write (a radio link
/// delivers a message as many chunks; each is due within this).
pub const BLE_CHUNK_WAIT_SECS: u64 = 20;
/// How long a wallet shows its engagement, waiting for a gate to connect.
pub const WAIT_FOR_GATE_SECS: u64 = 120;
/// How long a wallet waits, once a gate connected, for its request.
pub const REQUEST_WAIT_SECS: u64 = 15;

/// Largest message either side accepts (a 64 KiB portrait and change).
pub const MAX_MESSAGE: usize = 96 * 1024;

fn sess(e: SessionError) -> Error {
    Error::Session(e)
}

/// How the gate reaches the wallet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// BLE, wallet as GATT peripheral server advertising this service UUID.
    Ble {
        /// Service UUID.
        service: [u8; 16],
    },
    /// A TCP socket (tests, radio-less setups): "host:port".
    Socket {
        /// Address.
        addr: String,
    },
}

/// The wallet's engagement, keeping its exact bytes (they enter the transcript).
#[derive(Clone, Debug, PartialEq)]
pub struct Engagement {
    /// Exact CBOR bytes.
    pub bytes: Vec<u8>,
    /// The wallet's ephemeral X25519 public key.
    pub wallet_key: [u8; 32],
    /// How to connect.
    pub transport: Transport,
}

impl Engagement {
    fn new(wallet_key: [u8; 32], transport: Transport) -> Self {
        let t = match &transport {
            Transport::Ble { service } => {
                Value::Array(vec![u(1u8), Value::Bytes(service.to_vec())])
            }
            Transport::Socket { addr } => Value::Array(vec![u(2u8), Value::Text(addr.clone())]),
        };
        let bytes = cbor::encode(&Value::Array(vec![
            u(1u8),
            Value::Bytes(wallet_key.to_vec()),
            t,
        ]));
        Engagement {
            bytes,
            wallet_key,
            transport,
        }
    }

    /// The QR text: `TTB1:` + base45 of the CBOR.
    pub fn to_text(&self) -> String {
        format!("{ENGAGEMENT_PREFIX}{}", base45::encode(&self.bytes))
    }

    /// Parses engagement QR text.
    pub fn parse(text: &str) -> Result<Self> {
        let body = text
            .trim()
            .strip_prefix(ENGAGEMENT_PREFIX)
            .ok_or_else(|| sess(SessionError::NotEngagement))?;
        let bytes = base45::decode(body).map_err(|_| sess(SessionError::EngagementEncoding))?;
        let [ver, key, t]: [Value; 3] = cbor::array(cbor::decode(&bytes)?, "engagement")?
            .try_into()
            .map_err(|_| err("engagement: expected 3 items"))?;
        if cbor::uint(&ver, "engagement version")? != 1 {
            return Err(Error::UnsupportedVersion);
        }
        let wallet_key = cbor::fixed::<32>(key, "wallet key")?;
        let [kind, v]: [Value; 2] = cbor::array(t, "transport")?
            .try_into()
            .map_err(|_| err("transport: expected 2 items"))?;
        let transport = match cbor::uint(&kind, "transport kind")? {
            1 => Transport::Ble {
                service: cbor::fixed::<16>(v, "service uuid")?,
            },
            2 => Transport::Socket {
                addr: cbor::text(v, "socket address")?,
            },
            k => return Err(sess(SessionError::UnknownTransport(k))),
        };
        Ok(Engagement {
            bytes,
            wallet_key,
            transport,
        })
    }

    /// Checks the wallet's hello ([`WalletAwaitingRequest::hello`]) against this
    /// engagement's key. The gate sends nothing before this succeeds.
    pub fn verify_hello(&self, msg: &[u8]) -> Result<()> {
        use curve25519_dalek::{
            edwards::CompressedEdwardsY, montgomery::MontgomeryPoint, EdwardsPoint, Scalar,
        };
        let bad = || Error::Session(SessionError::BadHello);
        let [r @ .., sign] = msg else {
            return Err(bad());
        };
        if msg.len() != HELLO_LEN || *sign > 1 {
            return Err(bad());
        }
        let big_r = CompressedEdwardsY(r[..32].try_into().map_err(|_| bad())?);
        let z = Option::<Scalar>::from(Scalar::from_canonical_bytes(
            r[32..64].try_into().map_err(|_| bad())?,
        ))
        .ok_or_else(bad)?;
        let p = MontgomeryPoint(self.wallet_key)
            .to_edwards(*sign)
            .ok_or_else(bad)?;
        if p.is_small_order() {
            return Err(bad());
        }
        let rp = big_r.decompress().ok_or_else(bad)?;
        let c = hello_challenge(&self.bytes, &p.compress(), &big_r);
        // z·B - c·P must be R.
        let lhs = EdwardsPoint::vartime_double_scalar_mul_basepoint(&-c, &p, &z);
        if lhs != rp {
            return Err(bad());
        }
        Ok(())
    }

    /// Whether text looks like an engagement (so a gate can route a scan).
    pub fn is_engagement(text: &str) -> bool {
        text.trim_start().starts_with(ENGAGEMENT_PREFIX)
    }
}

/// What the gate asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Groups requested.
    pub groups: Vec<Group>,
    /// A fresh nonce the holder proof must bind.
    pub nonce: [u8; 16],
}

impl Request {
    fn to_bytes(&self) -> Vec<u8> {
        cbor::encode(&Value::Map(vec![
            (
                u(1u8),
                Value::Array(self.groups.iter().map(|g| u(*g as u8)).collect()),
            ),
            (u(2u8), Value::Bytes(self.nonce.to_vec())),
        ]))
    }
    fn from_bytes(b: &[u8]) -> Result<Self> {
        let mut groups = None;
        let mut nonce = None;
        for (k, v) in cbor::int_map(cbor::decode(b)?, "request")? {
            match k {
                1 => {
                    groups = Some(
                        cbor::array(v, "groups")?
                            .iter()
                            .map(|g| {
                                cbor::uint(g, "group").and_then(|g| {
                                    Group::from_key(g).ok_or_else(|| err("unknown group"))
                                })
                            })
                            .collect::<Result<Vec<_>>>()?,
                    )
                }
                2 => nonce = Some(cbor::fixed::<16>(v, "nonce")?),
                _ => return Err(err(format!("request: unknown key {k}"))),
            }
        }
        Ok(Request {
            groups: groups.ok_or_else(|| err("request: groups missing"))?,
            nonce: nonce.ok_or_else(|| err("request: nonce missing"))?,
        })
    }
}

/// The wallet's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// Presentation CBOR (verify with `verify::verify_cbor` and the session's proof nonce).
    Presentation(Vec<u8>),
    /// The citizen declined.
    Declined,
}

struct Keys {
    to_wallet: Zeroizing<[u8; 32]>,
    to_gate: Zeroizing<[u8; 32]>,
    transcript: [u8; 32],
}

fn derive(shared: &[u8; 32], engagement: &[u8], gate_key: &[u8; 32]) -> Keys {
    let transcript: [u8; 32] = Sha256::digest(crate::lp::length_prefixed([
        &b"tuaton session transcript v1"[..],
        engagement,
        gate_key,
    ]))
    .into();
    let hk = Hkdf::<Sha256>::new(Some(&transcript), shared);
    let mut to_wallet = Zeroizing::new([0u8; 32]);
    let mut to_gate = Zeroizing::new([0u8; 32]);
    hk.expand(b"tuaton gate to wallet", to_wallet.as_mut())
        .expect("32 bytes is a valid length");
    hk.expand(b"tuaton wallet to gate", to_gate.as_mut())
        .expect("32 bytes is a valid length");
    Keys {
        to_wallet,
        to_gate,
        transcript,
    }
}

fn nonce(direction: u32, counter: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(&direction.to_be_bytes());
    n[4..].copy_from_slice(&counter.to_be_bytes());
    n
}

fn seal(key: &[u8; 32], dir: u32, ctr: u64, aad: &[u8], plain: &[u8]) -> Vec<u8> {
    ChaCha20Poly1305::new(&(*key).into())
        .encrypt(&nonce(dir, ctr).into(), Payload { msg: plain, aad })
        .expect("in-memory encryption cannot fail")
}

fn open(key: &[u8; 32], dir: u32, ctr: u64, aad: &[u8], ct: &[u8]) -> Result<Vec<u8>> {
    ChaCha20Poly1305::new(&(*key).into())
        .decrypt(&nonce(dir, ctr).into(), Payload { msg: ct, aad })
        .map_err(|_| sess(SessionError::Decrypt))
}

const TO_WALLET: u32 = 0;
const TO_GATE: u32 = 1;

/// The nonce a holder proof binds in a session: the transcript hash, then the gate's nonce.
fn proof_nonce(transcript: &[u8; 32], n: &[u8; 16]) -> Vec<u8> {
    [&transcript[..], &n[..]].concat()
}

/// Wallet, engagement shown, waiting for the gate.
pub struct WalletAwaitingRequest {
    secret: StaticSecret,
    engagement: Engagement,
}

/// Wallet, request decrypted, waiting for the citizen's consent.
pub struct WalletRequested {
    keys: Keys,
    /// What the gate asks for.
    pub request: Request,
}

/// Length of the wallet's hello: the proof that it holds the engagement key.
pub const HELLO_LEN: usize = 65;
const HELLO_TAG: &[u8] = b"tuaton engagement hello v1";

fn hello_challenge(
    engagement: &[u8],
    p: &curve25519_dalek::edwards::CompressedEdwardsY,
    r: &curve25519_dalek::edwards::CompressedEdwardsY,
) -> curve25519_dalek::Scalar {
    use sha2::Sha512;
    let h = Sha512::digest(crate::lp::length_prefixed([
        HELLO_TAG,
        engagement,
        p.as_bytes(),
        r.as_bytes(),
    ]));
    curve25519_dalek::Scalar::from_bytes_mod_order_wide(&h.into())
}

impl WalletAwaitingRequest {
    /// The wallet's first message once a gate connects, before the gate sends anything: a
    /// Schnorr proof (Fiat-Shamir, over Edwards25519) that the wallet knows the secret of
    /// the engagement's X25519 key, bound to the engagement bytes. A listener that did not
    /// make the engagement (some other service on the port a QR names) cannot produce it,
    /// so a scanned QR cannot make a gate write to an arbitrary port. `r` is 64 random
    /// bytes from the caller. Layout (docs/FORMAT.md, "Hello"): `R (32) || z (32) || sign
    /// (1)`, where `sign` is the sign bit of the Edwards point of the engagement key.
    pub fn hello(&self, r: [u8; 64]) -> Vec<u8> {
        use curve25519_dalek::{scalar::clamp_integer, EdwardsPoint, Scalar};
        let x = Scalar::from_bytes_mod_order(clamp_integer(self.secret.to_bytes()));
        let p = EdwardsPoint::mul_base(&x).compress();
        let k = Scalar::from_bytes_mod_order_wide(&r);
        let big_r = EdwardsPoint::mul_base(&k).compress();
        let c = hello_challenge(&self.engagement.bytes, &p, &big_r);
        let z = k + c * x;
        let mut out = Vec::with_capacity(HELLO_LEN);
        out.extend_from_slice(big_r.as_bytes());
        out.extend_from_slice(z.as_bytes());
        out.push(p.as_bytes()[31] >> 7);
        out
    }

    /// Starts a session with ephemeral secret `eph` (32 random bytes from the caller).
    pub fn new(eph: [u8; 32], transport: Transport) -> (Self, Engagement) {
        let secret = StaticSecret::from(eph);
        let engagement = Engagement::new(PublicKey::from(&secret).to_bytes(), transport);
        (
            WalletAwaitingRequest {
                secret,
                engagement: engagement.clone(),
            },
            engagement,
        )
    }

    /// Takes the gate's first message `[gate key, encrypted request]`.
    pub fn on_request(self, msg: &[u8]) -> Result<WalletRequested> {
        let [k, ct]: [Value; 2] = cbor::array(cbor::decode(msg)?, "session start")?
            .try_into()
            .map_err(|_| sess(SessionError::BadStart))?;
        let gate_key = cbor::fixed::<32>(k, "gate key")?;
        let shared = self.secret.diffie_hellman(&PublicKey::from(gate_key));
        if !shared.was_contributory() {
            return Err(sess(SessionError::LowOrderKey("gate")));
        }
        let keys = derive(shared.as_bytes(), &self.engagement.bytes, &gate_key);
        let plain = open(
            &keys.to_wallet,
            TO_WALLET,
            1,
            &keys.transcript,
            &cbor::bytes(ct, "request")?,
        )?;
        let request = Request::from_bytes(&plain)?;
        Ok(WalletRequested { keys, request })
    }
}

impl WalletRequested {
    /// The nonce the presentation's holder proof must bind.
    pub fn proof_nonce(&self) -> Vec<u8> {
        proof_nonce(&self.keys.transcript, &self.request.nonce)
    }
    /// Encrypts the presentation for the gate; the session ends.
    pub fn respond(self, presentation: Vec<u8>) -> Vec<u8> {
        self.answer(Response::Presentation(presentation))
    }
    /// Tells the gate the citizen declined; the session ends.
    pub fn decline(self) -> Vec<u8> {
        self.answer(Response::Declined)
    }
    fn answer(self, r: Response) -> Vec<u8> {
        let plain = match r {
            Response::Presentation(p) => cbor::encode(&Value::Map(vec![
                (u(1u8), u(0u8)),
                (u(2u8), Value::Bytes(p)),
            ])),
            Response::Declined => cbor::encode(&Value::Map(vec![(u(1u8), u(1u8))])),
        };
        cbor::encode(&Value::Array(vec![Value::Bytes(seal(
            &self.keys.to_gate,
            TO_GATE,
            1,
            &self.keys.transcript,
            &plain,
        ))]))
    }
}

/// Gate, request sent, waiting for the wallet's answer.
pub struct GateAwaitingResponse {
    keys: Keys,
    request: Request,
}

impl GateAwaitingResponse {
    /// Starts a session with the wallet of `engagement`, ephemeral secret `eph` and
    /// `request` (its nonce fresh from the caller). Returns the first message to send.
    pub fn start(
        engagement: &Engagement,
        eph: [u8; 32],
        request: Request,
    ) -> Result<(Self, Vec<u8>)> {
        let secret = StaticSecret::from(eph);
        let gate_key = PublicKey::from(&secret).to_bytes();
        let shared = secret.diffie_hellman(&PublicKey::from(engagement.wallet_key));
        if !shared.was_contributory() {
            return Err(sess(SessionError::LowOrderKey("wallet")));
        }
        let keys = derive(shared.as_bytes(), &engagement.bytes, &gate_key);
        let ct = seal(
            &keys.to_wallet,
            TO_WALLET,
            1,
            &keys.transcript,
            &request.to_bytes(),
        );
        let msg = cbor::encode(&Value::Array(vec![
            Value::Bytes(gate_key.to_vec()),
            Value::Bytes(ct),
        ]));
        Ok((GateAwaitingResponse { keys, request }, msg))
    }

    /// The nonce the wallet's holder proof must bind (pass to the verify engine).
    pub fn proof_nonce(&self) -> Vec<u8> {
        proof_nonce(&self.keys.transcript, &self.request.nonce)
    }

    /// Decrypts the wallet's answer; the session ends.
    pub fn on_response(self, msg: &[u8]) -> Result<Response> {
        let [ct]: [Value; 1] = cbor::array(cbor::decode(msg)?, "response")?
            .try_into()
            .map_err(|_| sess(SessionError::BadResponse))?;
        let plain = open(
            &self.keys.to_gate,
            TO_GATE,
            1,
            &self.keys.transcript,
            &cbor::bytes(ct, "response")?,
        )?;
        let mut status = None;
        let mut pres = None;
        for (k, v) in cbor::int_map(cbor::decode(&plain)?, "response")? {
            match k {
                1 => status = Some(cbor::uint(&v, "status")?),
                2 => pres = Some(cbor::bytes(v, "presentation")?),
                _ => return Err(err(format!("response: unknown key {k}"))),
            }
        }
        match (status, pres) {
            (Some(0), Some(p)) => Ok(Response::Presentation(p)),
            (Some(1), None) => Ok(Response::Declined),
            _ => Err(sess(SessionError::BadResponse)),
        }
    }
}

// Session keys never appear in debug output.
impl std::fmt::Debug for WalletRequested {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalletRequested")
            .field("request", &self.request)
            .finish_non_exhaustive()
    }
}
