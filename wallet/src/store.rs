//! The sealed store: creation, unlock with backoff, the vault, import, presentations.

use crate::{backoff_secs, Pin, Result, WalletError, MAX_ATTEMPTS};
use rand::{rngs::OsRng, RngCore};
use std::path::{Path, PathBuf};
use tuaton_common::gate::GateCredential;
use tuaton_common::holder::{HolderSecret, HolderSigner, KeyType};
use tuaton_common::package::CredentialPackage;
use tuaton_common::presentation::{self, Profile};
use tuaton_common::seal::{self, KdfParams, Sealed, Secret};
use tuaton_common::trust::TrustState;
use tuaton_common::{enroll, w3c};
use zeroize::Zeroizing;

/// Wallet settings fixed at init.
#[derive(Clone, Copy, Debug)]
pub struct WalletOptions {
    /// PIN length.
    pub pin_len: usize,
    /// KDF cost.
    pub kdf: KdfParams,
    /// The holder key's kind.
    pub key_type: KeyType,
}

/// The vault entry of the holder secret: wallets made before P-256 keep theirs under
/// `holder-key`, so that name stays Ed25519's.
fn holder_entry(kind: KeyType) -> &'static str {
    match kind {
        KeyType::Ed25519 => "holder-key",
        KeyType::P256 => "holder-key-p256",
    }
}

impl Default for WalletOptions {
    fn default() -> Self {
        WalletOptions {
            pin_len: 8,
            kdf: KdfParams::RELEASE,
            key_type: KeyType::Ed25519,
        }
    }
}

impl WalletOptions {
    /// Cheap KDF for tests only (see [`KdfParams::insecure_for_tests`]).
    pub fn insecure_for_tests() -> Self {
        WalletOptions {
            pin_len: 8,
            kdf: KdfParams::insecure_for_tests(),
            key_type: KeyType::Ed25519,
        }
    }
}

/// The wallet store.
pub struct Wallet {
    home: PathBuf,
    db: sled::Db,
}

/// A wallet opened with the right PIN.
pub struct Unlocked<'a> {
    w: &'a Wallet,
    store_key: Zeroizing<[u8; 32]>,
}

const META: &str = "meta";
const VAULT: &str = "vault";
const READER_CAS: &str = "reader-cas";
const REVOKED_CERTIFICATES: &str = "revoked-certificates";
const STORE_KEY_AAD: &[u8] = b"tuaton wallet store key";

fn rnd<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    OsRng.fill_bytes(&mut b);
    b
}

/// A counter or time stored as 8 big-endian bytes; absent is 0. A value of another size is
/// damage, never a silent 0 (a damaged failure counter must not reset the PIN backoff).
fn get_u64(t: &sled::Tree, k: &str) -> Result<u64> {
    match t.get(k)? {
        None => Ok(0),
        Some(v) => v
            .as_ref()
            .try_into()
            .map(u64::from_be_bytes)
            .map_err(|_| WalletError::StoreDamaged("a counter does not decode")),
    }
}

impl Wallet {
    fn db_path(home: &Path) -> PathBuf {
        home.join("wallet.sled")
    }

    /// Whether `home` has a wallet.
    pub fn exists(home: &Path) -> bool {
        Self::db_path(home).exists()
    }

    /// Creates a wallet: a random store key sealed under `pin`, and a fresh holder key.
    /// Everything lands in one batch, so a crash leaves either no wallet or a whole one.
    pub fn init(home: &Path, pin: &Pin, opts: WalletOptions) -> Result<Wallet> {
        if Self::exists(home) {
            return Err(WalletError::AlreadyInitialised(home.into()));
        }
        let store_key = Zeroizing::new(rnd::<32>());
        let sealed = Sealed::seal(
            store_key.as_ref(),
            pin.bytes(),
            opts.kdf,
            rnd(),
            rnd(),
            STORE_KEY_AAD,
        )?;
        let holder = HolderSecret::generate(opts.key_type, &mut OsRng);
        // Built under a temporary name and renamed into place when whole.
        let db = tuaton_store::create(&Self::db_path(home), |db| -> Result<()> {
            let w = Wallet {
                home: home.into(),
                db: db.clone(),
            };
            let u = Unlocked {
                w: &w,
                store_key: store_key.clone(),
            };
            let name = holder_entry(opts.key_type);
            let vault_entry = u.encrypt(name, holder.secret().as_ref());
            w.db.open_tree(VAULT)?.insert(name, vault_entry)?;
            let mut b = sled::Batch::default();
            b.insert("pin-len", &(opts.pin_len as u64).to_be_bytes());
            b.insert("failures", &0u64.to_be_bytes());
            b.insert("sealed-key", sealed.to_bytes());
            w.db.open_tree(META)?.apply_batch(b)?;
            Ok(())
        })?;
        Ok(Wallet {
            home: home.into(),
            db,
        })
    }

    /// Opens an existing wallet (still locked).
    pub fn open(home: &Path) -> Result<Wallet> {
        if !Self::exists(home) {
            return Err(WalletError::NotInitialised(home.into()));
        }
        let db = tuaton_store::open(&Self::db_path(home), tuaton_store::LOCK_WAIT)?;
        if db.open_tree(META)?.get("sealed-key")?.is_none() {
            return Err(WalletError::NotInitialised(home.into()));
        }
        Ok(Wallet {
            home: home.into(),
            db,
        })
    }

    /// The PIN length this wallet uses.
    pub fn pin_len(&self) -> Result<usize> {
        Ok(get_u64(&self.db.open_tree(META)?, "pin-len")? as usize)
    }

    /// Unlocks with `pin` as of `now`. The failure counter is written and flushed
    /// *before* the PIN is tried, so killing the process mid-attempt still counts it.
    /// `now` must be the real clock (the CLI never passes `--at` here): the backoff is
    /// about wall time, and a chosen time would skip it.
    pub fn unlock(&self, pin: &str, now: i64) -> Result<Unlocked<'_>> {
        let meta = self.db.open_tree(META)?;
        let failures = get_u64(&meta, "failures")? as u32;
        if failures >= MAX_ATTEMPTS {
            return Err(WalletError::Locked);
        }
        let next = get_u64(&meta, "next-try")? as i64;
        if now < next {
            // A clock set back (or a far-past time) must neither give an absurd wait nor
            // lock the citizen out for ever: the wait is never longer than the backoff due.
            let due = backoff_secs(failures).max(1);
            if next - now > due {
                meta.insert("next-try", &((now + due) as u64).to_be_bytes())?;
                tuaton_store::flush(&self.db)?;
                return Err(WalletError::Backoff(due));
            }
            return Err(WalletError::Backoff(next - now));
        }
        meta.insert("failures", &u64::from(failures + 1).to_be_bytes())?;
        tuaton_store::flush(&self.db)?;
        let sealed = Sealed::from_bytes(
            &meta
                .get("sealed-key")?
                .ok_or_else(|| WalletError::NotInitialised(self.home.clone()))?,
        )
        .map_err(|_| WalletError::StoreDamaged("the sealed store key does not decode"))?;
        match sealed.open(pin.trim_end_matches(['\r', '\n']).as_bytes(), STORE_KEY_AAD) {
            Ok(k) => {
                let store_key = k.key32().ok_or(WalletError::StoreDamaged(
                    "the sealed store key has the wrong size",
                ))?;
                meta.insert("failures", &0u64.to_be_bytes())?;
                meta.remove("next-try")?;
                tuaton_store::flush(&self.db)?;
                Ok(Unlocked { w: self, store_key })
            }
            Err(tuaton_common::Error::WrongSecret) => {
                let f = failures + 1;
                meta.insert("next-try", &((now + backoff_secs(f)) as u64).to_be_bytes())?;
                tuaton_store::flush(&self.db)?;
                if f >= MAX_ATTEMPTS {
                    Err(WalletError::Locked)
                } else {
                    Err(WalletError::WrongPin {
                        remaining: MAX_ATTEMPTS - f,
                    })
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Consecutive wrong PINs so far.
    pub fn failures(&self) -> Result<u32> {
        Ok(get_u64(&self.db.open_tree(META)?, "failures")? as u32)
    }

    /// Wipes the wallet. The caller tells the citizen how to re-enroll.
    pub fn reset(home: &Path) -> Result<()> {
        let p = Self::db_path(home);
        if p.exists() {
            std::fs::remove_dir_all(&p).map_err(|source| WalletError::Io { path: p, source })?;
        }
        Ok(())
    }
}

/// An imported credential: the gate form and the W3C form.
pub struct Card {
    /// Gate form.
    pub gate: GateCredential,
    /// W3C form (JSON).
    pub w3c: String,
    /// Credential id, hex.
    pub credential_id: String,
    /// When the ISO 18013-5 form's MSO expires (Unix seconds), if the card has one.
    pub mdoc_valid_until: Option<i64>,
}

impl Card {
    /// Whether the card is within its validity at `now`: from the card's issue day to the
    /// day before its expiry (a lifelong card never expires), the rule a gate applies.
    pub fn is_valid_at(&self, now: i64) -> Result<bool> {
        let member = self.gate.full_member()?;
        Ok(now >= member.payload.valid_from_time()
            && member.payload.valid_until_time().is_none_or(|e| now < e))
    }
}

/// The issuer of the card a wallet holds: the fingerprint of the first root of its trust
/// chain (stable across root rotations) and its display name.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeldIssuer {
    /// SHA-256 fingerprint of root version 1 of its chain, hex.
    pub root: String,
    /// Its name in the trust list.
    pub name: String,
}

impl Wallet {
    /// The reader CA certificates of the trust list the card came with (none for a card
    /// imported without a bundle): the readers `engage --iso` answers.
    pub fn reader_cas(&self) -> Result<Vec<tuaton_common::mdoc::Iaca>> {
        let Some(b) = self.db.open_tree(VAULT)?.get(READER_CAS)? else {
            return Ok(vec![]);
        };
        let damaged = || WalletError::StoreDamaged("the stored reader CAs");
        tuaton_common::lp::split(&b)
            .ok_or_else(damaged)?
            .iter()
            .map(|d| tuaton_common::mdoc::Iaca::from_der(d).map_err(|_| damaged()))
            .collect()
    }
}

impl Wallet {
    /// The SHA-256 of every reader certificate the card's trust list revoked.
    pub fn revoked_certificates(&self) -> Result<Vec<[u8; 32]>> {
        let Some(b) = self.db.open_tree(VAULT)?.get(REVOKED_CERTIFICATES)? else {
            return Ok(vec![]);
        };
        if b.len() % 32 != 0 {
            return Err(WalletError::StoreDamaged("the stored revoked reader list"));
        }
        Ok(b.chunks_exact(32)
            .map(|c| c.try_into().expect("32 bytes"))
            .collect())
    }
}

impl HeldIssuer {
    /// The issuer `id` of a verified trust state.
    pub fn of(state: &TrustState, id: u32) -> Result<HeldIssuer> {
        let chain = state.chain_bytes();
        let first = chain
            .first()
            .ok_or(WalletError::StoreDamaged("a trust state without a root"))?;
        let root = tuaton_common::trust::SignedRoot::from_bytes_self_signed(first)?;
        let name = state
            .trust_list
            .list
            .issuers
            .iter()
            .find(|i| i.id == id)
            .map(|i| i.name.clone())
            .unwrap_or_else(|| format!("issuer {id}"));
        Ok(HeldIssuer {
            root: root.root.fingerprint(),
            name,
        })
    }

    /// The root fingerprint as bytes.
    pub fn root_bytes(&self) -> Result<[u8; 32]> {
        tuaton_common::trust::parse_fingerprint(&self.root)
            .map_err(|_| WalletError::StoreDamaged("the remembered issuer root does not decode"))
    }
}

impl Unlocked<'_> {
    fn encrypt(&self, name: &str, plain: &[u8]) -> Vec<u8> {
        let nonce = rnd::<12>();
        let mut v = nonce.to_vec();
        v.extend(seal::encrypt(
            &self.store_key,
            &nonce,
            plain,
            name.as_bytes(),
        ));
        v
    }

    fn decrypt(&self, name: &str) -> Result<Option<Secret>> {
        let Some(v) = self.w.db.open_tree(VAULT)?.get(name)? else {
            return Ok(None);
        };
        if v.len() < 12 {
            return Err(WalletError::StoreDamaged(
                "a sealed vault entry is cut short",
            ));
        }
        let nonce: [u8; 12] = v[..12].try_into().expect("len 12");
        Ok(Some(seal::decrypt(
            &self.store_key,
            &nonce,
            &v[12..],
            name.as_bytes(),
        )?))
    }

    /// The holder's signing key, of whichever kind the wallet was made with.
    pub fn holder_key(&self) -> Result<HolderSecret> {
        for kind in [KeyType::Ed25519, KeyType::P256] {
            if let Some(s) = self.decrypt(holder_entry(kind))? {
                let bytes = s.key32().ok_or(WalletError::StoreDamaged(
                    "the holder key has the wrong size",
                ))?;
                return HolderSecret::from_secret(kind, &bytes).ok_or(WalletError::StoreDamaged(
                    "the holder key is not a valid key",
                ));
            }
        }
        Err(WalletError::NotInitialised(self.w.home.clone()))
    }

    /// The enrollment request text.
    pub fn request(&self, now: i64) -> Result<String> {
        Ok(enroll::request(&self.holder_key()?, now))
    }

    /// The issuer of the card this wallet holds (remembered when a card was imported with
    /// its trust bundle).
    pub fn held_issuer(&self) -> Result<Option<HeldIssuer>> {
        self.decrypt("issuer")?
            .map(|s| {
                serde_json::from_slice(s.expose())
                    .map_err(|_| WalletError::StoreDamaged("the remembered issuer does not decode"))
            })
            .transpose()
    }

    /// Checks a credential package and stores it, refusing a card of another issuer than
    /// the one held (see [`Unlocked::import_replacing`]).
    pub fn import(&self, package: &[u8], bundle: Option<&TrustState>, now: i64) -> Result<Card> {
        self.import_replacing(package, bundle, now, false)
    }

    /// Checks a credential package and stores it (replacing any previous card in one
    /// write). With `bundle`, the issuer signature is checked against that trust bundle
    /// and the issuer (its first root) is remembered with the card. A card whose bundle
    /// does not chain to the remembered root, or a card without a bundle while one is
    /// remembered, is refused unless `replace` (the citizen confirmed replacing the card).
    pub fn import_replacing(
        &self,
        package: &[u8],
        bundle: Option<&TrustState>,
        now: i64,
        replace: bool,
    ) -> Result<Card> {
        let bad = |m: String| WalletError::BadPackage(m);
        let pkg = CredentialPackage::parse(package).map_err(|e| bad(e.to_string()))?;
        let gate = pkg.gate_form().map_err(|e| bad(e.to_string()))?;
        let full = gate.full_member()?;
        let holder = self.holder_key()?;
        if full.payload.holder_key != holder.holder_key() {
            return Err(bad(
                "it is bound to another wallet's key (was it issued for this wallet's request?)"
                    .into(),
            ));
        }
        let w3c_json = pkg.w3c_json();
        let checked = w3c::verify(&w3c_json, now).map_err(|e| bad(format!("W3C form: {e}")))?;
        if checked.holder != w3c::holder_did(&holder.holder_key())? {
            return Err(bad("the W3C form names another holder".into()));
        }
        // Every claim of the two forms, not only the ID and the portrait: a package whose
        // forms disagree would show one person in the wallet and another at the gate.
        tuaton_common::package::same_credential(&full.payload, &pkg.w3c)
            .map_err(|e| bad(e.to_string()))?;
        tuaton_common::package::forms_agree(&gate.claims()?, &checked.claims, &pkg.w3c)
            .map_err(|e| bad(e.to_string()))?;
        if let Some(m) = &pkg.mdoc {
            let issuer_signed = hex::decode(m).map_err(|_| bad("the mdoc is not hex".into()))?;
            tuaton_common::mdoc::check_issued(&issuer_signed, &holder.holder_key())
                .map_err(|e| bad(format!("mdoc form: {e}")))?;
        }
        if let Some(state) = bundle {
            check_as_a_gate(&gate, &holder, state, &checked, now)?;
        }
        let offered = bundle
            .map(|s| HeldIssuer::of(s, full.payload.issuer))
            .transpose()?;
        if let (Some(held), false) = (self.held_issuer()?, replace) {
            let root = held.root_bytes()?;
            let same = bundle.is_some_and(|s| s.chain_has(&root));
            if !same {
                return Err(WalletError::OtherIssuer {
                    held: held.name,
                    offered: match &offered {
                        Some(o) => format!("\"{}\"", o.name),
                        None => "an issuer this wallet cannot check (no trust bundle)".into(),
                    },
                });
            }
        }
        let cid = pkg.credential_id.clone();
        // Kept as the package itself: the one type the issuer wrote.
        let entry = self.encrypt("credential", pkg.to_json_pretty().as_bytes());
        // One atomic batch: a crash leaves the old card and its issuer or the new ones,
        // never half.
        let mut batch = sled::Batch::default();
        batch.insert("credential", entry);
        match &offered {
            Some(o) => batch.insert(
                "issuer",
                self.encrypt("issuer", &serde_json::to_vec(o).expect("serialisable")),
            ),
            None if replace => batch.remove("issuer"),
            None => {}
        }
        // The reader CAs of the issuer's signed trust list, for `engage --iso`. Public
        // certificates, kept readable without the PIN: the wallet judges who asks before
        // it asks for the PIN.
        let reader_cas = bundle.map(|s| {
            tuaton_common::lp::length_prefixed(
                s.trust_list
                    .list
                    .anchors
                    .iter()
                    .filter(|a| a.role == tuaton_common::trust::AnchorRole::ReaderCa)
                    .map(|a| a.certificate.der()),
            )
        });
        match reader_cas {
            Some(b) => batch.insert(READER_CAS, b),
            None if replace => batch.remove(READER_CAS),
            None => {}
        }
        // And the reader certificates the trust list revoked, kept with them.
        match bundle {
            Some(s) => batch.insert(
                REVOKED_CERTIFICATES,
                s.trust_list.list.revoked_certificates.concat(),
            ),
            None if replace => batch.remove(REVOKED_CERTIFICATES),
            None => {}
        }
        self.w.db.open_tree(VAULT)?.apply_batch(batch)?;
        tuaton_store::flush(&self.w.db)?;
        let mdoc_valid_until = pkg
            .mdoc
            .as_deref()
            .and_then(|h| hex::decode(h).ok())
            .and_then(|b| tuaton_common::mdoc::valid_until(&b).ok());
        Ok(Card {
            gate,
            w3c: w3c_json,
            credential_id: cid,
            mdoc_valid_until,
        })
    }

    /// The stored card.
    pub fn card(&self) -> Result<Card> {
        let s = self
            .decrypt("credential")?
            .ok_or(WalletError::NoCredential)?;
        // Cards imported before the package was kept whole lack `format` and `issuer`.
        let damaged = |_| WalletError::StoreDamaged("the stored card does not decode");
        let v: serde_json::Value = serde_json::from_slice(s.expose()).map_err(damaged)?;
        let gate_hex = v["gate"].as_str().ok_or(WalletError::StoreDamaged(
            "the stored card has no gate form",
        ))?;
        let gate = hex::decode(gate_hex)
            .ok()
            .and_then(|b| GateCredential::from_bytes(&b).ok())
            .ok_or(WalletError::StoreDamaged(
                "the stored gate form does not decode",
            ))?;
        let credential_id = hex::encode(
            gate.full_member()
                .map_err(|_| WalletError::StoreDamaged("the stored gate form does not decode"))?
                .payload
                .credential_id,
        );
        let mdoc_valid_until = v["mdoc"]
            .as_str()
            .and_then(|h| hex::decode(h).ok())
            .and_then(|b| tuaton_common::mdoc::valid_until(&b).ok());
        Ok(Card {
            gate,
            w3c: serde_json::to_string_pretty(&v["w3c"]).expect("a JSON value serialises"),
            credential_id,
            mdoc_valid_until,
        })
    }

    /// The card as an ISO 18013-5 DeviceResponse (CBOR) with every element, device-signed
    /// over [`tuaton_common::mdoc::export_transcript`]: for a third party's checks, never
    /// taken as a live answer by a reader that runs a session.
    pub fn export_mdoc(&self) -> Result<Vec<u8>> {
        let issuer_signed = self.mdoc_issuer_signed()?;
        let holder = self.holder_key()?;
        Ok(tuaton_common::mdoc::respond(
            &issuer_signed,
            None,
            &tuaton_common::mdoc::export_transcript(),
            &holder,
        )?)
    }

    /// The ISO 18013-5 session's answer: the elements of `disclose` (those the card has),
    /// device-signed over the session.
    pub fn answer_iso(
        &self,
        session: &mut tuaton_common::mdoc_session::DeviceSession,
        disclose: &tuaton_common::mdoc::Request,
    ) -> Result<Vec<u8>> {
        let issuer_signed = self.mdoc_issuer_signed()?;
        let holder = self.holder_key()?;
        Ok(session.answer(&issuer_signed, disclose, &holder)?)
    }

    /// The card's IssuerSigned (the mdoc form), as the issuer made it.
    fn mdoc_issuer_signed(&self) -> Result<Vec<u8>> {
        let s = self
            .decrypt("credential")?
            .ok_or(WalletError::NoCredential)?;
        let v: serde_json::Value = serde_json::from_slice(s.expose())
            .map_err(|_| WalletError::StoreDamaged("the stored card does not decode"))?;
        let Some(m) = v.get("mdoc").and_then(|m| m.as_str()) else {
            return Err(WalletError::NoMdoc);
        };
        hex::decode(m).map_err(|_| WalletError::StoreDamaged("the stored mdoc is not hex"))
    }

    /// The QR payload of a presentation of `profile` made at `now`.
    pub fn present(&self, profile: Profile, now: i64) -> Result<String> {
        let card = self.card()?;
        // A fresh salt each time: two QR codes made in the same second still differ, so
        // the second is not taken for a replay of the first.
        let b = presentation::present_salted(
            &card.gate,
            &self.holder_key()?,
            profile.groups(),
            now,
            rnd::<16>(),
        )?;
        Ok(presentation::to_qr_text(&b))
    }

    /// Presentation CBOR of `groups` for a session, its holder proof bound to `nonce`.
    pub fn present_session(
        &self,
        groups: &[tuaton_common::gate::Group],
        now: i64,
        nonce: &[u8],
    ) -> Result<Vec<u8>> {
        let card = self.card()?;
        Ok(presentation::present_groups(
            &card.gate,
            &self.holder_key()?,
            groups,
            now,
            Some(nonce),
        )?)
    }

    /// Rewraps the store key under `new`; the credentials are untouched. One atomic write.
    pub fn change_pin(&self, new: &Pin) -> Result<()> {
        let meta = self.w.db.open_tree(META)?;
        let old = Sealed::from_bytes(
            &meta
                .get("sealed-key")?
                .ok_or_else(|| WalletError::NotInitialised(self.w.home.clone()))?,
        )?;
        let sealed = Sealed::seal(
            self.store_key.as_ref(),
            new.bytes(),
            old.params,
            rnd(),
            rnd(),
            STORE_KEY_AAD,
        )?;
        meta.insert("sealed-key", sealed.to_bytes())?;
        tuaton_store::flush(&self.w.db)?;
        Ok(())
    }
}

/// The card as a gate will judge it, by the gate's own engine ([`verify`]) against the
/// trust bundle `state`: both members presented with this wallet's holder key (the full
/// member with every group it covers, the flight member with its inline claims). Any
/// reason a gate would give refuses the import (an unknown or revoked key, a signature
/// outside the key's signing window, an expired card...), so the wallet never stores a
/// card the gates reject. The W3C form must be signed by the key of the same issuer and
/// kid.
fn check_as_a_gate(
    gate: &tuaton_common::gate::GateCredential,
    holder: &HolderSecret,
    state: &TrustState,
    w3c: &w3c::Checked,
    now: i64,
) -> Result<()> {
    use tuaton_common::verify::{self, Context, MemoryReplay, NoStatus};
    let bad = |m: String| WalletError::BadPackage(m);
    let store = state.to_store();
    for profile in [Profile::Full, Profile::Flight] {
        let b =
            presentation::present(gate, holder, profile, now).map_err(|e| bad(e.to_string()))?;
        let mut replay = MemoryReplay::default();
        let mut ctx = Context::new(now, &store, &NoStatus, &mut replay);
        let v = verify::verify_cbor(&b, &mut ctx);
        // A card dated from later than the phone's today (a clock off across midnight, a
        // card issued ahead) becomes good by itself: kept, not refused after the offer
        // was spent.
        if let Some(r) = v
            .reasons
            .iter()
            .find(|r| **r != verify::Reason::CredentialNotYetValid)
        {
            return Err(bad(format!(
                "a gate would refuse it: {} ({})",
                r.describe().0,
                r.code()
            )));
        }
    }
    let full = gate.full_member()?;
    let named = store
        .keys_for(full.payload.issuer, &full.kid)
        .any(|k| Some(k.public) == w3c.signer);
    if !named {
        return Err(bad(
            "its W3C form names another issuer key than its gate form".into(),
        ));
    }
    // And the issuer the trust list names: its DID, or (a trust list made before issuers
    // had one) the signing key's did:key. Another issuer's DID would be a false claim.
    let listed = store
        .issuers
        .iter()
        .find(|i| i.id == full.payload.issuer)
        .and_then(|i| i.did.clone());
    let want = listed.or_else(|| w3c.signer.as_ref().map(w3c::did_key));
    if want.as_deref() != Some(w3c.issuer.as_str()) {
        return Err(bad(format!(
            "its W3C form names the issuer {}, not the one the trust list names",
            tuaton_common::text::for_display(&w3c.issuer)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tuaton_common::model::PartialDate;

    fn refused(pin: &str, birth: Option<&str>) -> String {
        let b = birth.map(|b| PartialDate::parse("birth_date", b).unwrap());
        match Pin::parse(pin, 8, b) {
            Err(WalletError::PinPolicy(why)) => why,
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("{pin} was accepted"),
        }
    }

    #[test]
    fn pin_policy_says_why() {
        assert!(refused("1234abcd", None).contains("digits only"));
        assert!(refused("271839", None).contains("8 digits"));
        assert!(refused("91234067", None).contains("run 1234"));
        assert!(refused("27654381", None).contains("run 7654"));
        assert!(
            refused("27890381", None).contains("run 7890"),
            "wraps past 9"
        );
        assert!(refused("20111193", None).contains("repeats a digit (1111)"));
        assert!(refused("12041990", Some("1990-04-12")).contains("birth date"));
        assert!(
            refused("25330412", Some("1990-04-12")).contains("birth date (25330412)"),
            "Buddhist era"
        );
        assert!(refused("83120490", Some("1990-04-12")).contains("birth date (120490)"));
        assert!(refused("81985113", Some("1985-11")).contains("birth date"));
        assert!(refused("25281873", Some("1985")).contains("2528"));
        assert!(Pin::parse(
            "27183945",
            8,
            Some(PartialDate::parse("b", "1990-04-12").unwrap())
        )
        .is_ok());
        assert!(Pin::parse("271839", 6, None).is_ok());
    }

    #[test]
    fn backoff_grows_then_locks() {
        let dir = tempfile::tempdir().unwrap();
        let pin = Pin::parse("27183945", 8, None).unwrap();
        let w = Wallet::init(dir.path(), &pin, WalletOptions::insecure_for_tests()).unwrap();
        let mut t = 1_000;
        let mut waits = vec![];
        for i in 1..=4 {
            assert!(
                matches!(w.unlock("00000000", t), Err(WalletError::WrongPin { remaining }) if remaining == 5 - i)
            );
            match w.unlock("27183945", t) {
                Err(WalletError::Backoff(s)) => waits.push(s),
                _ => panic!("no backoff after {i} failures"),
            }
            t += 1_000;
        }
        assert_eq!(waits, [1, 5, 30, 300]);
        assert!(matches!(w.unlock("00000000", t), Err(WalletError::Locked)));
        drop(w);
        // The lock survives reopening, and the right PIN no longer helps.
        let w = Wallet::open(dir.path()).unwrap();
        assert!(matches!(
            w.unlock("27183945", t + 100_000),
            Err(WalletError::Locked)
        ));
    }

    #[test]
    fn a_right_pin_resets_the_counter_and_change_pin_keeps_the_keys() {
        let dir = tempfile::tempdir().unwrap();
        let pin = Pin::parse("27183945", 8, None).unwrap();
        let w = Wallet::init(dir.path(), &pin, WalletOptions::insecure_for_tests()).unwrap();
        assert!(w.unlock("00000000", 0).is_err());
        let u = w.unlock("27183945", 10).unwrap();
        assert_eq!(w.failures().unwrap(), 0);
        let key = u.holder_key().unwrap().secret();
        u.change_pin(&Pin::parse("50718263", 8, None).unwrap())
            .unwrap();
        assert!(matches!(
            w.unlock("27183945", 20),
            Err(WalletError::WrongPin { .. })
        ));
        assert_eq!(
            w.unlock("50718263", 30)
                .unwrap()
                .holder_key()
                .unwrap()
                .secret(),
            key
        );
    }
}
