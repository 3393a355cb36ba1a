//! Keys in a PKCS#11 token (an HSM, or SoftHSM in tests): the service asks the token to
//! sign and never holds the private half. Keys are Ed25519 (CKM_EC_EDWARDS_KEY_PAIR_GEN,
//! signed with CKM_EDDSA), made non-extractable and found again by their label.

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use ed25519_dalek::VerifyingKey;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tuaton_common::signer::KeySigner;

use crate::{IssuerError, Result};

/// DER of the Ed25519 curve OID 1.3.101.112, the CKA_EC_PARAMS of an Ed25519 key.
const ED25519_PARAMS: [u8; 5] = [0x06, 0x03, 0x2B, 0x65, 0x70];

/// A session kept for reuse, with the private-key handles it has looked up: a search of
/// the token's objects for every signature cost more than the signature.
struct Pooled {
    session: Session,
    handles: HashMap<String, ObjectHandle>,
}

impl Pooled {
    fn new(session: Session) -> Pooled {
        Pooled {
            session,
            handles: HashMap::new(),
        }
    }

    /// The private key labelled `label`, looked up once per session.
    fn private_key(&mut self, label: &str) -> Result<ObjectHandle> {
        if let Some(h) = self.handles.get(label) {
            return Ok(*h);
        }
        let h = find_one(&self.session, ObjectClass::PRIVATE_KEY, label)?;
        self.handles.insert(label.to_owned(), h);
        Ok(h)
    }
}

/// An open, logged-in token.
pub struct Token {
    ctx: Pkcs11,
    slot: Slot,
    /// Sessions are not shareable between threads: a few are kept and reused.
    idle: Mutex<Vec<Pooled>>,
    label: String,
}

fn tok(what: &str) -> impl Fn(cryptoki::error::Error) -> IssuerError + '_ {
    move |e| IssuerError::Token(format!("{what}: {e}"))
}

/// Where to find a token: the PKCS#11 module, the token's label, the user PIN.
#[derive(Clone, Debug)]
pub struct TokenConfig {
    /// The module (`/usr/lib/softhsm/libsofthsm2.so`).
    pub module: std::path::PathBuf,
    /// The token label.
    pub label: String,
    /// The user PIN.
    pub pin: String,
}

impl Token {
    /// Loads the module, finds the token by label and logs in.
    pub fn open(cfg: &TokenConfig) -> Result<Arc<Token>> {
        if !Path::new(&cfg.module).is_file() {
            return Err(IssuerError::Token(format!(
                "no PKCS#11 module at {}",
                cfg.module.display()
            )));
        }
        let ctx = Pkcs11::new(&cfg.module).map_err(tok("loading the module"))?;
        // A module another part of this process has already initialised (a second issuer
        // opened on the same token) is ready as it is: PKCS#11 keeps one initialisation per
        // process, and nothing here finalises it.
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(())
            | Err(cryptoki::error::Error::Pkcs11(
                cryptoki::error::RvError::CryptokiAlreadyInitialized,
                _,
            )) => {}
            Err(e) => return Err(tok("initialising the module")(e)),
        }
        let mut found = None;
        for slot in ctx.get_slots_with_token().map_err(tok("listing slots"))? {
            let info = ctx.get_token_info(slot).map_err(tok("reading a token"))?;
            if info.label().trim_end() == cfg.label {
                found = Some(slot);
                break;
            }
        }
        let slot = found.ok_or_else(|| {
            IssuerError::Token(format!("no token labelled \"{}\" in the module", cfg.label))
        })?;
        let session = ctx
            .open_rw_session(slot)
            .map_err(tok("opening a session"))?;
        session
            .login(UserType::User, Some(&AuthPin::new(cfg.pin.clone().into())))
            // Login is per application: a second opening finds the user logged in.
            .or_else(|e| match e {
                cryptoki::error::Error::Pkcs11(
                    cryptoki::error::RvError::UserAlreadyLoggedIn,
                    _,
                ) => Ok(()),
                e => Err(e),
            })
            .map_err(|e| match e {
                cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::PinIncorrect, _) => {
                    IssuerError::Token("the token PIN is wrong".into())
                }
                e => IssuerError::Token(format!("logging in: {e}")),
            })?;
        Ok(Arc::new(Token {
            ctx,
            slot,
            idle: Mutex::new(vec![Pooled::new(session)]),
            label: cfg.label.clone(),
        }))
    }

    fn with_pooled<T>(&self, f: impl FnOnce(&mut Pooled) -> Result<T>) -> Result<T> {
        let p = self.idle.lock().expect("not poisoned").pop();
        let mut p = match p {
            Some(p) => p,
            // Login is per application: a new session of a logged-in token is logged in.
            None => Pooled::new(
                self.ctx
                    .open_rw_session(self.slot)
                    .map_err(tok("opening a session"))?,
            ),
        };
        let r = f(&mut p);
        self.idle.lock().expect("not poisoned").push(p);
        r
    }

    fn with_session<T>(&self, f: impl FnOnce(&Session) -> Result<T>) -> Result<T> {
        self.with_pooled(|p| f(&p.session))
    }

    /// Makes a new Ed25519 key pair in the token, private half sensitive and never
    /// extractable, both halves labelled `label`.
    pub fn generate(self: &Arc<Self>, label: &str) -> Result<Arc<dyn KeySigner>> {
        let public = self.with_session(|s| {
            let pub_t = [
                Attribute::Token(true),
                Attribute::Verify(true),
                Attribute::EcParams(ED25519_PARAMS.to_vec()),
                Attribute::Label(label.as_bytes().to_vec()),
            ];
            let priv_t = [
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sign(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Label(label.as_bytes().to_vec()),
            ];
            let (pk, _) = s
                .generate_key_pair(&Mechanism::EccEdwardsKeyPairGen, &pub_t, &priv_t)
                .map_err(tok("generating an Ed25519 key"))?;
            public_of(s, pk)
        })?;
        Ok(Arc::new(TokenKey {
            token: self.clone(),
            label: label.into(),
            public,
        }))
    }

    /// The key labelled `label`, checked to be one Ed25519 pair.
    pub fn key(self: &Arc<Self>, label: &str) -> Result<Arc<dyn KeySigner>> {
        let public = self.with_session(|s| {
            let pk = find_one(s, ObjectClass::PUBLIC_KEY, label)?;
            find_one(s, ObjectClass::PRIVATE_KEY, label)?;
            public_of(s, pk)
        })?;
        Ok(Arc::new(TokenKey {
            token: self.clone(),
            label: label.into(),
            public,
        }))
    }

    /// Whether the token still answers (readiness): its session information, read in a
    /// session of the pool.
    pub fn ping(&self) -> Result<()> {
        self.with_session(|s| {
            s.get_session_info()
                .map(drop)
                .map_err(tok("reading a session"))
        })
    }

    /// The token's label.
    pub fn label(&self) -> &str {
        &self.label
    }
}

fn find_one(s: &Session, class: ObjectClass, label: &str) -> Result<ObjectHandle> {
    let found = s
        .find_objects(&[
            Attribute::Class(class),
            Attribute::KeyType(KeyType::EC_EDWARDS),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .map_err(tok("finding a key"))?;
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(IssuerError::Token(format!(
            "the token has no Ed25519 key labelled \"{label}\""
        ))),
        _ => Err(IssuerError::Token(format!(
            "the token has several keys labelled \"{label}\""
        ))),
    }
}

/// CKA_EC_POINT of an Ed25519 public key: the 32 bytes, DER OCTET STRING-wrapped (as
/// SoftHSM returns it) or bare.
fn public_of(s: &Session, pk: ObjectHandle) -> Result<VerifyingKey> {
    let attrs = s
        .get_attributes(pk, &[AttributeType::EcPoint])
        .map_err(tok("reading a public key"))?;
    let point = attrs
        .into_iter()
        .find_map(|a| match a {
            Attribute::EcPoint(p) => Some(p),
            _ => None,
        })
        .ok_or_else(|| IssuerError::Token("a key has no public point".into()))?;
    let raw: &[u8] = match point.as_slice() {
        [0x04, 0x20, rest @ ..] if rest.len() == 32 => rest,
        p if p.len() == 32 => p,
        _ => return Err(IssuerError::Token("a public key is not Ed25519".into())),
    };
    VerifyingKey::from_bytes(raw.try_into().expect("32 bytes"))
        .map_err(|_| IssuerError::Token("a public key is not a valid Ed25519 point".into()))
}

/// One key in the token.
struct TokenKey {
    token: Arc<Token>,
    label: String,
    public: VerifyingKey,
}

impl KeySigner for TokenKey {
    fn public_key(&self) -> VerifyingKey {
        self.public
    }
    fn sign_message(&self, message: &[u8]) -> tuaton_common::Result<[u8; 64]> {
        let sig = self
            .token
            .with_pooled(|p| {
                let mechanism = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
                let k = p.private_key(&self.label)?;
                match p.session.sign(&mechanism, k, message) {
                    // A key destroyed and made again under its label has a new handle:
                    // look it up once more.
                    Err(cryptoki::error::Error::Pkcs11(
                        cryptoki::error::RvError::ObjectHandleInvalid
                        | cryptoki::error::RvError::KeyHandleInvalid,
                        _,
                    )) => {
                        p.handles.remove(&self.label);
                        let k = p.private_key(&self.label)?;
                        p.session.sign(&mechanism, k, message)
                    }
                    r => r,
                }
                .map_err(tok("signing"))
            })
            .map_err(|e| tuaton_common::Error::Signer(e.to_string()))?;
        sig.try_into().map_err(|_| {
            tuaton_common::Error::Signer("the token's signature is not 64 bytes".into())
        })
    }
}
