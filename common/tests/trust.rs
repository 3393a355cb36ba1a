//! Trust data: TUF's attacks each have a test, and status lists round-trip through ssi.
mod kit;
use ed25519_dalek::SigningKey;
use kit::*;
use tuaton_common::gate::StatusRef;
use tuaton_common::status::{self, Bitset, StatusLists};
use tuaton_common::trust::*;
use tuaton_common::verify::{StatusLookup, StatusView};
use tuaton_common::Error;

fn k(seed: u8) -> SigningKey {
    key(100 + seed)
}

fn root(version: u64, keys: &[u8], threshold: u8) -> Root {
    Root {
        version,
        expires: NOW + 365 * 86_400,
        threshold,
        keys: keys
            .iter()
            .map(|s| k(*s).verifying_key().to_bytes())
            .collect(),
    }
}

fn signed_root(version: u64, keys: &[u8], threshold: u8, signers: &[u8]) -> Vec<u8> {
    let signers: Vec<SigningKey> = signers.iter().map(|s| k(*s)).collect();
    SignedRoot::sign(
        root(version, keys, threshold),
        &signers.iter().collect::<Vec<_>>(),
    )
    .signed
    .to_bytes()
}

fn list(version: u64, root_version: u64) -> TrustList {
    TrustList {
        version,
        root_version,
        issued_at: NOW,
        expires: NOW + 7 * 86_400,
        issuers: vec![ListedIssuer {
            id: 1,
            name: "DOPA".into(),
            keys: trust().keys,
            did: Some(tuaton_common::w3c::default_issuer_did(1)),
        }],
        status: vec![],
        anchors: vec![],
        revoked_certificates: vec![],
    }
}

fn signed_list(version: u64, root_version: u64, signers: &[u8]) -> Vec<u8> {
    let signers: Vec<SigningKey> = signers.iter().map(|s| k(*s)).collect();
    SignedTrustList::sign(
        list(version, root_version),
        &signers.iter().collect::<Vec<_>>(),
    )
    .signed
    .to_bytes()
}

fn tofu(roots: &[Vec<u8>], list: &[u8]) -> Result<TrustState, Error> {
    TrustState::first(roots, list, Anchor::TrustOnFirstUse, NOW)
}

fn root1() -> Vec<u8> {
    signed_root(1, &[1, 2, 3], 2, &[1, 2])
}

#[test]
fn bootstrap_accepts_a_self_signed_root_and_its_trust_list() {
    let s = tofu(&[root1()], &signed_list(1, 1, &[2, 3])).unwrap();
    assert_eq!(s.root.root.version, 1);
    assert_eq!(s.trust_list.list.to_store().keys.len(), 1);
}

#[test]
fn below_threshold_is_refused() {
    let e = tofu(
        &[signed_root(1, &[1, 2, 3], 2, &[1])],
        &signed_list(1, 1, &[1, 2]),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Threshold {
                got: 1,
                need: 2,
                ..
            }
        ),
        "{e}"
    );
    let e = tofu(&[root1()], &signed_list(1, 1, &[3])).unwrap_err();
    assert!(matches!(e, Error::Threshold { .. }), "{e}");
    // A signature by a key outside the root, or the same key twice, is refused outright.
    let e = tofu(&[root1()], &signed_list(1, 1, &[1, 2, 9])).unwrap_err();
    assert!(matches!(e, Error::ForeignSignature(_)), "{e}");
    let e = tofu(&[root1()], &signed_list(1, 1, &[1, 1, 2])).unwrap_err();
    assert!(matches!(e, Error::ForeignSignature(_)), "{e}");
}

#[test]
fn rotation_follows_the_chain_from_any_older_root() {
    let r2 = signed_root(2, &[4, 5, 6], 2, &[1, 2, 4, 5]);
    let r3 = signed_root(3, &[7, 8, 9], 2, &[5, 6, 7, 9]);
    let s = tofu(&[root1()], &signed_list(1, 1, &[1, 2])).unwrap();
    let s = s
        .update(
            &[root1(), r3.clone(), r2.clone()],
            &signed_list(5, 3, &[7, 8]),
            NOW,
        )
        .unwrap();
    assert_eq!(s.root.root.version, 3);
    // A fresh gate bootstraps from root 1 and follows the same chain.
    let fresh = tofu(&[r2, root1(), r3], &signed_list(5, 3, &[7, 8])).unwrap();
    assert_eq!(fresh.root, s.root);
}

#[test]
fn a_new_root_needs_the_old_root_threshold_and_its_own() {
    let s = tofu(&[root1()], &signed_list(1, 1, &[1, 2])).unwrap();
    // Only the new keys signed: an attacker's self-made root.
    let r2 = signed_root(2, &[4, 5, 6], 2, &[4, 5]);
    assert!(matches!(
        s.update(&[r2], &signed_list(2, 2, &[4, 5]), NOW)
            .unwrap_err(),
        Error::Threshold { .. }
    ));
    // Only old keys signed: the new keys never agreed.
    let r2 = signed_root(2, &[4, 5, 6], 2, &[1, 2]);
    assert!(matches!(
        s.update(&[r2], &signed_list(2, 2, &[4, 5]), NOW)
            .unwrap_err(),
        Error::Threshold { .. }
    ));
}

#[test]
fn rollback_is_refused() {
    let r2 = signed_root(2, &[4, 5, 6], 2, &[1, 2, 4, 5]);
    let s = tofu(&[root1(), r2], &signed_list(7, 2, &[4, 5])).unwrap();
    // An old bundle: root 1 only, or the same root with an older trust list.
    assert!(matches!(
        s.update(&[root1()], &signed_list(9, 1, &[1, 2]), NOW)
            .unwrap_err(),
        Error::Rollback { what: "root", .. }
    ));
    let r2 = signed_root(2, &[4, 5, 6], 2, &[1, 2, 4, 5]);
    let e = s
        .update(&[root1(), r2], &signed_list(6, 2, &[4, 5]), NOW)
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Rollback {
                what: "trust list",
                offered: 6,
                trusted: 7
            }
        ),
        "{e}"
    );
}

#[test]
fn mix_and_match_of_root_and_trust_list_is_refused() {
    // A trust list signed by root-1 keys served with root 2 (which dropped those keys).
    let r2 = signed_root(2, &[4, 5, 6], 2, &[1, 2, 4, 5]);
    let s = tofu(&[root1()], &signed_list(1, 1, &[1, 2])).unwrap();
    let e = s
        .update(&[root1(), r2.clone()], &signed_list(3, 1, &[1, 2]), NOW)
        .unwrap_err();
    assert!(matches!(e, Error::ForeignSignature(_)), "{e}");
    // Signed by the right keys but naming another root version.
    let r2b = signed_root(2, &[1, 2, 3], 2, &[1, 2, 3]);
    let e = s
        .update(&[r2b], &signed_list(3, 1, &[1, 2]), NOW)
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::WrongRoot {
                signed_under: 1,
                current: 2
            }
        ),
        "{e}"
    );
}

#[test]
fn mix_and_match_of_status_lists_is_refused() {
    let pin = StatusPin {
        issuer: 1,
        list: 0,
        size: 8,
        sha256: [0; 32],
        file: "1-0.json".into(),
    };
    assert!(matches!(
        check_status_pin(&pin, b"{}"),
        Err(Error::StatusMismatch(_))
    ));
}

#[test]
fn fast_forward_with_a_removed_key_does_not_lock_out_the_issuer() {
    // Root 1 has threshold 1; key 1 leaks and the attacker publishes trust list v1000000.
    let r1 = signed_root(1, &[1, 2], 1, &[1, 2]);
    let s = tofu(std::slice::from_ref(&r1), &signed_list(3, 1, &[2])).unwrap();
    let s = s
        .update(
            std::slice::from_ref(&r1),
            &signed_list(1_000_000, 1, &[1]),
            NOW,
        )
        .unwrap();
    assert_eq!(s.trust_list.list.version, 1_000_000);
    // The issuer rotates the root without key 1; its real list v4 must be accepted.
    let r2 = signed_root(2, &[2, 3], 1, &[2, 3]);
    let s = s
        .update(&[r1.clone(), r2.clone()], &signed_list(4, 2, &[3]), NOW)
        .unwrap();
    assert_eq!((s.root.root.version, s.trust_list.list.version), (2, 4));
    // The attacker's key can no longer sign anything, however high the version.
    let e = s
        .update(&[r1, r2], &signed_list(2_000_000, 2, &[1]), NOW)
        .unwrap_err();
    assert!(matches!(e, Error::ForeignSignature(_)), "{e}");
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    for b in [&b""[..], b"\x80", b"\x82\x40\x80", b"\xa1\x01\x02"] {
        assert!(tofu(&[b.to_vec()], b).is_err());
    }
}

#[test]
fn status_list_round_trips_through_ssi() {
    let mut bits = Bitset::new(131_072);
    for i in [0, 7, 8, 42, 131_071] {
        assert!(bits.set(i));
    }
    assert!(!bits.set(131_072));
    let json = status::sign_list(
        &bits,
        1,
        &tuaton_common::w3c::default_issuer_did(1),
        0,
        &issuer_key(),
        NOW,
        NOW + 86_400,
    )
    .unwrap();
    assert!(json.contains("BitstringStatusListCredential"));
    let checked = status::verify_list(
        json.clone(),
        &[issuer_key().verifying_key()],
        Some(tuaton_common::w3c::default_issuer_did(1).as_str()),
        131_072,
        NOW,
    )
    .unwrap();
    assert_eq!(checked.bits, bits);
    assert_eq!(checked.valid_until, Some(NOW + 86_400));
    let mut lists = StatusLists::default();
    lists.insert(1, 0, checked);
    let at = |i| lists.lookup(1, StatusRef { list: 0, index: i }, NOW);
    assert_eq!(at(42), StatusLookup::Revoked);
    assert_eq!(at(43), StatusLookup::Good);
    // Past the end of the list: fails closed, as a set bit.
    assert_eq!(at(131_072), StatusLookup::Revoked);
    assert_eq!(at(200_000), StatusLookup::Revoked);
    assert_eq!(
        lists.lookup(1, StatusRef { list: 0, index: 43 }, NOW + 86_400),
        StatusLookup::GoodButStale
    );
    assert_eq!(
        lists.lookup(1, StatusRef { list: 1, index: 43 }, NOW),
        StatusLookup::Unknown
    );
}

#[test]
fn an_absurd_list_size_is_refused_before_allocating() {
    let json = status::sign_list(
        &Bitset::new(131_072),
        1,
        &tuaton_common::w3c::default_issuer_did(1),
        0,
        &issuer_key(),
        NOW,
        NOW + 86_400,
    )
    .unwrap();
    for size in [0, u64::MAX, status::MAX_ENTRIES + 1] {
        let e = status::verify_list(
            json.clone(),
            &[issuer_key().verifying_key()],
            Some(tuaton_common::w3c::default_issuer_did(1).as_str()),
            size,
            NOW,
        )
        .unwrap_err();
        assert!(e.to_string().contains("outside"), "{e}");
    }
}

#[test]
fn status_list_signed_by_another_key_or_altered_is_refused() {
    let bits = Bitset::new(131_072);
    let json = status::sign_list(
        &bits,
        1,
        &tuaton_common::w3c::default_issuer_did(1),
        0,
        &key(55),
        NOW,
        NOW + 86_400,
    )
    .unwrap();
    let e = status::verify_list(
        json.clone(),
        &[issuer_key().verifying_key()],
        Some(tuaton_common::w3c::default_issuer_did(1).as_str()),
        131_072,
        NOW,
    )
    .unwrap_err();
    assert!(e.to_string().contains("not a key of this issuer"), "{e}");
    let json = status::sign_list(
        &bits,
        1,
        &tuaton_common::w3c::default_issuer_did(1),
        0,
        &issuer_key(),
        NOW,
        NOW + 86_400,
    )
    .unwrap();
    let tampered = json.replace("\"revocation\"", "\"suspension\"");
    assert!(status::verify_list(
        tampered,
        &[issuer_key().verifying_key()],
        Some(tuaton_common::w3c::default_issuer_did(1).as_str()),
        131_072,
        NOW
    )
    .is_err());
}

// ---- Root of trust: the attacks of a bundle source (docs/THREATS.md, "Root of trust").

fn attacker_root1() -> Vec<u8> {
    signed_root(1, &[50, 51], 1, &[50, 51])
}

/// The real trust list with one more signature, by the attacker's root key.
fn list_with_extra_signature(version: u64) -> Vec<u8> {
    let mut m = MultiSigned::from_bytes(&signed_list(version, 1, &[1, 2])).unwrap();
    let extra = MultiSigned::from_bytes(&signed_list(version, 1, &[50])).unwrap();
    m.sigs.extend(extra.sigs);
    m.to_bytes()
}

#[test]
fn attack_served_root_replaces_the_trusted_root() {
    // The gate trusts the real root 1. A mirror serves the attacker's own root 1 with the
    // real trust list: the f8e3229 gate stored that root and re-bootstrapped from it.
    let s = tofu(&[root1()], &signed_list(1, 1, &[1, 2])).unwrap();
    let e = s
        .update(&[attacker_root1()], &signed_list(2, 1, &[1, 2]), NOW)
        .unwrap_err();
    assert!(matches!(e, Error::RootMismatch { version: 1 }), "{e}");
    // Both roots 1 side by side in one bundle: two histories, refused.
    let e = s
        .update(
            &[root1(), attacker_root1()],
            &signed_list(2, 1, &[1, 2]),
            NOW,
        )
        .unwrap_err();
    assert!(matches!(e, Error::RootMismatch { version: 1 }), "{e}");
    // And the state the gate keeps names only the root it verified.
    assert_eq!(s.chain_bytes(), vec![root1()]);
}

#[test]
fn attack_trust_list_with_an_extra_signature_by_an_unknown_key() {
    let s = tofu(&[root1()], &signed_list(1, 1, &[1, 2])).unwrap();
    let e = s
        .update(&[root1()], &list_with_extra_signature(2), NOW)
        .unwrap_err();
    assert!(matches!(e, Error::ForeignSignature(_)), "{e}");
    // Nor can it seed a first sync, pinned or not.
    let fp = SignedRoot::from_bytes_self_signed(&root1())
        .unwrap()
        .root
        .fingerprint_bytes();
    let e = TrustState::first(
        &[root1()],
        &list_with_extra_signature(2),
        Anchor::Pinned(fp),
        NOW,
    )
    .unwrap_err();
    assert!(matches!(e, Error::ForeignSignature(_)), "{e}");
}

#[test]
fn attack_reload_from_a_stored_foreign_root() {
    // Whatever the store holds is re-checked from the gate's own anchor: a trust list
    // signed by another root does not load.
    let e = TrustState::reload(&[root1()], &signed_list(1, 1, &[50])).unwrap_err();
    assert!(matches!(e, Error::ForeignSignature(_)), "{e}");
    let s = TrustState::reload(&[root1()], &signed_list(1, 1, &[1, 2])).unwrap();
    assert_eq!(s.root.root.version, 1);
}

#[test]
fn the_first_sync_starts_only_from_the_pinned_root() {
    let real = SignedRoot::from_bytes_self_signed(&root1()).unwrap().root;
    let fp = real.fingerprint_bytes();
    let s = TrustState::first(
        &[root1()],
        &signed_list(1, 1, &[1, 2]),
        Anchor::Pinned(fp),
        NOW,
    )
    .unwrap();
    assert_eq!(s.root.root, real);
    // A bundle made by someone else does not hold the pinned root.
    let e = TrustState::first(
        &[attacker_root1()],
        &signed_list(1, 1, &[50]),
        Anchor::Pinned(fp),
        NOW,
    )
    .unwrap_err();
    assert!(matches!(e, Error::UnpinnedRoot { .. }), "{e}");
    // Pinned to root 2, a gate starts there and follows on to root 3.
    let r2 = signed_root(2, &[4, 5, 6], 2, &[1, 2, 4, 5]);
    let r3 = signed_root(3, &[7, 8, 9], 2, &[5, 6, 7, 9]);
    let fp2 = SignedRoot::from_bytes_self_signed(&r2)
        .unwrap()
        .root
        .fingerprint_bytes();
    let s = TrustState::first(
        &[root1(), r2.clone(), r3],
        &signed_list(5, 3, &[7, 8]),
        Anchor::Pinned(fp2),
        NOW,
    )
    .unwrap();
    assert_eq!((s.chain[0].root.version, s.root.root.version), (2, 3));
}

#[test]
fn the_fingerprint_covers_every_key_and_the_threshold() {
    let a = root(1, &[1, 2, 3], 2);
    let mut lower = a.clone();
    lower.threshold = 1;
    let mut swapped = a.clone();
    swapped.keys[2] = k(9).verifying_key().to_bytes();
    let mut fewer = a.clone();
    fewer.keys.pop();
    let fps: Vec<String> = [&a, &lower, &swapped, &fewer]
        .iter()
        .map(|r| r.fingerprint())
        .collect();
    for i in 0..fps.len() {
        assert_eq!(fps[i].len(), 64);
        for j in i + 1..fps.len() {
            assert_ne!(fps[i], fps[j]);
        }
    }
    // Typed with separators or in capitals, it parses to the same bytes.
    let grouped: String = a
        .fingerprint()
        .to_uppercase()
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    assert_eq!(parse_fingerprint(&grouped).unwrap(), a.fingerprint_bytes());
    assert!(parse_fingerprint("abc").is_err());
}

#[test]
fn an_expired_root_is_refused_but_an_expired_older_root_leads_to_its_successor() {
    let mut old = root(1, &[1, 2, 3], 2);
    old.expires = NOW - 10;
    let signers = [k(1), k(2)];
    let old_b = SignedRoot::sign(old, &signers.iter().collect::<Vec<_>>())
        .signed
        .to_bytes();
    // The newest root has expired: nothing to start from.
    let e = tofu(std::slice::from_ref(&old_b), &signed_list(1, 1, &[1, 2])).unwrap_err();
    assert!(matches!(e, Error::RootExpired { version: 1, .. }), "{e}");
    // Its successor is current: the chain is followed through the expired root.
    let r2 = signed_root(2, &[4, 5, 6], 2, &[1, 2, 4, 5]);
    let s = tofu(&[old_b, r2], &signed_list(2, 2, &[4, 5])).unwrap();
    assert_eq!(s.root.root.version, 2);
    // The root's expiry also bounds how long the trust data counts as current.
    let mut short = root(1, &[1, 2, 3], 2);
    short.expires = NOW + 60;
    let short = SignedRoot::sign(short, &signers.iter().collect::<Vec<_>>())
        .signed
        .to_bytes();
    let s = tofu(&[short], &signed_list(1, 1, &[1, 2])).unwrap();
    assert_eq!(s.to_store().expires, Some(NOW + 60));
}

#[test]
fn too_many_roots_are_refused_before_any_is_verified() {
    let many = vec![root1(); MAX_ROOTS + 1];
    let e = tofu(&many, &signed_list(1, 1, &[1, 2])).unwrap_err();
    assert!(matches!(e, Error::Trust(_)), "{e}");
}

#[test]
fn attack_a_status_list_under_another_issuers_did_is_refused() {
    // Signed by this issuer's own key, but claiming another issuer's DID (or, against a
    // trust list made before issuers had one, anything but the key's did:key).
    let bits = Bitset::new(131_072);
    let mine = tuaton_common::w3c::default_issuer_did(1);
    let other = "did:web:issue.other-province.go.th";
    let keys = [issuer_key().verifying_key()];
    let json = status::sign_list(&bits, 1, other, 0, &issuer_key(), NOW, NOW + 86_400).unwrap();
    let e = status::verify_list(json.clone(), &keys, Some(&mine), 131_072, NOW).unwrap_err();
    assert!(e.to_string().contains("not a key of this issuer"), "{e}");
    assert!(status::verify_list(json, &keys, None, 131_072, NOW).is_err());
    let json = status::sign_list(&bits, 1, &mine, 0, &issuer_key(), NOW, NOW + 86_400).unwrap();
    assert!(status::verify_list(json.clone(), &keys, Some(&mine), 131_072, NOW).is_ok());
    assert!(status::verify_list(json, &keys, None, 131_072, NOW).is_err());
}
