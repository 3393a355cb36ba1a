//! The standard issuance flow, OpenID4VCI 1.0 with the pre-authorised code, against the
//! real service and PostgreSQL: a wallet written from the specification alone
//! (docs/vectors/oid4vci_wallet.py, Python, sharing no code with tuaton) enrols with an
//! Ed25519 or a P-256 key and takes both credential configurations; and every bad request
//! the issue names is refused with the specification's error code, issuing nothing.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use serde_json::{json, Value};
use std::process::Command;
use tuaton_common::holder::{HolderSecret, HolderSigner, KeyType};
use tuaton_common::oid4vci::{self as spec, CONFIG_CARD, CONFIG_LDP, CONFIG_MDOC};
use tuaton_common::sample;
use tuaton_tests::{Service, TestDb, World};

mod service_kit;
use service_kit::*;

/// The first Python with `cryptography` (Debian's python3-cryptography).
fn python() -> &'static str {
    ["python3", "/usr/bin/python3"]
        .into_iter()
        .find(|p| {
            Command::new(p)
                .args(["-c", "import cryptography"])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("no Python 3 with cryptography: apt-get install python3-cryptography")
}

#[test]
fn a_wallet_that_follows_only_the_specification_enrols_with_either_key() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/vectors/oid4vci_wallet.py"
    );
    enrols_with_either_key(|| {
        let mut c = Command::new(python());
        c.arg(script);
        c
    });
}

/// The same with @openid4vc/openid4vci (Animo's oid4vc-ts), a client library someone
/// else wrote, driven by docs/vectors/oid4vci/client.mjs. Needs Node.js 18 or later and
/// the library, fetched once: `cd docs/vectors/oid4vci && npm ci`, then
/// `cargo test -p tuaton-tests --test oid4vci -- --ignored`.
#[test]
#[ignore = "needs Node.js and `npm ci` in docs/vectors/oid4vci (see the comment)"]
fn an_openid4vci_client_library_enrols_with_either_key() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors/oid4vci");
    assert!(
        std::path::Path::new(dir).join("node_modules").is_dir(),
        "run `npm ci` in {dir} first"
    );
    enrols_with_either_key(|| {
        let mut c = Command::new("node");
        c.current_dir(dir).arg("client.mjs");
        c
    });
}

/// A standard wallet (`wallet()` OFFER TX (EdDSA|ES256) CONFIG...) enrols with each key
/// type and takes both configurations: the same card, bound to the key it proved.
fn enrols_with_either_key(wallet: impl Fn() -> Command) {
    let w = World::new();
    let db = TestDb::new();
    issuer_in(&w, &db, &[], &[]);
    let svc = Service::start(&db.url, &[], &[]);
    let rec = sample_record(&w);
    for alg in ["EdDSA", "ES256"] {
        let (offer, tx) = offer_text(&w, &svc, &rec);
        let out = wallet()
            .args([offer.as_str(), &tx, alg, CONFIG_CARD, CONFIG_LDP])
            // The mdoc form for the P-256 key only: the metadata says ES256.
            .args((alg == "ES256").then_some(CONFIG_MDOC))
            .env("NO_PROXY", "127.0.0.1")
            .output()
            .expect("the wallet runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{alg}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_str(stdout.trim()).unwrap();
        let holder = spec::key_of_jwk(&v["holder_jwk"], alg).unwrap();
        // The card the gate reads is bound to the key the wallet proved.
        let package = &v["credentials"][CONFIG_CARD];
        let package =
            tuaton_common::package::CredentialPackage::parse(&serde_json::to_vec(package).unwrap())
                .unwrap_or_else(|e| panic!("{alg}: {e}: {package}"));
        let gate =
            tuaton_common::gate::GateCredential::from_bytes(&hex::decode(&package.gate).unwrap())
                .unwrap();
        assert_eq!(gate.full_member().unwrap().payload.holder_key, holder);
        // The W3C form alone, for wallets that keep only those: the same card, bound to
        // the holder's did:key, and its Data Integrity proof verifies.
        let ldp = &v["credentials"][CONFIG_LDP];
        assert_eq!(ldp, &package.w3c, "{alg}");
        let checked =
            tuaton_common::w3c::verify(&ldp.to_string(), chrono::Utc::now().timestamp()).unwrap();
        assert_eq!(
            checked.holder,
            tuaton_common::w3c::holder_did(&holder).unwrap()
        );
        assert_eq!(checked.claims.given_name_en.to_string(), "Somchai");
        // The mdoc form (appendix A.2): for a P-256 key, the base64url of the IssuerSigned
        // the package carries, bound to that key; an Ed25519 key is told why not.
        let mdoc = &v["credentials"][CONFIG_MDOC];
        if alg == "ES256" {
            let b = B64URL
                .decode(mdoc.as_str().expect("a base64url string"))
                .unwrap();
            assert_eq!(Some(hex::encode(&b)), package.mdoc, "{alg}");
            tuaton_common::mdoc::check_issued(&b, &holder).unwrap();
        } else {
            assert!(mdoc.is_null(), "{mdoc}");
            assert!(package.mdoc.is_none());
        }
    }
    assert_eq!(credentials(&db), 2, "one card per offer");
}

/// How many credentials the issuer has issued.
fn credentials(db: &TestDb) -> i64 {
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    c.query_one("SELECT count(*) FROM credentials", &[])
        .unwrap()
        .get(0)
}

/// One request over a fresh connection: (status, lower-case head, JSON body).
fn request(
    svc: &Service,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, Value) {
    let (status, head, body) = tuaton_tests::http(&svc.url, method, path, headers, body);
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, head.to_lowercase(), body)
}

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

fn token_request(svc: &Service, code: &str, tx: Option<&str>) -> (u16, Value) {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", spec::PRE_AUTHORIZED_GRANT)
        .append_pair("pre-authorized_code", code);
    if let Some(tx) = tx {
        form.append_pair("tx_code", tx);
    }
    let (status, _, v) = request(svc, "POST", spec::TOKEN_PATH, &[FORM], &form.finish());
    (status, v)
}

fn nonce(svc: &Service) -> String {
    let (status, head, v) = request(svc, "POST", spec::NONCE_PATH, &[], "");
    assert_eq!(status, 200, "{v}");
    assert!(head.contains("cache-control: no-store"), "{head}");
    v["c_nonce"].as_str().unwrap().to_owned()
}

fn credential_request(svc: &Service, token: &str, config: &str, jwt: &str) -> (u16, String, Value) {
    let body = json!({"credential_configuration_id": config, "proofs": {"jwt": [jwt]}}).to_string();
    let auth = format!("Bearer {token}");
    request(
        svc,
        "POST",
        spec::CREDENTIAL_PATH,
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &auth),
        ],
        &body,
    )
}

/// A proof JWT with this header and these claims, signed by `key` (whatever `alg` says).
fn signed_jwt(key: &HolderSecret, header: Value, claims: Value) -> String {
    let input = format!(
        "{}.{}",
        B64URL.encode(header.to_string()),
        B64URL.encode(claims.to_string())
    );
    format!(
        "{input}.{}",
        B64URL.encode(key.sign_holder(input.as_bytes()))
    )
}

fn code_of(offer: &str) -> String {
    B64URL.encode(tuaton_common::offer::Offer::parse(offer).unwrap().code)
}

#[test]
fn attack_every_bad_standard_request_is_refused_with_the_spec_code_and_issues_nothing() {
    let w = World::new();
    let db = TestDb::new();
    issuer_in(&w, &db, &[], &[]);
    let svc = Service::start(&db.url, &[], &[]);
    let now = || chrono::Utc::now().timestamp();
    let somchai = sample_record(&w);
    let v: Value = serde_json::from_str(sample::RECORDS[1]).unwrap();
    let other = w.record("other", &v, sample::PORTRAIT_A);

    // A wallet in a browser may call every endpoint (CORS): a preflight is answered, and
    // answers allow any origin.
    let (status, head, _) = request(
        &svc,
        "OPTIONS",
        spec::CREDENTIAL_PATH,
        &[
            ("Origin", "https://wallet.example"),
            ("Access-Control-Request-Method", "POST"),
            (
                "Access-Control-Request-Headers",
                "authorization, content-type",
            ),
        ],
        "",
    );
    assert_eq!(status, 204, "{head}");
    assert!(head.contains("access-control-allow-origin: *"), "{head}");
    assert!(
        head.contains("access-control-allow-headers: authorization"),
        "{head}"
    );
    let (_, head, _) = request(&svc, "GET", spec::ISSUER_METADATA_PATH, &[], "");
    assert!(head.contains("access-control-allow-origin: *"), "{head}");

    // The token endpoint (section 6.3).
    let (offer_a, tx_a) = offer_text(&w, &svc, &somchai);
    let code_a = code_of(&offer_a);
    let (status, e) = token_request(&svc, &code_a, None);
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("invalid_request")),
        "{e}"
    );
    let wrong = if tx_a == "000000" { "111111" } else { "000000" };
    let (status, e) = token_request(&svc, &code_a, Some(wrong));
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .contains("tries left"),
        "{e}"
    );
    let (status, e) = token_request(&svc, &B64URL.encode([9u8; 16]), Some(&tx_a));
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
    let (status, _, e) = request(
        &svc,
        "POST",
        spec::TOKEN_PATH,
        &[FORM],
        &format!("grant_type=authorization_code&code={code_a}"),
    );
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("unsupported_grant_type")),
        "{e}"
    );
    let (status, tok_a) = token_request(&svc, &code_a, Some(&tx_a));
    assert_eq!(status, 200, "{tok_a}");
    assert_eq!(tok_a["token_type"], "Bearer");
    let token_a = tok_a["access_token"].as_str().unwrap().to_owned();
    // A wrong transaction code now (someone with a photo of the screen) counts a try but
    // leaves the token granted: every request below with it still gets past the token.
    let (status, e) = token_request(&svc, &code_a, Some(wrong));
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
    // Once its code is exchanged, the offer is not redeemed on the compact path either.
    let racer = HolderSecret::generate(KeyType::Ed25519, &mut rand::rngs::OsRng);
    let o = tuaton_common::offer::Offer::parse(&offer_a).unwrap();
    let compact = tuaton_common::offer::RedeemRequest {
        pre_authorized_code: code_a.clone(),
        tx_code: tx_a.clone(),
        holder_key: B64URL.encode(racer.holder_key().as_bytes()),
        proof: B64URL.encode(tuaton_common::offer::prove(&racer, &o)),
    };
    let (status, _, e) = request(
        &svc,
        "POST",
        "/v1/credential",
        &[("Content-Type", "application/json")],
        &serde_json::to_string(&compact).unwrap(),
    );
    assert_eq!(
        (status, e["error"].as_str()),
        (409, Some("offer_used")),
        "{e}"
    );

    // The credential endpoint (section 8.3.1.2), with offer A's token.
    let holder = HolderSecret::generate(KeyType::Ed25519, &mut rand::rngs::OsRng);
    let jwk = spec::jwk_of(&holder.holder_key()).unwrap();
    let header = json!({"typ": spec::PROOF_TYP, "alg": "EdDSA", "jwk": jwk});
    let claims = |aud: &str, nonce: Option<&str>| {
        let mut c = json!({"aud": aud, "iat": now()});
        if let Some(n) = nonce {
            c["nonce"] = n.into();
        }
        c
    };
    let refused = |jwt: &str, config: &str, token: &str, want: &str| {
        let (status, head, e) = credential_request(&svc, token, config, jwt);
        assert_eq!(e["error"].as_str(), Some(want), "{e}");
        let code = if want == "invalid_token" { 401 } else { 400 };
        assert_eq!(status, code, "{e}");
        if code == 401 {
            assert!(
                head.contains("www-authenticate: bearer error=\"invalid_token\""),
                "{head}"
            );
        }
    };
    // A proof for another audience (a relay's, or another issuer's).
    let n = nonce(&svc);
    let jwt = signed_jwt(
        &holder,
        header.clone(),
        claims("https://evil.example", Some(&n)),
    );
    refused(&jwt, CONFIG_CARD, &token_a, "invalid_proof");
    // No nonce at all: the proof is invalid (section 8.3.1.2 names this case).
    let jwt = signed_jwt(&holder, header.clone(), claims(&svc.url, None));
    refused(&jwt, CONFIG_CARD, &token_a, "invalid_proof");
    // A nonce this service never made.
    let jwt = signed_jwt(
        &holder,
        header.clone(),
        claims(&svc.url, Some("bm90LW91cnM")),
    );
    refused(&jwt, CONFIG_CARD, &token_a, "invalid_nonce");
    // An old nonce: made by an instance of the service whose clock says ten minutes ago
    // (instances share the nonce key through the database).
    let past = chrono::DateTime::from_timestamp(now() - 600, 0)
        .unwrap()
        .to_rfc3339();
    let old_svc = Service::start(&db.url, &["--at", &past], &[]);
    let old = nonce(&old_svc);
    drop(old_svc);
    let jwt = signed_jwt(&holder, header.clone(), claims(&svc.url, Some(&old)));
    refused(&jwt, CONFIG_CARD, &token_a, "invalid_nonce");
    // alg none, and an algorithm the issuer does not support.
    let n = nonce(&svc);
    let none = format!(
        "{}.{}.",
        B64URL.encode(json!({"typ": spec::PROOF_TYP, "alg": "none", "jwk": jwk}).to_string()),
        B64URL.encode(claims(&svc.url, Some(&n)).to_string())
    );
    refused(&none, CONFIG_CARD, &token_a, "invalid_proof");
    let es384 = signed_jwt(
        &holder,
        json!({"typ": spec::PROOF_TYP, "alg": "ES384", "jwk": jwk}),
        claims(&svc.url, Some(&n)),
    );
    refused(&es384, CONFIG_CARD, &token_a, "invalid_proof");
    // A configuration nobody offers.
    let good = spec::proof_jwt(&holder, &svc.url, &n, now()).unwrap();
    refused(
        &good,
        "tuaton_passport",
        &token_a,
        "unknown_credential_configuration",
    );
    // The mdoc form with an Ed25519 key (mdocs are bound to P-256 device keys).
    let ed = HolderSecret::generate(KeyType::Ed25519, &mut rand::rngs::OsRng);
    let ed_proof = spec::proof_jwt(&ed, &svc.url, &n, now()).unwrap();
    refused(&ed_proof, CONFIG_MDOC, &token_a, "invalid_proof");
    // An access token nobody was granted.
    refused(
        &good,
        CONFIG_CARD,
        &B64URL.encode([7u8; 32]),
        "invalid_token",
    );
    assert_eq!(credentials(&db), 0, "nothing issued by a bad request");

    // A reused pre-authorised code: refused, and the token granted for it is revoked
    // (RFC 6749 section 4.1.2), so whoever holds it issues nothing either.
    let (status, e) = token_request(&svc, &code_a, Some(&tx_a));
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
    refused(&good, CONFIG_CARD, &token_a, "invalid_token");
    assert_eq!(credentials(&db), 0);

    // A token is its own offer's: offer B's token issues B's card, once, to one key.
    let (offer_b, tx_b) = offer_text(&w, &svc, &other);
    let (_, tok_b) = token_request(&svc, &code_of(&offer_b), Some(&tx_b));
    let token_b = tok_b["access_token"].as_str().unwrap().to_owned();
    let (status, _, r) = credential_request(&svc, &token_b, CONFIG_CARD, &good);
    assert_eq!(status, 200, "{r}");
    let pkg = &r["credentials"][0]["credential"];
    let name = pkg["w3c"]["credentialSubject"].to_string();
    assert!(
        !name.contains("Somchai"),
        "offer B's token issued offer A's card: {name}"
    );
    // The same key again (a lost answer, or the W3C configuration): the same card.
    let again = spec::proof_jwt(&holder, &svc.url, &nonce(&svc), now()).unwrap();
    let (status, _, r2) = credential_request(&svc, &token_b, CONFIG_LDP, &again);
    assert_eq!(status, 200, "{r2}");
    assert_eq!(r2["credentials"][0]["credential"], pkg["w3c"]);
    // Another key with the same token: denied.
    let thief = HolderSecret::generate(KeyType::P256, &mut rand::rngs::OsRng);
    let jwt = spec::proof_jwt(&thief, &svc.url, &nonce(&svc), now()).unwrap();
    refused(&jwt, CONFIG_CARD, &token_b, "credential_request_denied");
    assert_eq!(credentials(&db), 1, "one card, for offer B");
}
