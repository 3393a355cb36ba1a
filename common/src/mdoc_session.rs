//! ISO/IEC 18013-5 proximity presentation: the device engagement (section 8.2.1.1), the
//! session (section 9.1.1: ECDH on P-256, HKDF-SHA256 session keys, AES-256-GCM with
//! counters), the SessionTranscript (section 9.1.5.1), the DeviceRequest with reader
//! authentication (sections 8.3.2.1.2.1 and 9.1.4), and the DeviceResponse of
//! [`crate::mdoc`]. Both ends are here: the wallet ([`DeviceSession`]) and the reader
//! ([`ReaderSession`]). Pure: keys and randomness come from the caller, bytes go in and out,
//! and a transport (socket, BLE) only moves the messages.
//!
//! docs/FORMAT.md, "The mdoc session", is the normative text.

use crate::cbor;
use crate::error::{MdocError, Result};
use crate::holder::HolderSigner;
use crate::mdoc::{self, cose_key, tag24, x509, Iaca, Request, Verified};
pub use crate::session::Transport;
use ciborium::Value;
use coset::{iana, AsCborValue as _, CoseSign1, CoseSign1Builder};
use sha2::{Digest as _, Sha256};

/// The scheme of an engagement QR (section 8.2.2.3).
pub const SCHEME: &str = "mdoc:";
/// The longest engagement text read.
pub const MAX_ENGAGEMENT: usize = 1024;
/// The largest session message read (a DeviceResponse with a portrait, encrypted).
pub const MAX_MESSAGE: usize = mdoc::MAX_RESPONSE + 1024;
/// The one cipher suite of 18013-5 (section 9.1.5.2): anything else is refused.
pub const CIPHER_SUITE: u64 = 1;
/// SessionData status: session termination (section 8.3.2.1.2.3, table 20).
pub const STATUS_END: u64 = 20;
pub use crate::mdoc::ALLOWED_URI_SCHEME;
pub use crate::mdoc::EKU_READER_AUTH;

fn bad(why: impl Into<String>) -> crate::Error {
    MdocError::Session(why.into()).into()
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

fn public_of_cose(v: &Value) -> Result<p256::PublicKey> {
    let point = crate::mdoc::device_key_point(v)?;
    p256::PublicKey::from_sec1_bytes(&point).map_err(|_| bad("an ephemeral key is not on P-256"))
}

fn entries(v: Value, what: &str) -> Result<Vec<(Value, Value)>> {
    match v {
        Value::Map(m) => Ok(m),
        _ => Err(bad(format!("{what} is not a map"))),
    }
}

fn get<'a>(m: &'a [(Value, Value)], key: &Value, what: &str) -> Result<Option<&'a Value>> {
    let mut it = m.iter().filter(|(k, _)| k == key).map(|(_, v)| v);
    let first = it.next();
    if it.next().is_some() {
        return Err(bad(format!("{what}: a key appears twice")));
    }
    Ok(first)
}

fn bytes_of(v: Option<&Value>, what: &str) -> Result<Vec<u8>> {
    match v {
        Some(Value::Bytes(b)) => Ok(b.clone()),
        _ => Err(bad(format!("{what} is missing or not bytes"))),
    }
}

fn untag24(v: Option<&Value>, what: &str) -> Result<Vec<u8>> {
    match v {
        Some(Value::Tag(24, inner)) => match inner.as_ref() {
            Value::Bytes(b) => Ok(b.clone()),
            _ => Err(bad(format!("{what}: tag 24 without bytes"))),
        },
        _ => Err(bad(format!("{what} is missing or not tag 24"))),
    }
}

/// A device engagement as the reader scanned it.
#[derive(Clone, Debug)]
pub struct Engagement {
    /// DeviceEngagement, encoded (the bytes the transcript covers).
    pub bytes: Vec<u8>,
    /// The wallet's ephemeral key.
    pub e_device: p256::PublicKey,
    /// Where the reader finds the wallet: the first DeviceRetrievalMethod this reader
    /// speaks, `None` when the engagement names none it speaks.
    pub transport: Option<Transport>,
}

/// DeviceRetrievalMethod type of BLE (18013-5 section 8.2.2.1).
pub const RETRIEVAL_BLE: i64 = 2;
/// DeviceRetrievalMethod type of the test socket: a negative type, outside the ones the
/// standard assigns, as the Android identity library (multipaz) spells its TCP method:
/// `[-10, 1, {0: host, 1: port}]`.
pub const RETRIEVAL_TCP: i64 = -10;

fn retrieval_method(t: &Transport) -> Value {
    let int = |i: i64| Value::Integer(i.into());
    match t {
        // BleOptions: 0 peripheral server mode, 1 central client mode, 10 the peripheral
        // server's service UUID.
        Transport::Ble { service } => Value::Array(vec![
            int(RETRIEVAL_BLE),
            int(1),
            Value::Map(vec![
                (int(0), Value::Bool(true)),
                (int(1), Value::Bool(false)),
                (int(10), Value::Bytes(service.to_vec())),
            ]),
        ]),
        Transport::Socket { addr } => {
            let (host, port) = match addr.parse::<std::net::SocketAddr>() {
                Ok(a) => (a.ip().to_string(), a.port()),
                Err(_) => (addr.clone(), 0),
            };
            Value::Array(vec![
                int(RETRIEVAL_TCP),
                int(1),
                Value::Map(vec![(int(0), text(&host)), (int(1), int(port.into()))]),
            ])
        }
    }
}

/// The first method of `methods` this reader speaks: BLE in mdoc peripheral server mode
/// with its UUID, or the test socket. Others (NFC, Wi-Fi Aware, central client mode
/// only) are skipped, as a reader skips what it cannot use.
fn read_retrieval(methods: &[Value]) -> Result<Option<Transport>> {
    if methods.len() > 8 {
        return Err(bad("the engagement names more than 8 retrieval methods"));
    }
    for m in methods {
        let Value::Array(a) = m else {
            return Err(bad("a DeviceRetrievalMethod is not an array"));
        };
        let [kind, Value::Integer(version), Value::Map(options)] = a.as_slice() else {
            return Err(bad(
                "a DeviceRetrievalMethod is not [type, version, options]",
            ));
        };
        if u64::try_from(*version).is_err() {
            return Err(bad("a DeviceRetrievalMethod's version is not a uint"));
        }
        let opt = |k: i64| get(options, &Value::Integer(k.into()), "RetrievalOptions");
        let Some(kind) = kind.as_integer().and_then(|i| i64::try_from(i).ok()) else {
            return Err(bad("a DeviceRetrievalMethod's type is not a number"));
        };
        match kind {
            RETRIEVAL_BLE => {
                if opt(0)? != Some(&Value::Bool(true)) {
                    continue;
                }
                let Some(Value::Bytes(uuid)) = opt(10)? else {
                    return Err(bad("BLE peripheral server mode without its UUID"));
                };
                let service: [u8; 16] = uuid
                    .as_slice()
                    .try_into()
                    .map_err(|_| bad("the BLE service UUID is not 16 bytes"))?;
                return Ok(Some(Transport::Ble { service }));
            }
            RETRIEVAL_TCP => {
                let (Some(Value::Text(host)), Some(Value::Integer(port))) = (opt(0)?, opt(1)?)
                else {
                    return Err(bad("the socket method is not {0: host, 1: port}"));
                };
                let port =
                    u16::try_from(*port).map_err(|_| bad("the socket port is not a port"))?;
                if host.len() > 64 {
                    return Err(bad("the socket host is longer than an address"));
                }
                // Kept as IP:PORT text; the gate judges it (loopback only by default).
                let addr = match host.parse::<std::net::IpAddr>() {
                    Ok(ip) => std::net::SocketAddr::new(ip, port).to_string(),
                    Err(_) => format!("{host}:{port}"),
                };
                return Ok(Some(Transport::Socket { addr }));
            }
            _ => continue,
        }
    }
    Ok(None)
}

impl Engagement {
    /// The wallet's DeviceEngagement for its ephemeral key (`{0: "1.0", 1: [1,
    /// EDeviceKeyBytes]}`; the transport is agreed out of band: BLE's options, or the
    /// test socket's address).
    pub fn new(e_device: &p256::PublicKey) -> Engagement {
        Engagement::build(e_device, None)
    }

    /// The wallet's DeviceEngagement naming where the reader finds it (section 8.2.1.1,
    /// key 2): BLE in mdoc peripheral server mode with its service UUID, or the test
    /// socket ([`RETRIEVAL_TCP`]).
    pub fn with_transport(e_device: &p256::PublicKey, transport: &Transport) -> Engagement {
        Engagement::build(e_device, Some(transport))
    }

    fn build(e_device: &p256::PublicKey, transport: Option<&Transport>) -> Engagement {
        let mut de = vec![
            (Value::Integer(0.into()), text("1.0")),
            (
                Value::Integer(1.into()),
                Value::Array(vec![
                    Value::Integer(CIPHER_SUITE.into()),
                    tag24(&cose_key(e_device)),
                ]),
            ),
        ];
        if let Some(t) = transport {
            de.push((
                Value::Integer(2.into()),
                Value::Array(vec![retrieval_method(t)]),
            ));
        }
        Engagement {
            bytes: cbor::encode(&Value::Map(de)),
            e_device: *e_device,
            transport: transport.cloned(),
        }
    }

    /// The QR text: `mdoc:` and the base64url (no padding) of the DeviceEngagement.
    pub fn to_uri(&self) -> String {
        use base64::Engine as _;
        format!(
            "{SCHEME}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&self.bytes)
        )
    }

    /// Parses a scanned `mdoc:` text: bounded, version 1.0, cipher suite 1 (any other is
    /// a downgrade or a suite this reader does not speak), a P-256 EDeviceKey.
    pub fn parse(uri: &str) -> Result<Engagement> {
        use base64::Engine as _;
        let uri = uri.trim();
        if uri.len() > MAX_ENGAGEMENT {
            return Err(bad("the engagement is longer than any mdoc's"));
        }
        let body = uri
            .strip_prefix(SCHEME)
            .ok_or_else(|| bad("not an mdoc engagement (it should start with mdoc:)"))?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| bad("the engagement is not base64url"))?;
        let m = entries(cbor::decode(&bytes)?, "DeviceEngagement")?;
        if get(&m, &Value::Integer(0.into()), "DeviceEngagement")?.and_then(Value::as_text)
            != Some("1.0")
        {
            return Err(bad("the engagement's version is not 1.0"));
        }
        let Some(Value::Array(sec)) = get(&m, &Value::Integer(1.into()), "DeviceEngagement")?
        else {
            return Err(bad("the engagement has no Security"));
        };
        let [suite, key] = sec.as_slice() else {
            return Err(bad("Security is not [cipher suite, EDeviceKeyBytes]"));
        };
        if suite.as_integer() != Some(CIPHER_SUITE.into()) {
            return Err(bad(
                "the engagement names a cipher suite other than 1 (a downgrade, or not 18013-5)",
            ));
        }
        let key = cbor::decode(&untag24(Some(key), "EDeviceKeyBytes")?)?;
        let transport = match get(&m, &Value::Integer(2.into()), "DeviceEngagement")? {
            None => None,
            Some(Value::Array(methods)) => read_retrieval(methods)?,
            Some(_) => return Err(bad("DeviceRetrievalMethods is not an array")),
        };
        Ok(Engagement {
            e_device: public_of_cose(&key)?,
            bytes,
            transport,
        })
    }
}

/// The SessionTranscript (section 9.1.5.1) of a QR engagement: `[DeviceEngagementBytes,
/// EReaderKeyBytes, null]`, encoded.
pub fn transcript(engagement: &[u8], e_reader: &p256::PublicKey) -> Vec<u8> {
    cbor::encode(&Value::Array(vec![
        Value::Tag(24, Box::new(Value::Bytes(engagement.to_vec()))),
        tag24(&cose_key(e_reader)),
        Value::Null,
    ]))
}

/// One direction of the session: AES-256-GCM under its key, the IV its 8-byte identifier
/// (reader all zeros, device `00..01`) and a 4-byte counter from 1 (section 9.1.1.5). A
/// message out of order, repeated or altered does not open.
struct Direction {
    key: aws_lc_rs::aead::LessSafeKey,
    id: [u8; 8],
    counter: u32,
}

impl Direction {
    fn new(key: &[u8; 32], reader: bool) -> Direction {
        let unbound = aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_256_GCM, key)
            .expect("a 32-byte key");
        Direction {
            key: aws_lc_rs::aead::LessSafeKey::new(unbound),
            id: if reader {
                [0; 8]
            } else {
                [0, 0, 0, 0, 0, 0, 0, 1]
            },
            counter: 0,
        }
    }

    fn nonce(&mut self) -> Result<aws_lc_rs::aead::Nonce> {
        self.counter = self
            .counter
            .checked_add(1)
            .ok_or_else(|| bad("the session's message counter ran out"))?;
        let mut iv = [0u8; 12];
        iv[..8].copy_from_slice(&self.id);
        iv[8..].copy_from_slice(&self.counter.to_be_bytes());
        Ok(aws_lc_rs::aead::Nonce::assume_unique_for_key(iv))
    }

    fn seal(&mut self, plain: &[u8]) -> Result<Vec<u8>> {
        let nonce = self.nonce()?;
        let mut out = plain.to_vec();
        self.key
            .seal_in_place_append_tag(nonce, aws_lc_rs::aead::Aad::empty(), &mut out)
            .map_err(|_| bad("encryption failed"))?;
        Ok(out)
    }

    fn open(&mut self, sealed: &[u8]) -> Result<Vec<u8>> {
        let nonce = self.nonce()?;
        let mut buf = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, aws_lc_rs::aead::Aad::empty(), &mut buf)
            .map_err(|_| {
                bad("a session message does not decrypt (altered, replayed or out of order)")
            })?;
        Ok(plain.to_vec())
    }
}

/// SKReader and SKDevice (section 9.1.1.5): HKDF-SHA256 over the ECDH shared secret's x
/// coordinate, salt SHA-256 of SessionTranscriptBytes (`#6.24(bstr .cbor transcript)`),
/// info "SKReader" / "SKDevice", 32 bytes each.
fn session_keys(
    own: &p256::SecretKey,
    peer: &p256::PublicKey,
    transcript: &[u8],
) -> ([u8; 32], [u8; 32]) {
    let shared = p256::ecdh::diffie_hellman(own.to_nonzero_scalar(), peer.as_affine());
    let salt = Sha256::digest(cbor::encode(&Value::Tag(
        24,
        Box::new(Value::Bytes(transcript.to_vec())),
    )));
    let hk = hkdf::Hkdf::<Sha256>::new(Some(&salt), shared.raw_secret_bytes());
    let (mut r, mut d) = ([0u8; 32], [0u8; 32]);
    hk.expand(b"SKReader", &mut r).expect("32 bytes");
    hk.expand(b"SKDevice", &mut d).expect("32 bytes");
    (r, d)
}

fn session_data(data: Option<Vec<u8>>, status: Option<u64>) -> Vec<u8> {
    let mut m = vec![];
    if let Some(d) = data {
        m.push((text("data"), Value::Bytes(d)));
    }
    if let Some(s) = status {
        m.push((text("status"), Value::Integer(s.into())));
    }
    cbor::encode(&Value::Map(m))
}

/// A SessionData's encrypted data and status.
fn read_session_data(bytes: &[u8]) -> Result<(Option<Vec<u8>>, Option<u64>)> {
    if bytes.len() > MAX_MESSAGE {
        return Err(bad("a session message is larger than any answer"));
    }
    // Whatever does not decode is a session that failed, never a judged answer.
    let m = entries(
        cbor::decode(bytes).map_err(|_| bad("a session message is not CBOR"))?,
        "SessionData",
    )?;
    let data = match get(&m, &text("data"), "SessionData")? {
        None => None,
        v => Some(bytes_of(v, "SessionData data")?),
    };
    let status = match get(&m, &text("status"), "SessionData")? {
        None => None,
        Some(v) => Some(
            v.as_integer()
                .and_then(|i| u64::try_from(i).ok())
                .ok_or_else(|| bad("SessionData status is not a number"))?,
        ),
    };
    Ok((data, status))
}

/// A reader's key and certificate, for ReaderAuth (section 9.1.4).
pub struct ReaderSigner {
    /// The reader key (P-256).
    pub key: p256::ecdsa::SigningKey,
    /// Its reader authentication certificate (DER), issued by a reader CA.
    pub certificate: Vec<u8>,
}

/// The reader's half of a session.
pub struct ReaderSession {
    doc_type: String,
    transcript: Vec<u8>,
    to_device: Direction,
    from_device: Direction,
}

impl ReaderSession {
    /// Starts a session with a scanned engagement: the reader's ephemeral key `e_reader`
    /// (fresh for each session), the elements wanted from `doc_type`, signed by `reader`.
    /// Returns the session and the SessionEstablishment to send.
    pub fn start(
        engagement: &Engagement,
        e_reader: &p256::SecretKey,
        doc_type: &str,
        request: &Request,
        reader: Option<&ReaderSigner>,
    ) -> Result<(ReaderSession, Vec<u8>)> {
        let e_reader_pub = e_reader.public_key();
        if e_reader_pub == engagement.e_device {
            return Err(bad("the engagement reflects this reader's own key"));
        }
        let transcript = transcript(&engagement.bytes, &e_reader_pub);
        let (sk_reader, sk_device) = session_keys(e_reader, &engagement.e_device, &transcript);
        let mut s = ReaderSession {
            doc_type: doc_type.to_owned(),
            transcript,
            to_device: Direction::new(&sk_reader, true),
            from_device: Direction::new(&sk_device, false),
        };
        let request_bytes = device_request(doc_type, request, reader, &s.transcript)?;
        let data = s.to_device.seal(&request_bytes)?;
        let establishment = cbor::encode(&Value::Map(vec![
            (text("eReaderKey"), tag24(&cose_key(&e_reader_pub))),
            (text("data"), Value::Bytes(data)),
        ]));
        Ok((s, establishment))
    }

    /// The session's transcript (what the device signed over).
    pub fn transcript(&self) -> &[u8] {
        &self.transcript
    }

    /// Reads the wallet's SessionData: its DeviceResponse, checked by [`mdoc::verify`]
    /// against `iacas` at `now` for this session. A status without data (the citizen
    /// refused, or the wallet refused the reader) is [`MdocError::Declined`].
    pub fn finish(&mut self, message: &[u8], iacas: &[Iaca], now: i64) -> Result<Verified> {
        let (data, status) = read_session_data(message)?;
        let Some(data) = data else {
            return Err(MdocError::Declined(status.unwrap_or(STATUS_END)).into());
        };
        let response = self.from_device.open(&data)?;
        let v = mdoc::verify(&response, iacas, &self.transcript, now)?;
        // Another document type than the one asked for (a foreign photo ID sharing the
        // ISO namespace, under an IACA this reader also trusts) is not an answer.
        if v.doc_type != self.doc_type {
            return Err(MdocError::Issuer(format!(
                "the wallet answered with a {}, not the {} asked for",
                v.doc_type.escape_debug(),
                self.doc_type
            ))
            .into());
        }
        Ok(v)
    }

    /// The message that ends the session (status 20).
    pub fn end() -> Vec<u8> {
        session_data(None, Some(STATUS_END))
    }
}

/// The DeviceRequest (section 8.3.2.1.2.1) of one document, with ReaderAuth when a reader
/// key is given: a COSE_Sign1 (ES256, x5chain) with the detached payload
/// `#6.24(bstr .cbor ["ReaderAuthentication", SessionTranscript, ItemsRequestBytes])`.
fn device_request(
    doc_type: &str,
    request: &Request,
    reader: Option<&ReaderSigner>,
    transcript: &[u8],
) -> Result<Vec<u8>> {
    let namespaces = request
        .iter()
        .map(|(ns, ids)| {
            (
                text(ns),
                Value::Map(
                    ids.iter()
                        .map(|id| (text(id), Value::Bool(false)))
                        .collect(),
                ),
            )
        })
        .collect();
    let items = tag24(&Value::Map(vec![
        (text("docType"), text(doc_type)),
        (text("nameSpaces"), Value::Map(namespaces)),
    ]));
    let mut doc_request = vec![(text("itemsRequest"), items.clone())];
    if let Some(r) = reader {
        let auth = tag24(&Value::Array(vec![
            text("ReaderAuthentication"),
            cbor::decode(transcript)?,
            items,
        ]));
        let (protected, unprotected) = mdoc::x5chain_headers(&r.certificate);
        let sig = CoseSign1Builder::new()
            .protected(protected)
            .unprotected(unprotected)
            .create_detached_signature(&cbor::encode(&auth), b"", |tbs| {
                use p256::ecdsa::signature::Signer as _;
                let s: p256::ecdsa::Signature = r.key.sign(tbs);
                s.to_bytes().to_vec()
            })
            .build()
            .to_cbor_value()
            .map_err(|e| bad(e.to_string()))?;
        doc_request.push((text("readerAuth"), sig));
    }
    Ok(cbor::encode(&Value::Map(vec![
        (text("version"), text("1.0")),
        (
            text("docRequests"),
            Value::Array(vec![Value::Map(doc_request)]),
        ),
    ])))
}

/// Who asked, as the wallet judged the request's ReaderAuth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReaderIdentity {
    /// No ReaderAuth: any device could have asked.
    Anonymous,
    /// A reader certificate chained to a trusted reader CA, valid now, signed this
    /// request in this session.
    Authenticated {
        /// The certificate's subject.
        subject: String,
        /// What the certificate lets it request.
        allowed: Request,
    },
    /// ReaderAuth that does not hold (no chain, expired, not a reader certificate, a
    /// signature over another session): treated as worse than anonymous.
    Invalid(String),
}

/// A request as the wallet received it.
#[derive(Clone, Debug)]
pub struct ReceivedRequest {
    /// The document type asked for.
    pub doc_type: String,
    /// The elements asked for.
    pub request: Request,
    /// Who asked.
    pub reader: ReaderIdentity,
}

impl ReceivedRequest {
    /// The elements asked for beyond what the reader's certificate allows (all of them
    /// for an anonymous or invalid reader).
    pub fn beyond_certificate(&self) -> Request {
        let allowed = match &self.reader {
            ReaderIdentity::Authenticated { allowed, .. } => allowed.clone(),
            _ => Request::new(),
        };
        let mut out = Request::new();
        for (ns, ids) in &self.request {
            let ok = allowed.get(ns);
            let over: Vec<String> = ids
                .iter()
                .filter(|id| !ok.is_some_and(|a| a.contains(id)))
                .cloned()
                .collect();
            if !over.is_empty() {
                out.insert(ns.clone(), over);
            }
        }
        out
    }
}

/// The wallet's half of a session.
pub struct DeviceSession {
    transcript: Vec<u8>,
    to_reader: Direction,
    from_reader: Direction,
}

impl DeviceSession {
    /// Accepts a SessionEstablishment for the engagement the wallet showed (its bytes and
    /// ephemeral key `e_device`): derives the keys, decrypts the DeviceRequest and judges
    /// its ReaderAuth against `reader_cas` at `now`.
    pub fn accept(
        engagement: &Engagement,
        e_device: &p256::SecretKey,
        establishment: &[u8],
        reader_cas: &[Iaca],
        now: i64,
    ) -> Result<(DeviceSession, ReceivedRequest)> {
        DeviceSession::accept_checked(engagement, e_device, establishment, reader_cas, &[], now)
    }

    /// [`DeviceSession::accept`] with the reader certificates the trust list revoked
    /// (their SHA-256): a reader presenting one is invalid.
    pub fn accept_checked(
        engagement: &Engagement,
        e_device: &p256::SecretKey,
        establishment: &[u8],
        reader_cas: &[Iaca],
        revoked: &[[u8; 32]],
        now: i64,
    ) -> Result<(DeviceSession, ReceivedRequest)> {
        if establishment.len() > MAX_MESSAGE {
            return Err(bad("the session establishment is larger than any request"));
        }
        let m = entries(cbor::decode(establishment)?, "SessionEstablishment")?;
        let key = cbor::decode(&untag24(
            get(&m, &text("eReaderKey"), "SessionEstablishment")?,
            "eReaderKey",
        )?)?;
        let e_reader = public_of_cose(&key)?;
        if e_reader == engagement.e_device {
            return Err(bad("the reader's key is this wallet's own (a reflection)"));
        }
        let data = bytes_of(get(&m, &text("data"), "SessionEstablishment")?, "data")?;
        let transcript = transcript(&engagement.bytes, &e_reader);
        let (sk_reader, sk_device) = session_keys(e_device, &e_reader, &transcript);
        let mut s = DeviceSession {
            transcript,
            to_reader: Direction::new(&sk_device, false),
            from_reader: Direction::new(&sk_reader, true),
        };
        let request_bytes = s.from_reader.open(&data)?;
        let received = read_request(&request_bytes, &s.transcript, reader_cas, revoked, now)?;
        Ok((s, received))
    }

    /// The SessionData carrying the DeviceResponse: the issuer-signed elements of
    /// `disclose` (what the citizen agreed to), device-signed over this session.
    pub fn answer(
        &mut self,
        issuer_signed: &[u8],
        disclose: &Request,
        device: &dyn HolderSigner,
    ) -> Result<Vec<u8>> {
        let response = mdoc::respond(issuer_signed, Some(disclose), &self.transcript, device)?;
        Ok(session_data(Some(self.to_reader.seal(&response)?), None))
    }

    /// The SessionData that declines and ends the session (status 20, no data).
    pub fn decline() -> Vec<u8> {
        session_data(None, Some(STATUS_END))
    }

    /// The session's transcript.
    pub fn transcript(&self) -> &[u8] {
        &self.transcript
    }
}

fn read_request(
    bytes: &[u8],
    transcript: &[u8],
    reader_cas: &[Iaca],
    revoked: &[[u8; 32]],
    now: i64,
) -> Result<ReceivedRequest> {
    let m = entries(cbor::decode(bytes)?, "DeviceRequest")?;
    if get(&m, &text("version"), "DeviceRequest")?.and_then(Value::as_text) != Some("1.0") {
        return Err(bad("the DeviceRequest's version is not 1.0"));
    }
    let Some(Value::Array(docs)) = get(&m, &text("docRequests"), "DeviceRequest")? else {
        return Err(bad("the DeviceRequest has no docRequests"));
    };
    let [doc] = docs.as_slice() else {
        return Err(bad(
            "the DeviceRequest asks for more or fewer than one document",
        ));
    };
    let Value::Map(doc) = doc else {
        return Err(bad("a DocRequest is not a map"));
    };
    let items_value = get(doc, &text("itemsRequest"), "DocRequest")?
        .ok_or_else(|| bad("the DocRequest has no itemsRequest"))?
        .clone();
    let items = entries(
        cbor::decode(&untag24(Some(&items_value), "ItemsRequestBytes")?)?,
        "ItemsRequest",
    )?;
    let doc_type = get(&items, &text("docType"), "ItemsRequest")?
        .and_then(Value::as_text)
        .ok_or_else(|| bad("the ItemsRequest has no docType"))?
        .to_owned();
    let mut request = Request::new();
    let Some(Value::Map(nss)) = get(&items, &text("nameSpaces"), "ItemsRequest")? else {
        return Err(bad("the ItemsRequest has no nameSpaces"));
    };
    for (ns, ids) in nss {
        let ns = ns.as_text().ok_or_else(|| bad("a namespace is not text"))?;
        let Value::Map(ids) = ids else {
            return Err(bad("a namespace's elements are not a map"));
        };
        let mut list = vec![];
        for (id, _) in ids {
            list.push(
                id.as_text()
                    .ok_or_else(|| bad("an element identifier is not text"))?
                    .to_owned(),
            );
        }
        if request.insert(ns.to_owned(), list).is_some() {
            return Err(bad("a namespace appears twice in the request"));
        }
    }
    let reader = match get(doc, &text("readerAuth"), "DocRequest")? {
        None => ReaderIdentity::Anonymous,
        Some(auth) => match reader_auth(auth, &items_value, transcript, reader_cas, revoked, now) {
            Ok(id) => id,
            Err(e) => ReaderIdentity::Invalid(e.to_string()),
        },
    };
    Ok(ReceivedRequest {
        doc_type,
        request,
        reader,
    })
}

/// Section 9.1.4: the reader certificate chained to a trusted reader CA, valid now, with
/// the reader authentication usage, and its signature over this session's
/// ReaderAuthentication.
fn reader_auth(
    auth: &Value,
    items: &Value,
    transcript: &[u8],
    reader_cas: &[Iaca],
    revoked: &[[u8; 32]],
    now: i64,
) -> Result<ReaderIdentity> {
    let sign1 =
        CoseSign1::from_cbor_value(auth.clone()).map_err(|e| bad(format!("readerAuth: {e}")))?;
    if sign1.protected.header.alg
        != Some(coset::RegisteredLabelWithPrivate::Assigned(
            iana::Algorithm::ES256,
        ))
    {
        return Err(bad("readerAuth is not ES256"));
    }
    if sign1.payload.is_some() {
        return Err(bad("readerAuth's payload must be detached"));
    }
    if !sign1.protected.header.crit.is_empty() {
        return Err(bad(
            "readerAuth names critical header parameters this wallet does not know",
        ));
    }
    let der = mdoc::x5chain_leaf(&sign1)?;
    let cert = check_reader_certificate(&der, reader_cas, revoked, now)?;
    let detached = cbor::encode(&tag24(&Value::Array(vec![
        text("ReaderAuthentication"),
        cbor::decode(transcript)?,
        items.clone(),
    ])));
    sign1
        .verify_detached_signature(&detached, b"", |sig, tbs| {
            crate::mdoc::es256(&cert.public_key, tbs, sig)
        })
        .map_err(|()| bad("readerAuth does not verify for this session's request"))?;
    Ok(ReaderIdentity::Authenticated {
        subject: cert.subject,
        allowed: cert.allowed,
    })
}

/// A reader certificate that chains to a trusted reader CA.
#[derive(Clone, Debug, PartialEq)]
pub struct ReaderCertificate {
    /// Its subject.
    pub subject: String,
    /// Its last valid second.
    pub not_after: i64,
    /// What it lets the reader request.
    pub allowed: Request,
    /// The reader key (SEC1, uncompressed).
    pub public_key: Vec<u8>,
}

/// Checks a reader certificate (DER): not `revoked` (the SHA-256 of its TBSCertificate is
/// not listed), signed by
/// one of `reader_cas`, both valid at `now` (starts with [`mdoc::CLOCK_SKEW_SECS`] of
/// slack), and for reader authentication (EKU 1.0.18013.5.1.6, not a CA). What a wallet
/// checks of every ReaderAuth, and what a gate checks of the certificate it is given
/// before it installs it and before each session.
pub fn check_reader_certificate(
    der: &[u8],
    reader_cas: &[Iaca],
    revoked: &[[u8; 32]],
    now: i64,
) -> Result<ReaderCertificate> {
    let cert = x509::Parsed::from_der(der)?;
    // Named by what its CA signed (the TBSCertificate), which no re-encoding of the
    // signature changes: ECDSA's (r, n - s) is as valid as (r, s).
    if revoked.contains(&cert.tbs_sha256()) {
        return Err(bad(format!(
            "the reader certificate of `{}` was revoked by its reader CA",
            cert.subject.escape_debug()
        )));
    }
    let ca = reader_cas
        .iter()
        .find(|ca| {
            ca.parsed().subject_der == cert.issuer_der && x509::signed_by(&cert, ca.parsed())
        })
        .ok_or_else(|| {
            bad(format!(
                "the reader `{}` is not certified by a trusted reader CA",
                cert.subject.escape_debug()
            ))
        })?;
    for (c, what) in [
        (ca.parsed(), "the reader CA"),
        (&cert, "the reader certificate"),
    ] {
        if now + mdoc::CLOCK_SKEW_SECS < c.not_before || now > c.not_after {
            return Err(bad(format!("{what} is not valid at this time")));
        }
    }
    if cert.is_ca || !cert.eku_reader_auth {
        return Err(bad(
            "the certificate is not for reader authentication (EKU 1.0.18013.5.1.6)",
        ));
    }
    Ok(ReaderCertificate {
        subject: cert.subject,
        not_after: cert.not_after,
        allowed: cert.allowed.unwrap_or_default(),
        public_key: cert.public_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mdoc::{Validity, DOC_TYPE, NS_ISO, NS_TH};
    use crate::model::AgeClaims;
    use rand::SeedableRng as _;

    const NOW: i64 = 1_796_342_400;
    const DAY: i64 = 86_400;

    fn key(seed: u8) -> p256::ecdsa::SigningKey {
        p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap()
    }
    fn secret(seed: u8) -> p256::SecretKey {
        p256::SecretKey::from_slice(&[seed; 32]).unwrap()
    }
    fn subject(cn: &str) -> x509::Subject<'_> {
        x509::Subject {
            country: "TH",
            common_name: cn,
            authority_url: "https://tuaton.invalid",
            crl_url: "https://tuaton.invalid/bundle/ca.crl",
        }
    }

    struct World {
        iaca: Iaca,
        issued: Vec<u8>,
        device: p256::ecdsa::SigningKey,
        reader_ca: Iaca,
        reader: ReaderSigner,
    }

    fn flight() -> Request {
        [(
            NS_ISO.to_owned(),
            vec![
                "given_name".to_owned(),
                "family_name".to_owned(),
                "portrait".to_owned(),
            ],
        )]
        .into_iter()
        .collect()
    }

    fn world() -> World {
        let iaca_key = key(3);
        let iaca_der =
            x509::iaca(&iaca_key, &subject("IACA"), 1, NOW - DAY, NOW + 3650 * DAY).unwrap();
        let ds_key = key(4);
        let ds = mdoc::InMemorySigner {
            certificate: x509::document_signer(
                &iaca_key,
                &iaca_der,
                ds_key.verifying_key(),
                &subject("DS"),
                2,
                NOW - DAY,
                NOW + 365 * DAY,
            )
            .unwrap(),
            key: ds_key,
        };
        let device = key(5);
        let claims = crate::sample::citizen(0);
        let age = AgeClaims::on(claims.birth_date, claims.issue_date);
        let issued = mdoc::issue(
            &claims,
            age,
            &device.holder_key(),
            Validity {
                signed: NOW,
                valid_from: NOW,
                valid_until: NOW + 30 * DAY,
            },
            None,
            &ds,
            &mut rand::rngs::StdRng::seed_from_u64(1),
        )
        .unwrap();
        let ca_key = key(6);
        let ca_der = x509::reader_ca(
            &ca_key,
            &subject("AOT reader CA"),
            1,
            NOW - DAY,
            NOW + 3650 * DAY,
        )
        .unwrap();
        let reader_key = key(7);
        let reader = ReaderSigner {
            certificate: x509::reader_certificate(
                &ca_key,
                &ca_der,
                reader_key.verifying_key(),
                &subject("BKK gate 12"),
                9,
                NOW - DAY,
                NOW + 7 * DAY,
                &flight(),
            )
            .unwrap(),
            key: reader_key,
        };
        World {
            iaca: Iaca::from_der(&iaca_der).unwrap(),
            issued,
            device,
            reader_ca: Iaca::from_der(&ca_der).unwrap(),
            reader,
        }
    }

    /// One whole exchange: engagement, establishment, the wallet's judgement, its answer
    /// of what it was asked (when `disclose`), and the reader's verdict.
    fn exchange(
        w: &World,
        request: &Request,
        reader: Option<&ReaderSigner>,
    ) -> (ReceivedRequest, Result<Verified>) {
        let e_device = secret(11);
        let engagement = Engagement::new(&e_device.public_key());
        let scanned = Engagement::parse(&engagement.to_uri()).unwrap();
        let (mut r, establishment) =
            ReaderSession::start(&scanned, &secret(12), DOC_TYPE, request, reader).unwrap();
        let (mut d, received) = DeviceSession::accept(
            &engagement,
            &e_device,
            &establishment,
            std::slice::from_ref(&w.reader_ca),
            NOW,
        )
        .unwrap();
        let answer = d.answer(&w.issued, &received.request, &w.device).unwrap();
        let verdict = r.finish(&answer, std::slice::from_ref(&w.iaca), NOW + 60);
        (received, verdict)
    }

    /// The reader asking `doc_type` for the flight elements with reader authentication,
    /// the wallet accepting at `NOW` and answering: the reader's half and the answer.
    fn answered(
        w: &World,
        engagement: &Engagement,
        e_device: &p256::SecretKey,
        doc_type: &str,
    ) -> (ReaderSession, Vec<u8>) {
        let (r, establishment) = ReaderSession::start(
            engagement,
            &secret(12),
            doc_type,
            &flight(),
            Some(&w.reader),
        )
        .unwrap();
        let (mut d, received) = DeviceSession::accept(
            engagement,
            e_device,
            &establishment,
            std::slice::from_ref(&w.reader_ca),
            NOW,
        )
        .unwrap();
        let answer = d.answer(&w.issued, &received.request, &w.device).unwrap();
        (r, answer)
    }

    #[test]
    fn an_authenticated_reader_gets_what_its_certificate_allows() {
        let w = world();
        let (received, verdict) = exchange(&w, &flight(), Some(&w.reader));
        let ReaderIdentity::Authenticated { subject, allowed } = &received.reader else {
            panic!("{:?}", received.reader);
        };
        assert!(subject.contains("BKK gate 12"));
        assert_eq!(allowed, &flight());
        assert!(received.beyond_certificate().is_empty());
        let v = verdict.unwrap();
        let ids: Vec<_> = v.elements.keys().map(|(_, id)| id.as_str()).collect();
        assert_eq!(ids, ["family_name", "given_name", "portrait"]);
    }

    #[test]
    fn a_reader_asking_beyond_its_certificate_is_shown_what_is_beyond() {
        let w = world();
        let mut more = flight();
        more.insert(NS_TH.to_owned(), vec!["address".to_owned()]);
        let (received, _) = exchange(&w, &more, Some(&w.reader));
        let beyond = received.beyond_certificate();
        assert_eq!(beyond.len(), 1);
        assert_eq!(beyond[NS_TH], ["address"]);
    }

    #[test]
    fn an_unauthenticated_reader_is_anonymous_and_every_element_is_beyond() {
        let w = world();
        let (received, verdict) = exchange(&w, &flight(), None);
        assert_eq!(received.reader, ReaderIdentity::Anonymous);
        assert_eq!(received.beyond_certificate(), flight());
        // The protocol itself still works (a wallet may answer if the citizen overrides).
        assert!(verdict.is_ok());
    }

    #[test]
    fn an_expired_or_foreign_reader_certificate_is_invalid() {
        let w = world();
        // Valid for a week from yesterday: at NOW + 8 days it has expired.
        let e_device = secret(11);
        let engagement = Engagement::new(&e_device.public_key());
        let (_, establishment) = ReaderSession::start(
            &engagement,
            &secret(12),
            DOC_TYPE,
            &flight(),
            Some(&w.reader),
        )
        .unwrap();
        let (_, late) = DeviceSession::accept(
            &engagement,
            &e_device,
            &establishment,
            std::slice::from_ref(&w.reader_ca),
            NOW + 8 * DAY,
        )
        .unwrap();
        assert!(
            matches!(late.reader, ReaderIdentity::Invalid(ref e) if e.contains("not valid")),
            "{:?}",
            late.reader
        );
        // A reader CA the wallet does not trust.
        let (_, foreign) = DeviceSession::accept(
            &engagement,
            &e_device,
            &establishment,
            std::slice::from_ref(&w.iaca),
            NOW,
        )
        .unwrap();
        assert!(
            matches!(foreign.reader, ReaderIdentity::Invalid(_)),
            "{:?}",
            foreign.reader
        );
    }

    #[test]
    fn reader_auth_from_another_session_does_not_hold() {
        // A request recorded in one session and replayed into another: the transcript
        // differs, so its ReaderAuth fails even though the certificate is good.
        let w = world();
        let e1 = secret(11);
        let eng1 = Engagement::new(&e1.public_key());
        let items = device_request(
            DOC_TYPE,
            &flight(),
            Some(&w.reader),
            &transcript(&eng1.bytes, &secret(12).public_key()),
        )
        .unwrap();
        let e2 = secret(13);
        let eng2 = Engagement::new(&e2.public_key());
        let t2 = transcript(&eng2.bytes, &secret(12).public_key());
        let r = read_request(&items, &t2, std::slice::from_ref(&w.reader_ca), &[], NOW).unwrap();
        assert!(
            matches!(r.reader, ReaderIdentity::Invalid(ref e) if e.contains("this session")),
            "{:?}",
            r.reader
        );
    }

    #[test]
    fn a_downgraded_or_malformed_engagement_is_refused() {
        let e = Engagement::new(&secret(11).public_key());
        let mut v = cbor::decode(&e.bytes).unwrap();
        if let Value::Map(m) = &mut v {
            if let Value::Array(sec) = &mut m[1].1 {
                sec[0] = Value::Integer(2.into());
            }
        }
        use base64::Engine as _;
        let downgraded = format!(
            "mdoc:{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(cbor::encode(&v))
        );
        let err = Engagement::parse(&downgraded).unwrap_err().to_string();
        assert!(err.contains("cipher suite"), "{err}");
        for bad in [
            "",
            "mdoc:",
            "mdoc:!!!",
            "TTB1:abc",
            "mdoc:oA",
            &"mdoc:A".repeat(400),
        ] {
            assert!(Engagement::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_engagement_names_where_the_wallet_is_and_a_reader_takes_what_it_speaks() {
        let key = secret(11).public_key();
        for t in [
            Transport::Socket {
                addr: "127.0.0.1:4000".into(),
            },
            Transport::Socket {
                addr: "[::1]:4000".into(),
            },
            Transport::Ble { service: [7; 16] },
        ] {
            let e = Engagement::with_transport(&key, &t);
            assert_eq!(Engagement::parse(&e.to_uri()).unwrap().transport, Some(t));
        }
        assert_eq!(
            Engagement::parse(&Engagement::new(&key).to_uri())
                .unwrap()
                .transport,
            None
        );
        let with_methods = |methods: Vec<Value>| {
            let mut v = cbor::decode(&Engagement::new(&key).bytes).unwrap();
            if let Value::Map(m) = &mut v {
                m.push((Value::Integer(2.into()), Value::Array(methods)));
            }
            use base64::Engine as _;
            format!(
                "mdoc:{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(cbor::encode(&v))
            )
        };
        let int = |i: i64| Value::Integer(i.into());
        // NFC first, then BLE in central client mode only: neither is spoken; the socket is.
        let skip = with_methods(vec![
            Value::Array(vec![int(1), int(1), Value::Map(vec![])]),
            Value::Array(vec![
                int(2),
                int(1),
                Value::Map(vec![
                    (int(0), Value::Bool(false)),
                    (int(1), Value::Bool(true)),
                ]),
            ]),
            Value::Array(vec![
                int(-10),
                int(1),
                Value::Map(vec![(int(0), text("127.0.0.1")), (int(1), int(9))]),
            ]),
        ]);
        assert_eq!(
            Engagement::parse(&skip).unwrap().transport,
            Some(Transport::Socket {
                addr: "127.0.0.1:9".into()
            })
        );
        // Malformed methods refuse the engagement.
        for bad in [
            vec![int(2)],
            vec![Value::Array(vec![
                int(2),
                int(1),
                Value::Map(vec![(int(0), Value::Bool(true))]),
            ])],
            vec![Value::Array(vec![
                int(-10),
                int(1),
                Value::Map(vec![(int(1), int(70_000))]),
            ])],
            vec![Value::Array(vec![int(1), int(1), Value::Map(vec![])]); 9],
        ] {
            assert!(Engagement::parse(&with_methods(bad)).is_err());
        }
    }

    #[test]
    fn a_whole_session_crosses_a_ble_link_in_18013_5_framing_at_the_smallest_mtu() {
        use crate::link::{memory_pair, recv_framed, send_framed, Faults, Framing};
        let w = world();
        let e_device = secret(11);
        let engagement = Engagement::with_transport(
            &e_device.public_key(),
            &Transport::Ble { service: [3; 16] },
        );
        let scanned = Engagement::parse(&engagement.to_uri()).unwrap();
        let (mut reader, mut wallet) = memory_pair(23, Faults::default(), Faults::default());
        let (mut r, establishment) =
            ReaderSession::start(&scanned, &secret(12), DOC_TYPE, &flight(), Some(&w.reader))
                .unwrap();
        send_framed(&mut reader, &establishment, Framing::Iso).unwrap();
        let got = recv_framed(&mut wallet, MAX_MESSAGE, Framing::Iso).unwrap();
        let (mut d, received) = DeviceSession::accept(
            &engagement,
            &e_device,
            &got,
            std::slice::from_ref(&w.reader_ca),
            NOW,
        )
        .unwrap();
        let answer = d.answer(&w.issued, &received.request, &w.device).unwrap();
        // 19 bytes of message per write at MTU 23: the flag is the only header.
        let writes = send_framed(&mut wallet, &answer, Framing::Iso).unwrap();
        assert_eq!(writes, answer.len().div_ceil(19));
        let got = recv_framed(&mut reader, MAX_MESSAGE, Framing::Iso).unwrap();
        let v = r
            .finish(&got, std::slice::from_ref(&w.iaca), NOW + 60)
            .unwrap();
        assert_eq!(v.elements.len(), 3);
    }

    #[test]
    fn attack_a_revoked_reader_certificate_with_its_signature_re_encoded_is_still_revoked() {
        use x509_cert::der::{Decode as _, Encode as _};
        let w = world();
        let der = &w.reader.certificate;
        let tbs = x509::Parsed::from_der(der).unwrap().tbs_sha256();
        // ECDSA's other valid signature over the same bytes: (r, n - s).
        let mut cert = x509_cert::Certificate::from_der(der).unwrap();
        let sig = p256::ecdsa::Signature::from_der(cert.signature.raw_bytes()).unwrap();
        let (r, s) = sig.split_scalars();
        let flipped = p256::ecdsa::Signature::from_scalars(r, -*s).unwrap();
        cert.signature =
            x509_cert::der::asn1::BitString::from_bytes(flipped.to_der().as_bytes()).unwrap();
        let other = cert.to_der().unwrap();
        assert_ne!(&other, der, "another encoding of the same certificate");
        let cas = std::slice::from_ref(&w.reader_ca);
        // It still chains: only the revocation tells them apart.
        assert!(check_reader_certificate(&other, cas, &[], NOW).is_ok());
        for c in [der.as_slice(), &other] {
            let e = check_reader_certificate(c, cas, &[tbs], NOW).unwrap_err();
            assert!(e.to_string().contains("was revoked"), "{e}");
        }
    }

    #[test]
    fn a_replayed_or_altered_session_message_does_not_open() {
        let w = world();
        let e_device = secret(11);
        let engagement = Engagement::new(&e_device.public_key());
        let (mut r, answer) = answered(&w, &engagement, &e_device, DOC_TYPE);
        let mut altered = answer.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        let e = r
            .finish(&altered, std::slice::from_ref(&w.iaca), NOW)
            .unwrap_err();
        assert!(e.to_string().contains("does not decrypt"), "{e}");
        // The counter moved on: even the genuine message, now out of order, fails; and a
        // message sealed for this session replayed into a fresh one fails too.
        assert!(r
            .finish(&answer, std::slice::from_ref(&w.iaca), NOW)
            .is_err());
        let (mut r2, _) = ReaderSession::start(
            &engagement,
            &secret(14),
            DOC_TYPE,
            &flight(),
            Some(&w.reader),
        )
        .unwrap();
        assert!(r2
            .finish(&answer, std::slice::from_ref(&w.iaca), NOW)
            .is_err());
        // A reflected key is refused by both ends.
        assert!(ReaderSession::start(&engagement, &e_device, DOC_TYPE, &flight(), None).is_err());
    }

    #[test]
    fn an_answer_of_another_document_type_than_asked_is_refused() {
        // The reader asked for an mDL; the wallet's answer is the Thai card (a foreign
        // document under an IACA the reader also trusts would look the same).
        let w = world();
        let e_device = secret(11);
        let engagement = Engagement::new(&e_device.public_key());
        let (mut r, answer) = answered(&w, &engagement, &e_device, "org.iso.18013.5.1.mDL");
        let e = r
            .finish(&answer, std::slice::from_ref(&w.iaca), NOW)
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("not the org.iso.18013.5.1.mDL asked for"),
            "{e}"
        );
    }

    #[test]
    fn a_declined_request_is_a_declined_verdict() {
        let w = world();
        let engagement = Engagement::new(&secret(11).public_key());
        let (mut r, _) = ReaderSession::start(
            &engagement,
            &secret(12),
            DOC_TYPE,
            &flight(),
            Some(&w.reader),
        )
        .unwrap();
        let e = r
            .finish(
                &DeviceSession::decline(),
                std::slice::from_ref(&w.iaca),
                NOW,
            )
            .unwrap_err();
        assert!(
            matches!(e, crate::Error::Mdoc(MdocError::Declined(20))),
            "{e}"
        );
    }
}
