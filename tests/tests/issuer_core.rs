//! One issuer core, two stores: the same behavioural tests run against the embedded sled
//! store and against PostgreSQL (a real server, `TUATON_TEST_DATABASE`). Allocation and
//! the 90 % rule, staged rotation (enrolment never meets a key the bundle does not name),
//! revoke-key with its refusals, root rotation, revocation by credential and by citizen,
//! refresh after a key compromise, and the audit.

use base64::Engine as _;
use ed25519_dalek::SigningKey;
use std::collections::HashSet;
use tuaton_common::gate::GateCredential;
use tuaton_common::offer::{self, RefreshRequest};
use tuaton_common::package::CredentialPackage;
use tuaton_common::seal::KdfParams;
use tuaton_common::trust::{Anchor, SignedRoot, TrustState};
use tuaton_common::{enroll, sample};
use tuaton_issuer::pg::PgStore;
use tuaton_issuer::seam::Store;
use tuaton_issuer::sled_store::SledStore;
use tuaton_issuer::{Actor, InitOptions, Issuer, IssuerError, KeySource, PublishReport};
use tuaton_tests::TestDb;

const NOW: i64 = 1_795_000_000;
const SERVICE: &str = "http://issue.test";

fn opts(size: u64) -> InitOptions {
    let mut o = InitOptions::new("DOPA Bangkok");
    o.kdf = KdfParams::insecure_for_tests();
    o.status_list_size = size;
    o
}

fn pass() -> KeySource {
    KeySource::Passphrase(b"a test passphrase".to_vec().into())
}

fn me() -> Actor {
    Actor {
        office: "test".into(),
        officer: "Malee".into(),
    }
}

/// One runtime for every test of the binary, with workers of its own: a pool's
/// connections are driven by the runtime that opened them.
fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
    .block_on(f)
}

/// Publishing differs only in where the files go; the tests need the trust state.
trait Publish {
    fn publish_now(&self, now: i64) -> (PublishReport, TrustState);
}

fn state_of(files: &[(String, Vec<u8>)], now: i64) -> TrustState {
    let get = |p: &str| files.iter().find(|f| f.0 == p).unwrap().1.clone();
    let index = tuaton_common::bundle::Index::parse(&get("index.json")).unwrap();
    let roots: Vec<Vec<u8>> = index.roots.iter().map(|r| get(r)).collect();
    TrustState::first(
        &roots,
        &get(&index.trust_list),
        Anchor::TrustOnFirstUse,
        now,
    )
    .unwrap()
}

struct SledWorld {
    _dir: tempfile::TempDir,
    out: std::path::PathBuf,
    iss: Issuer<SledStore>,
}

impl Publish for SledWorld {
    fn publish_now(&self, now: i64) -> (PublishReport, TrustState) {
        let r = self.iss.publish_dir(&self.out, &me(), now, 7).unwrap();
        let mut files = vec![];
        for d in ["", "root", "trust-list"] {
            for e in std::fs::read_dir(self.out.join(d)).unwrap().flatten() {
                if e.path().is_file() {
                    let rel = e
                        .path()
                        .strip_prefix(&self.out)
                        .unwrap()
                        .display()
                        .to_string();
                    files.push((rel, std::fs::read(e.path()).unwrap()));
                }
            }
        }
        (r, state_of(&files, now))
    }
}

struct PgWorld {
    _db: TestDb,
    iss: Issuer<PgStore>,
}

impl Publish for PgWorld {
    fn publish_now(&self, now: i64) -> (PublishReport, TrustState) {
        let b = block(self.iss.publish(&me(), now, 7)).unwrap();
        (b.report.clone(), state_of(&b.files, now))
    }
}

fn sled(size: u64) -> SledWorld {
    let dir = tempfile::tempdir().unwrap();
    let iss = Issuer::init_sled(&dir.path().join("issuer"), &opts(size), pass(), NOW).unwrap();
    SledWorld {
        out: dir.path().join("bundle"),
        _dir: dir,
        iss,
    }
}

fn pg(size: u64) -> PgWorld {
    let db = TestDb::new();
    let iss = block(async {
        Issuer::init(
            PgStore::connect(&db.url, 4).await?,
            &opts(size),
            pass(),
            NOW,
        )
        .await
    })
    .unwrap();
    PgWorld { _db: db, iss }
}

/// Issues the sample card `i` to holder `k`; (package, credential id).
fn issue<S: Store>(iss: &Issuer<S>, i: usize, k: &SigningKey, now: i64) -> (String, String) {
    let req = enroll::request(k, now);
    let (p, r) = block(iss.issue(
        sample::RECORDS[i].as_bytes(),
        sample::PORTRAIT_A,
        &req,
        &me(),
        now,
    ))
    .unwrap();
    (p, r.credential_id)
}

fn kid_of_package(p: &str) -> Vec<u8> {
    let pkg = CredentialPackage::parse(p.as_bytes()).unwrap();
    pkg.gate_form().unwrap().full_member().unwrap().kid.to_vec()
}

/// The card verifies under the trust state: its kid is listed and the signature holds.
fn verifies(p: &str, state: &TrustState) -> bool {
    let pkg = CredentialPackage::parse(p.as_bytes()).unwrap();
    let gate = pkg.gate_form().unwrap();
    let full = gate.full_member().unwrap();
    let sig = ed25519_dalek::Signature::from_bytes(&full.signature);
    let store = state.trust_list.list.to_store();
    let ok = store
        .keys_for(full.payload.issuer, &full.kid)
        .any(|k| k.public.verify_strict(&full.to_be_signed(), &sig).is_ok());
    ok
}

fn allocation_and_the_ninety_percent_rule<S: Store>(iss: &Issuer<S>) {
    let k = SigningKey::from_bytes(&[3; 32]);
    let mut seen = HashSet::new();
    let mut lists = vec![];
    for i in 0..10 {
        let req = enroll::request(&k, NOW);
        let (_, r) = block(iss.issue(
            sample::RECORDS[0].as_bytes(),
            sample::PORTRAIT_A,
            &req,
            &me(),
            NOW + i,
        ))
        .unwrap();
        assert!(seen.insert((r.list, r.index)), "index reused");
        assert!(r.index < 8);
        lists.push(r.list);
    }
    // 90 % of 8 is 7: seven in list 0, then list 1.
    assert_eq!(lists, [0, 0, 0, 0, 0, 0, 0, 1, 1, 1]);
}

#[test]
fn sled_allocates_unique_indices_and_fills_lists_in_turn() {
    allocation_and_the_ninety_percent_rule(&sled(8).iss);
}

#[test]
fn postgres_allocates_unique_indices_and_fills_lists_in_turn() {
    let w = pg(8);
    allocation_and_the_ninety_percent_rule(&w.iss);
}

/// Rotation is staged: at every moment, a card just issued verifies under the bundle just
/// published (what an enrolling wallet checks).
fn rotation_never_breaks_enrolment<S: Store>(iss: &Issuer<S>, w: &impl Publish) {
    let k = SigningKey::from_bytes(&[4; 32]);
    let (_, state) = w.publish_now(NOW);
    let (p0, _) = issue(iss, 0, &k, NOW + 1);
    let k0 = kid_of_package(&p0);
    let staged = block(iss.rotate(&me(), NOW + 2)).unwrap();
    // Rotating again while a key is staged gives the same key.
    assert_eq!(block(iss.rotate(&me(), NOW + 3)).unwrap().kid, staged.kid);
    // Between rotate and publish: still the old key, which the published bundle names.
    let (p1, _) = issue(iss, 1, &k, NOW + 4);
    assert_eq!(kid_of_package(&p1), k0);
    assert!(verifies(&p1, &state));
    let keys = block(iss.keys_report()).unwrap();
    assert_eq!(
        keys.iter().map(|k| k.state).collect::<Vec<_>>(),
        ["active", "staged"]
    );
    // The publish names the new key and activates it in one commit.
    let (_, state) = w.publish_now(NOW + 5);
    let (p2, _) = issue(iss, 2, &k, NOW + 6);
    assert_eq!(kid_of_package(&p2), staged.kid);
    assert!(verifies(&p2, &state));
    assert!(
        verifies(&p0, &state),
        "a card of the retired key still verifies"
    );
    let keys = block(iss.keys_report()).unwrap();
    assert_eq!(
        keys.iter().map(|k| k.state).collect::<Vec<_>>(),
        ["retired", "active"]
    );
    let listed = block(iss.listed_keys()).unwrap();
    assert_eq!(listed.len(), 2);
}

#[test]
fn sled_rotation_is_staged_until_a_publish_names_the_key() {
    let w = sled(1 << 12);
    rotation_never_breaks_enrolment(&w.iss, &w);
}

#[test]
fn postgres_rotation_is_staged_until_a_publish_names_the_key() {
    let w = pg(1 << 12);
    rotation_never_breaks_enrolment(&w.iss, &w);
}

/// A stolen key: revoke-key refuses what would leave nothing to sign with, then voids the
/// key; the holder renews the card under the new key; a card revoked for cause is not
/// renewed; nor is a card shown with another holder's proof or altered claims.
fn compromise_and_refresh<S: Store>(iss: &Issuer<S>, w: &impl Publish) {
    let alice = SigningKey::from_bytes(&[5; 32]);
    let bob = SigningKey::from_bytes(&[6; 32]);
    w.publish_now(NOW);
    let (pa, ida) = issue(iss, 0, &alice, NOW + 1);
    let (pb, idb) = issue(iss, 1, &bob, NOW + 2);
    let old = kid_of_package(&pa);
    let old_hex = old.iter().map(|b| format!("{b:02x}")).collect::<String>();
    // Unknown kid; the active key with nothing staged.
    assert!(matches!(
        block(iss.revoke_key("00ff", &me(), NOW + 3)).unwrap_err(),
        IssuerError::UnknownKid(_)
    ));
    let e = block(iss.revoke_key(&old_hex, &me(), NOW + 3)).unwrap_err();
    assert!(matches!(e, IssuerError::NoStagedKey(_)), "{e}");
    assert!(
        tuaton_cli::Hint::hint(&e).contains("rotate"),
        "the hint says what to do"
    );
    // Rotate, then revoke: the staged key takes over at once.
    let new = block(iss.rotate(&me(), NOW + 4)).unwrap();
    block(iss.revoke_key(&old_hex, &me(), NOW + 5)).unwrap();
    let (_, state) = w.publish_now(NOW + 6);
    assert!(
        verifies(&pa, &state),
        "the signature holds; the gate voids it by state"
    );
    let listed = block(iss.listed_keys()).unwrap();
    assert!(matches!(
        listed.iter().find(|k| k.kid == old).unwrap().state,
        tuaton_common::trust::KeyState::Revoked { at } if at == NOW + 5
    ));
    // Bob's card is revoked for cause (a lost phone, found by his citizen ID).
    let id_bob = serde_json::from_str::<serde_json::Value>(sample::RECORDS[1]).unwrap()
        ["citizen_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = block(iss.revoke_citizen(&id_bob, &me(), NOW + 7)).unwrap();
    assert_eq!(
        revoked
            .iter()
            .map(|r| r.credential_id.clone())
            .collect::<Vec<_>>(),
        std::slice::from_ref(&idb)
    );
    let req = |p: &str, k: &SigningKey, at: i64| {
        let gate = CredentialPackage::parse(p.as_bytes())
            .unwrap()
            .gate_form()
            .unwrap();
        let id = gate.full_member().unwrap().payload.credential_id;
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        RefreshRequest {
            credential: b.encode(gate.to_bytes()),
            at,
            proof: b.encode(offer::prove_refresh(k, SERVICE, &id, at)),
        }
    };
    // Alice renews: same id and status, the new key, the same claims.
    let r = block(iss.refresh(SERVICE, &req(&pa, &alice, NOW + 8), NOW + 8)).unwrap();
    assert_eq!(r.credential_id, ida);
    let renewed = serde_json::to_string(&r.package).unwrap();
    assert_eq!(kid_of_package(&renewed), new.kid);
    assert!(verifies(&renewed, &state));
    let g_old = CredentialPackage::parse(pa.as_bytes())
        .unwrap()
        .gate_form()
        .unwrap();
    let g_new = CredentialPackage::parse(renewed.as_bytes())
        .unwrap()
        .gate_form()
        .unwrap();
    assert_eq!(
        g_old.full_member().unwrap().payload.status,
        g_new.full_member().unwrap().payload.status
    );
    assert_eq!(
        g_old.claims().unwrap().citizen_id,
        g_new.claims().unwrap().citizen_id
    );
    // Bob's card, revoked for cause, is not renewed.
    let e = block(iss.refresh(SERVICE, &req(&pb, &bob, NOW + 9), NOW + 9)).unwrap_err();
    assert!(matches!(e, IssuerError::Revoked(_)), "{e}");
    // Alice's card with Bob's proof: refused.
    let e = block(iss.refresh(SERVICE, &req(&pa, &bob, NOW + 9), NOW + 9)).unwrap_err();
    assert!(matches!(e, IssuerError::Core(_)), "{e}");
    // A proof from long ago (a replay): refused.
    let e = block(iss.refresh(SERVICE, &req(&pa, &alice, NOW - 3600), NOW + 9)).unwrap_err();
    assert!(matches!(e, IssuerError::BadRequest(_)), "{e}");
    // A card whose disclosures were swapped for another's: its digests no longer match.
    let mut forged = GateCredential::from_bytes(&g_new.to_bytes()).unwrap();
    let other = CredentialPackage::parse(pb.as_bytes())
        .unwrap()
        .gate_form()
        .unwrap();
    forged.disclosures = other.disclosures.clone();
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let id = forged.full_member().unwrap().payload.credential_id;
    let e = block(iss.refresh(
        SERVICE,
        &RefreshRequest {
            credential: b.encode(forged.to_bytes()),
            at: NOW + 9,
            proof: b.encode(offer::prove_refresh(&alice, SERVICE, &id, NOW + 9)),
        },
        NOW + 9,
    ))
    .unwrap_err();
    assert!(matches!(e, IssuerError::Core(_)), "{e}");
    // The audit has each step, by whom.
    let audit = block(iss.audit_log(100)).unwrap();
    let actions: Vec<&str> = audit.iter().rev().map(|a| a.action.as_str()).collect();
    for a in [
        "init",
        "issue",
        "rotate",
        "revoke-key",
        "publish",
        "revoke",
        "refresh",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    assert!(audit.iter().any(|a| a.officer == "Malee"));
}

#[test]
fn sled_a_stolen_key_is_revoked_and_cards_are_renewed_online() {
    let w = sled(1 << 12);
    compromise_and_refresh(&w.iss, &w);
}

#[test]
fn postgres_a_stolen_key_is_revoked_and_cards_are_renewed_online() {
    let w = pg(1 << 12);
    compromise_and_refresh(&w.iss, &w);
}

/// Root N+1 is signed by root N and by itself, on either store; a gate that pinned root 1
/// follows the chain.
fn root_rotation<S: Store>(iss: &Issuer<S>, w: &impl Publish) {
    let (r1, _) = w.publish_now(NOW);
    let v2 = block(iss.rotate_root(&me(), NOW + 1)).unwrap();
    let v3 = block(iss.rotate_root(&me(), NOW + 2)).unwrap();
    assert_eq!((v2.version, v3.version), (2, 3));
    let (r3, state) = w.publish_now(NOW + 3);
    assert_eq!(r3.root_version, 3);
    assert_ne!(r1.root_fingerprint, r3.root_fingerprint);
    assert_eq!(state.chain_bytes().len(), 3);
    let chain = state.chain_bytes();
    let first = SignedRoot::from_bytes_self_signed(&chain[0]).unwrap();
    first.verify_successor(&chain[1]).unwrap();
}

#[test]
fn sled_rotates_its_root() {
    let w = sled(1 << 12);
    root_rotation(&w.iss, &w);
}

#[test]
fn postgres_rotates_its_root() {
    let w = pg(1 << 12);
    root_rotation(&w.iss, &w);
}
