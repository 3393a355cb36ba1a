//! The issuance service against a real PostgreSQL server (and a real SoftHSM token):
//! an officer's offer to a card in the wallet that a gate accepts, one-time offers, wrong
//! credentials and records, a client that hangs up, a database that goes away, and
//! concurrent issuance that never shares a status index.

use base64::Engine as _;
use ed25519_dalek::SigningKey;
use std::collections::HashSet;
use std::io::Write;
use std::sync::Arc;
use tuaton_common::offer::{self, Offer, OfferRequest, RedeemRequest};
use tuaton_common::sample;
use tuaton_common::seal::KdfParams;
use tuaton_issuer::pg::{Office, PgStore, MAX_TX_TRIES, OFFER_TTL_SECS};
use tuaton_issuer::{InitOptions, Issuer, IssuerError, KeySource};
use tuaton_tests::{run, Service, TestDb, World, PASSPHRASE, PIN};

mod service_kit;
use service_kit::*;

const NOW: i64 = 1_795_000_000;

/// The whole path, keys sealed in the database or in a token: the officer's offer, the
/// wallet's enrolment, the same wallet asking again, another wallet refused, and a gate
/// that synced from the service accepting the card.
fn offer_to_card_at_the_gate(keys: &[&str], env: &[(&str, &str)]) {
    let w = World::new();
    let db = TestDb::new();
    let fp = issuer_in(&w, &db, keys, env);
    let mut senv = env.to_vec();
    senv.push(("TUATON_ISSUER_PASSPHRASE", PASSPHRASE));
    let svc = Service::start(&db.url, keys, &senv);
    let rec = sample_record(&w);
    let (offer, tx) = offer_text(&w, &svc, &rec);
    assert!(offer.starts_with(offer::OID4VCI_SCHEME), "{offer}");
    w.new_wallet("wallet");
    let enrolled = w
        .wallet(
            "wallet",
            &["enroll", "--expect-root", &root_of(&offer), &offer],
            &format!("{PIN}\n{tx}\n"),
        )
        .ok();
    assert!(
        enrolled.contains("Enrolled: the ID card of Somchai Jaidee"),
        "{enrolled}"
    );
    let cid = enrolled
        .split("credential ")
        .nth(1)
        .and_then(|s| s.get(..16))
        .expect("credential id")
        .to_owned();

    // The pre-authorised code is exchanged once: the same wallet again, or anyone else,
    // is refused, and nothing is issued (the wallet keeps its card).
    let again = w.wallet(
        "wallet",
        &["enroll", "--expect-root", &root_of(&offer), &offer],
        &format!("{PIN}\n{tx}\n"),
    );
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(
        again.stderr.contains("already been used"),
        "{}",
        again.stderr
    );
    w.new_wallet("thief");
    let r = w.wallet(
        "thief",
        &["enroll", "--expect-root", &root_of(&offer), &offer],
        &format!("{PIN}\n{tx}\n"),
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("already been used"), "{}", r.stderr);
    assert!(w.wallet("thief", &["show"], &format!("{PIN}\n")).code != 0);
    let shown = w.wallet("wallet", &["show"], &format!("{PIN}\n")).ok();
    assert!(shown.contains("Somchai Jaidee"), "{shown}");

    // A gate syncs from the service's /bundle/ and accepts the card.
    w.gate(&[
        "sync",
        &format!("{}/bundle/", svc.url),
        "--expect-root",
        &fp,
    ])
    .ok();
    let (code, v) = w.check(&w.present("wallet"));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["verdict"], "valid", "{v}");

    // Head office revokes the card over HTTP and publishes; the gate takes it.
    let admin: serde_json::Value =
        serde_json::from_slice(&std::fs::read(w.path("admin.json")).unwrap()).unwrap();
    let admin = admin["token"].as_str().unwrap();
    let _: serde_json::Value = tuaton_issuer::http::post_json(
        &svc.url,
        "/v1/admin/revoke",
        Some(admin),
        &serde_json::json!({"credential_id": cid, "officer": "Director"}),
    )
    .unwrap();
    let _: serde_json::Value = tuaton_issuer::http::post_json(
        &svc.url,
        "/v1/admin/publish",
        Some(admin),
        &serde_json::json!({"officer": "Director"}),
    )
    .unwrap();
    w.gate(&[
        "sync",
        &format!("{}/bundle/", svc.url),
        "--expect-root",
        &fp,
    ])
    .ok();
    let (code, v) = w.check(&w.present("wallet"));
    assert_eq!(code, 1, "{v}");
    assert!(
        v["reasons"].to_string().contains("credential_revoked"),
        "{v}"
    );

    // The root rotates where its keys are (sealed, or in the token), with --json.
    let mut args = vec!["--database", db.url.as_str()];
    args.extend_from_slice(keys);
    args.extend(["--json", "rotate-root"]);
    let mut renv = env.to_vec();
    renv.push(("TUATON_ISSUER_PASSPHRASE", PASSPHRASE));
    let r: serde_json::Value =
        serde_json::from_str(run("tuaton-issuer", &args, "", &renv).ok().trim()).unwrap();
    assert_eq!(r["root_version"], 2, "{r}");
    // The officer's client speaks JSON too.
    let out = officer_offer(&w, &svc, "office.json", &rec, &["--json"]).ok();
    let o: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(
        o["offer"]
            .as_str()
            .unwrap()
            .starts_with("openid-credential-offer://?credential_offer="),
        "{o}"
    );
    assert!(
        o["offer_compact"].as_str().unwrap().starts_with("TTO2:"),
        "{o}"
    );
    assert_eq!(o["tx_code"].as_str().unwrap().len(), 6, "{o}");
}

#[test]
fn officer_offer_becomes_a_card_the_gate_accepts() {
    offer_to_card_at_the_gate(&[], &[]);
}

#[test]
fn keys_in_a_softhsm_token_sign_cards_the_gate_accepts() {
    let (_tok, conf) = tuaton_tests::softhsm_token("tuaton")
        .expect("softhsm2-util (apt-get install softhsm2; .ci/run does)");
    let conf_s = conf.display().to_string();
    offer_to_card_at_the_gate(
        &[
            "--pkcs11-module",
            "/usr/lib/softhsm/libsofthsm2.so",
            "--token-label",
            "tuaton",
        ],
        &[
            ("SOFTHSM2_CONF", &conf_s),
            ("TUATON_TOKEN_PIN", tuaton_tests::SOFTHSM_PIN),
        ],
    );
}

#[test]
fn wrong_office_credential_bad_record_and_tampered_offer_issue_nothing() {
    let w = World::new();
    let db = TestDb::new();
    issuer_in(&w, &db, &[], &[]);
    let svc = Service::start(&db.url, &[], &[]);
    let rec = sample_record(&w);
    // A forged credential file.
    std::fs::write(
        w.path("forged.json"),
        r#"{"format":"tuaton-office-credential/1","office":"Bang Rak District","admin":false,"token":"tto-AAAA"}"#,
    )
    .unwrap();
    let r = officer_offer(&w, &svc, "forged.json", &rec, &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("office credential is not accepted"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 2, "{}", r.stderr);
    // A record the service refuses names its field (here: a birth date in the future).
    let mut v: serde_json::Value = serde_json::from_str(sample::RECORDS[0]).unwrap();
    v["birth_date"] = "2090-01-01".into();
    let bad = w.record("bad", &v, sample::PORTRAIT_A);
    let r = officer_offer(&w, &svc, "office.json", &bad, &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("birth_date"), "{}", r.stderr);
    // A tampered offer: refused before anything is sent.
    let (offer, tx) = offer_text(&w, &svc, &rec);
    let mut chars: Vec<char> = offer.chars().collect();
    let i = chars.len() - 5;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    w.new_wallet("wallet");
    let r = w.wallet(
        "wallet",
        &[
            "enroll",
            "--expect-root",
            &root_of(&offer),
            &chars.into_iter().collect::<String>(),
        ],
        &format!("{PIN}\n{tx}\n"),
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("may be fake") || r.stderr.contains("the credential offer"),
        "{}",
        r.stderr
    );
    // An offer pointing at another root than the wallet expects.
    let r = w.wallet(
        "wallet",
        &["enroll", &offer, "--expect-root", &"ab".repeat(32)],
        &format!("{PIN}\n{tx}\n"),
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("not from the issuer"), "{}", r.stderr);
    // Nothing was issued by any of it.
    let iss = PgIssuer::connect(&db.url).unwrap();
    assert_eq!(iss.counts().unwrap().0, 0);

    // Admin endpoints: an office's credential may not publish; the admin's may.
    let token = |f: &str| -> String {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(w.path(f)).unwrap()).unwrap();
        v["token"].as_str().unwrap().to_owned()
    };
    let body = serde_json::json!({"officer": "Director", "valid_days": 3});
    let e = tuaton_issuer::http::post_json::<serde_json::Value>(
        &svc.url,
        "/v1/admin/publish",
        Some(&token("office.json")),
        &body,
    )
    .unwrap_err();
    assert!(
        matches!(e, IssuerError::Service { status: 403, ref code, .. } if code == "not_admin"),
        "{e}"
    );
    let r: serde_json::Value = tuaton_issuer::http::post_json(
        &svc.url,
        "/v1/admin/publish",
        Some(&token("admin.json")),
        &body,
    )
    .unwrap();
    assert_eq!(r["trust_list_version"], 2, "{r}");
    let e = tuaton_issuer::http::post_json::<serde_json::Value>(
        &svc.url,
        "/v1/admin/revoke",
        Some(&token("admin.json")),
        &serde_json::json!({"credential_id": "0011223344556677", "officer": "Director"}),
    )
    .unwrap_err();
    assert!(matches!(e, IssuerError::Service { status: 404, .. }), "{e}");
}

#[test]
fn a_client_that_hangs_up_mid_request_leaves_nothing_behind() {
    let w = World::new();
    let db = TestDb::new();
    issuer_in(&w, &db, &[], &[]);
    let svc = Service::start(&db.url, &[], &[]);
    let addr = svc.url.trim_start_matches("http://").to_owned();
    for path in ["/v1/credential", "/v1/offers"] {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            s,
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{{\"pre_auth"
        )
        .unwrap();
        drop(s);
    }
    // A body over the limit is refused whole.
    let big = format!(
        "{{\"officer\":\"x\",\"record\":{{}},\"portrait\":\"{}\"}}",
        "A".repeat(400_000)
    );
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "POST /v1/offers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tto-x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{big}",
        big.len()
    )
    .ok();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut s, &mut answer).ok();
    assert!(
        answer.starts_with("HTTP/1.1 4"),
        "{}",
        &answer[..answer.len().min(200)]
    );
    // The service still issues, and only what was asked.
    let rec = sample_record(&w);
    let (offer, tx) = offer_text(&w, &svc, &rec);
    w.new_wallet("wallet");
    w.wallet(
        "wallet",
        &["enroll", "--expect-root", &root_of(&offer), &offer],
        &format!("{PIN}\n{tx}\n"),
    )
    .ok();
    let (creds, redeemed, _) = PgIssuer::connect(&db.url).unwrap().counts().unwrap();
    assert_eq!((creds, redeemed), (1, 1));
}

#[test]
fn a_database_that_goes_away_is_a_clear_error() {
    let w = World::new();
    let db = TestDb::new();
    issuer_in(&w, &db, &[], &[]);
    let svc = Service::start(&db.url, &[], &[]);
    let addr = svc.url.trim_start_matches("http://").to_owned();
    assert_eq!(raw_get(&addr, "/readyz", "").0, 200);
    let rec = sample_record(&w);
    db.drop_now();
    let r = officer_offer(&w, &svc, "office.json", &rec, &[]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(r.stderr.contains("database_unavailable"), "{}", r.stderr);
    assert!(r.stderr.contains("nothing was issued"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 2, "{}", r.stderr);
    // A balancer stops sending officers here; the process itself is alive.
    let (status, _, body) = raw_get(&addr, "/readyz", "");
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"], "not_ready", "{v}");
    // Which part, not the server's own words (they name databases and addresses).
    assert_eq!(
        v["message"],
        "the database does not answer; the detail is in the service's log"
    );
    assert_eq!(raw_get(&addr, "/healthz", "").0, 200);
    // No proxy is trusted here: a client's own request id is replaced.
    let (_, head, _) = raw_get(&addr, "/healthz", "X-Request-Id: someone-elses-id\r\n");
    let id = header_of(&head, "x-request-id").unwrap();
    assert!(
        id.len() == 16 && id.bytes().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
}

#[test]
fn operators_see_readiness_metrics_and_each_request_by_its_id() {
    let w = World::new();
    let db = TestDb::new();
    issuer_in(&w, &db, &[], &[]);
    // Loopback is the trusted proxy here: its request ids are kept.
    let svc = Service::start_serving(
        &db.url,
        &[],
        &["--log-format", "json", "--trusted-proxy", "127.0.0.1"],
        &[],
    );
    let addr = svc.url.trim_start_matches("http://").to_owned();
    let metric = |name: &str| -> Option<String> {
        let (status, head, body) = raw_get(&addr, "/metrics", "");
        assert_eq!(status, 200);
        assert!(header_of(&head, "content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4"));
        let text = String::from_utf8(body).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .map(str::to_owned)
    };
    assert_eq!(metric("tuaton_offers_total").as_deref(), Some("0"));

    // One card issued through the service, and one offer asked for with a credential
    // that is no office's.
    enrol(&w, &svc, &sample_record(&w), "wallet");
    let r = tuaton_issuer::http::post_json::<serde_json::Value>(
        &svc.url,
        "/v1/offers",
        Some("tto-not-an-office"),
        &serde_json::json!({}),
    );
    assert!(r.is_err());

    assert_eq!(metric("tuaton_offers_total").as_deref(), Some("1"));
    assert_eq!(metric("tuaton_redemptions_total").as_deref(), Some("1"));
    assert_eq!(
        metric("tuaton_failures_total{code=\"bad_office_credential\"}").as_deref(),
        Some("1")
    );
    // Both offer requests, the refused one too, in the route's latency histogram.
    assert_eq!(
        metric("tuaton_http_request_duration_seconds_count{route=\"/v1/offers\"}").as_deref(),
        Some("2")
    );
    assert_eq!(
        metric("tuaton_http_requests_total{route=\"/v1/offers\",method=\"POST\",status=\"401\"}")
            .as_deref(),
        Some("1")
    );
    assert_eq!(
        metric(
            "tuaton_http_requests_total{route=\"/oid4vci/credential\",method=\"POST\",status=\"200\"}"
        )
        .as_deref(),
        Some("1")
    );
    assert_eq!(
        metric("tuaton_signing_duration_seconds_count").as_deref(),
        Some("1")
    );
    assert!(metric("tuaton_db_pool_connections").is_some());
    assert_eq!(
        metric("tuaton_db_pool_max_connections").as_deref(),
        Some("16")
    );

    // Ready; a proxy's request id is kept, a malformed one replaced.
    let (status, head, _) = raw_get(&addr, "/readyz", "X-Request-Id: gate-7f3a\r\n");
    assert_eq!(status, 200);
    assert_eq!(header_of(&head, "x-request-id"), Some("gate-7f3a"));
    let (_, head, _) = raw_get(&addr, "/healthz", "X-Request-Id: two words\r\n");
    let id = header_of(&head, "x-request-id").unwrap();
    assert!(
        id.len() == 16 && id.bytes().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );

    // One JSON object per line; the answer's line carries the request's id and route.
    let (_, log) = svc.terminate();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let answered = lines
        .iter()
        .find(|v| v["span"]["id"] == "gate-7f3a")
        .unwrap_or_else(|| panic!("no line of request gate-7f3a in:\n{log}"));
    assert_eq!(answered["span"]["route"], "/readyz", "{answered}");
    assert_eq!(answered["fields"]["status"], 200, "{answered}");
    assert!(
        lines
            .iter()
            .any(|v| v["span"]["route"] == "/oid4vci/credential" && v["fields"]["status"] == 200),
        "{log}"
    );
}

// ---- The store's rules, through the library, with many threads at once. ----

/// The library's issuer driven from plain threads (each thread is an office or a wallet).
struct PgIssuer {
    rt: tokio::runtime::Runtime,
    iss: Issuer<PgStore>,
}

impl PgIssuer {
    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }
    fn connect(url: &str) -> Result<PgIssuer, IssuerError> {
        let rt = Self::rt();
        let iss = rt.block_on(async { Issuer::open(PgStore::connect(url, 16).await?).await })?;
        Ok(PgIssuer { rt, iss })
    }
    fn init(url: &str, o: &InitOptions, k: KeySource, now: i64) -> Result<PgIssuer, IssuerError> {
        let rt = Self::rt();
        let iss =
            rt.block_on(async { Issuer::init(PgStore::connect(url, 16).await?, o, k, now).await })?;
        Ok(PgIssuer { rt, iss })
    }
    fn counts(&self) -> Result<(i64, i64, i64), IssuerError> {
        self.rt.block_on(self.iss.counts())
    }
    fn add_office(&self, name: &str, admin: bool, now: i64) -> Result<String, IssuerError> {
        self.rt.block_on(self.iss.add_office(name, admin, now))
    }
    fn revoke_office(&self, name: &str, now: i64) -> Result<u64, IssuerError> {
        self.rt.block_on(self.iss.revoke_office(name, now, None))
    }
    fn authenticate(&self, token: &str) -> Result<Office, IssuerError> {
        self.rt.block_on(self.iss.authenticate(token))
    }
    fn create_offer(
        &self,
        o: &Office,
        service: &str,
        r: &OfferRequest,
        now: i64,
    ) -> Result<offer::OfferResponse, IssuerError> {
        self.rt.block_on(self.iss.create_offer(o, service, r, now))
    }
    fn redeem(
        &self,
        service: &str,
        r: &RedeemRequest,
        now: i64,
    ) -> Result<offer::RedeemResponse, IssuerError> {
        self.rt.block_on(self.iss.redeem(service, r, now))
    }
}

fn pg_issuer(db: &TestDb, list_size: u64) -> Arc<PgIssuer> {
    let mut o = InitOptions::new("DOPA Bangkok");
    o.kdf = KdfParams::insecure_for_tests();
    o.status_list_size = list_size;
    Arc::new(
        PgIssuer::init(
            &db.url,
            &o,
            KeySource::Passphrase(PASSPHRASE.as_bytes().to_vec().into()),
            NOW,
        )
        .unwrap(),
    )
}

const SERVICE: &str = "http://issue.test";

fn make_offer(iss: &PgIssuer, office: &str) -> (Offer, String) {
    let o = iss.authenticate(office).unwrap();
    let r = iss
        .create_offer(
            &o,
            SERVICE,
            &OfferRequest {
                officer: "Malee".into(),
                record: serde_json::from_str(sample::RECORDS[0]).unwrap(),
                portrait: base64::engine::general_purpose::STANDARD.encode(sample::PORTRAIT_A),
            },
            NOW,
        )
        .unwrap();
    (Offer::parse(&r.offer).unwrap(), r.tx_code)
}

fn redeem_req(o: &Offer, tx: &str, holder: &SigningKey) -> RedeemRequest {
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    RedeemRequest {
        pre_authorized_code: b.encode(o.code),
        tx_code: tx.into(),
        holder_key: b.encode(holder.verifying_key().to_bytes()),
        proof: b.encode(offer::prove(holder, o)),
    }
}

#[test]
fn concurrent_offices_never_share_a_status_index() {
    let db = TestDb::new();
    // The smallest lists, 8 entries (full at 7): 48 credentials from 12 redemptions at a
    // time fill seven lists, racing for each list's last places and for each new list.
    // Every redemption succeeds (none is told the store is damaged), and no list is
    // filled past its 90 % mark.
    let iss = pg_issuer(&db, 8);
    let offices: Vec<String> = (0..8)
        .map(|i| iss.add_office(&format!("Office {i}"), false, NOW).unwrap())
        .collect();
    let offers: Vec<(Offer, String)> = (0..48).map(|i| make_offer(&iss, &offices[i % 8])).collect();
    let offers = Arc::new(std::sync::Mutex::new(offers));
    let results: Vec<_> = (0..12)
        .map(|t| {
            let (iss, offers) = (iss.clone(), offers.clone());
            std::thread::spawn(move || {
                let mut out = vec![];
                loop {
                    let Some((o, tx)) = offers.lock().unwrap().pop() else {
                        break;
                    };
                    let k = SigningKey::from_bytes(&[t as u8 + 1; 32]);
                    let r = iss
                        .redeem(SERVICE, &redeem_req(&o, &tx, &k), NOW + 1)
                        .unwrap();
                    out.push(r.credential_id);
                }
                out
            })
        })
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(results.len(), 48);
    assert_eq!(
        results.iter().collect::<HashSet<_>>().len(),
        48,
        "credential id reused"
    );
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let rows = c.query("SELECT list, idx FROM credentials", &[]).unwrap();
    let pairs: HashSet<(i32, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(pairs.len(), 48, "a status index was given twice");
    assert!(pairs.iter().all(|(_, i)| (0..8).contains(i)));
    assert!(
        pairs.iter().map(|p| p.0).max().unwrap() >= 6,
        "lists roll over at 90%"
    );
    for r in c
        .query(
            "SELECT l.list, l.fill, count(c.idx) FROM status_lists l
             LEFT JOIN credentials c ON c.list = l.list GROUP BY l.list, l.fill",
            &[],
        )
        .unwrap()
    {
        let (list, fill, n): (i32, i64, i64) = (r.get(0), r.get(1), r.get(2));
        assert_eq!(fill, n, "list {list}'s count disagrees with its indices");
        assert!(n <= 7, "list {list} holds {n} of 8, past its 90 % mark");
    }
    let audits: i64 = c
        .query_one("SELECT count(*) FROM audit WHERE action = 'issue'", &[])
        .unwrap()
        .get(0);
    assert_eq!(audits, 48);
}

#[test]
fn a_wallet_whose_answer_was_lost_is_told_so_not_that_another_used_its_offer() {
    let db = TestDb::new();
    let iss = pg_issuer(&db, 1 << 12);
    let office = iss.add_office("Bang Rak", false, NOW).unwrap();
    let (o, tx) = make_offer(&iss, &office);
    let (mine, other) = (
        SigningKey::from_bytes(&[1; 32]),
        SigningKey::from_bytes(&[2; 32]),
    );
    let first = iss
        .redeem(SERVICE, &redeem_req(&o, &tx, &mine), NOW + 1)
        .unwrap();
    // The answer was lost: the same wallet asks again and gets the same card.
    let again = iss
        .redeem(SERVICE, &redeem_req(&o, &tx, &mine), NOW + 60)
        .unwrap();
    assert_eq!(first.credential_id, again.credential_id);
    // After the offer's expiry its package is purged (by the next offer made).
    let a = iss.authenticate(&office).unwrap();
    let later = NOW + 3600;
    iss.rt
        .block_on(iss.iss.create_offer(
            &a,
            SERVICE,
            &OfferRequest {
                officer: "Malee".into(),
                record: serde_json::from_str(sample::RECORDS[1]).unwrap(),
                portrait: base64::engine::general_purpose::STANDARD.encode(sample::PORTRAIT_A),
            },
            later,
        ))
        .unwrap();
    let e = iss
        .redeem(SERVICE, &redeem_req(&o, &tx, &mine), later + 1)
        .unwrap_err();
    assert!(matches!(e, IssuerError::RedeliveryOver), "{e}");
    assert!(
        e.to_string().contains("this wallet already redeemed"),
        "{e}"
    );
    let e = iss
        .redeem(SERVICE, &redeem_req(&o, &tx, &other), later + 1)
        .unwrap_err();
    assert!(matches!(e, IssuerError::OfferUsed), "{e}");
}

#[test]
fn one_offer_redeemed_by_ten_wallets_at_once_issues_once() {
    let db = TestDb::new();
    let iss = pg_issuer(&db, 1 << 12);
    let office = iss.add_office("Bang Rak", false, NOW).unwrap();
    let (o, tx) = make_offer(&iss, &office);
    let outcomes: Vec<Result<String, IssuerError>> = (0..10)
        .map(|t| {
            let (iss, o, tx) = (iss.clone(), o.clone(), tx.clone());
            std::thread::spawn(move || {
                let k = SigningKey::from_bytes(&[t as u8 + 1; 32]);
                iss.redeem(SERVICE, &redeem_req(&o, &tx, &k), NOW + 1)
                    .map(|r| r.credential_id)
            })
        })
        .map(|h| h.join().unwrap())
        .collect();
    assert_eq!(outcomes.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(outcomes
        .iter()
        .filter_map(|r| r.as_ref().err())
        .all(|e| matches!(e, IssuerError::OfferUsed)));
    assert_eq!(iss.counts().unwrap().0, 1);
}

#[test]
fn expired_guessed_and_foreign_proof_offers_are_refused() {
    let db = TestDb::new();
    let iss = pg_issuer(&db, 1 << 12);
    let office = iss.add_office("Bang Rak", false, NOW).unwrap();
    let k = SigningKey::from_bytes(&[9; 32]);
    // Expired.
    let (o, tx) = make_offer(&iss, &office);
    let e = iss
        .redeem(SERVICE, &redeem_req(&o, &tx, &k), NOW + OFFER_TTL_SECS)
        .unwrap_err();
    assert!(matches!(e, IssuerError::OfferExpired), "{e}");
    // A proof made for another service (a phishing page relaying the offer).
    let (o, tx) = make_offer(&iss, &office);
    let mut elsewhere = o.clone();
    elsewhere.service = "http://evil.test".into();
    let mut req = redeem_req(&o, &tx, &k);
    req.proof =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(offer::prove(&k, &elsewhere));
    assert!(matches!(
        iss.redeem(SERVICE, &req, NOW + 1).unwrap_err(),
        IssuerError::Core(_)
    ));
    // Guessing the transaction code closes the offer for good.
    let wrong = if tx == "000000" { "111111" } else { "000000" };
    for left in (1..MAX_TX_TRIES).rev() {
        let e = iss
            .redeem(SERVICE, &redeem_req(&o, wrong, &k), NOW + 1)
            .unwrap_err();
        assert!(
            matches!(e, IssuerError::WrongTxCode { left: l } if l == left),
            "{e}"
        );
    }
    let e = iss
        .redeem(SERVICE, &redeem_req(&o, wrong, &k), NOW + 1)
        .unwrap_err();
    assert!(matches!(e, IssuerError::OfferClosed), "{e}");
    let e = iss
        .redeem(SERVICE, &redeem_req(&o, &tx, &k), NOW + 1)
        .unwrap_err();
    assert!(matches!(e, IssuerError::OfferClosed), "{e}");
    // An unknown code.
    let mut o2 = o.clone();
    o2.code = [0; offer::CODE_LEN];
    assert!(matches!(
        iss.redeem(SERVICE, &redeem_req(&o2, &tx, &k), NOW + 1)
            .unwrap_err(),
        IssuerError::UnknownOffer
    ));
    assert_eq!(iss.counts().unwrap().0, 0);
    // A revoked office's credential stops working.
    iss.revoke_office("Bang Rak", NOW).unwrap();
    assert!(matches!(
        iss.authenticate(&office).unwrap_err(),
        IssuerError::BadOfficeCredential
    ));
    // Its name may be used again (the office got a new machine); the old credential
    // stays dead, and a name in use is refused as such.
    let again = iss.add_office("Bang Rak", false, NOW + 10).unwrap();
    assert_eq!(iss.authenticate(&again).unwrap().name, "Bang Rak");
    assert!(iss.authenticate(&office).is_err());
    assert!(matches!(
        iss.add_office("Bang Rak", false, NOW + 20).unwrap_err(),
        IssuerError::OfficeExists(_)
    ));
    assert!(matches!(
        iss.revoke_office("Nowhere", NOW).unwrap_err(),
        IssuerError::NoSuchOffice(_)
    ));
}

// ---- One issuer on PostgreSQL: key compromise, staged rotation, refresh, shutdown. ----

/// The admin's commands on the service's database, through the real binary.
fn admin_cli(db: &TestDb, args: &[&str]) -> tuaton_tests::Run {
    let mut a = vec!["--database", db.url.as_str()];
    a.extend_from_slice(args);
    run(
        "tuaton-issuer",
        &a,
        "",
        &[("TUATON_ISSUER_PASSPHRASE", PASSPHRASE)],
    )
}

/// The admin publishes; the gate syncs from the service's `/bundle/` (pinning `fp` when
/// given) and checks wallet `name`'s presentation: (exit code, verdict).
fn publish_sync_check(
    w: &World,
    db: &TestDb,
    svc: &Service,
    fp: Option<&str>,
    name: &str,
) -> (i32, serde_json::Value) {
    admin_cli(db, &["publish", "--out", &w.p("bundle")]).ok();
    let bundle = format!("{}/bundle/", svc.url);
    let mut args = vec!["sync", bundle.as_str()];
    if let Some(fp) = fp {
        args.extend(["--expect-root", fp]);
    }
    w.gate(&args).ok();
    w.check(&w.present(name))
}

fn json_of(r: tuaton_tests::Run) -> serde_json::Value {
    serde_json::from_str(r.ok().trim()).expect("JSON output")
}

fn enrol(w: &World, svc: &Service, rec: &str, wallet: &str) -> String {
    enrol_with(w, svc, rec, wallet, &[])
}

/// [`enrol`] of a wallet made with more `init` arguments (`--key-type p256`).
fn enrol_with(w: &World, svc: &Service, rec: &str, wallet: &str, init: &[&str]) -> String {
    let (offer, tx) = offer_text(w, svc, rec);
    w.new_wallet_with(wallet, init);
    let r = w.wallet(
        wallet,
        &[
            "--json",
            "enroll",
            "--expect-root",
            &root_of(&offer),
            &offer,
        ],
        &format!("{PIN}\n{tx}\n"),
    );
    assert_eq!(r.code, 0, "enrolment of {wallet} failed: {}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    v["credential_id"].as_str().unwrap().to_owned()
}

#[test]
fn a_stolen_key_is_answered_online_and_enrolment_works_at_every_moment() {
    let w = World::new();
    let db = TestDb::new();
    // Three cards of one citizen stay valid together here (no limit per citizen).
    let fp = issuer_with(&w, &db, &[], &[], &["--cards-per-citizen", "0"]);
    let svc = Service::start_serving(&db.url, &[], &["--max-connections", "3"], &[]);
    let rec = sample_record(&w);
    let bundle = format!("{}/bundle/", svc.url);
    let id_a = enrol(&w, &svc, &rec, "a");
    let old = json_of(admin_cli(&db, &["--json", "keys"]))["keys"][0]["kid"]
        .as_str()
        .unwrap()
        .to_owned();

    // Rotate while the service runs: the new key is staged, enrolment goes on with the
    // key the published bundle names (before, every enrolment failed until a publish).
    let r = json_of(admin_cli(&db, &["--json", "rotate"]));
    assert_eq!(r["state"], "staged", "{r}");
    let new = r["kid"].as_str().unwrap().to_owned();
    enrol(&w, &svc, &rec, "b");
    // The stolen key is revoked: the staged key takes over at once. Publish.
    let e = admin_cli(&db, &["revoke-key", "00ff"]);
    assert!(
        e.code == 2 && e.stderr.contains("no signing key"),
        "{}",
        e.stderr
    );
    json_of(admin_cli(&db, &["--json", "revoke-key", &old]));
    let p = json_of(admin_cli(
        &db,
        &["--json", "publish", "--out", &w.p("bundle")],
    ));
    assert_eq!(p["trust_list_version"], 2, "{p}");
    let keys = json_of(admin_cli(&db, &["--json", "keys"]));
    assert_eq!(keys["keys"][0]["state"], "revoked", "{keys}");
    assert_eq!(keys["keys"][1]["state"], "active", "{keys}");
    enrol(&w, &svc, &rec, "c");

    // The gate voids what the stolen key signed.
    w.gate(&["sync", &bundle, "--expect-root", &fp]).ok();
    let (code, v) = w.check(&w.present("a"));
    assert_eq!(code, 1, "{v}");
    assert!(
        v["reasons"].to_string().contains("issuer_key_revoked"),
        "{v}"
    );
    let (code, v) = w.check(&w.present("c"));
    assert_eq!((code, v["kid"].as_str()), (0, Some(new.as_str())), "{v}");

    // Wallet A renews online, no office visit: the same card, the new key.
    let r = w.wallet(
        "a",
        &[
            "--json",
            "refresh",
            "--service",
            &svc.url,
            "--expect-root",
            &fp,
        ],
        &format!("{PIN}\n"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["credential_id"], id_a.as_str());
    assert_eq!(v["kid"], new.as_str());
    let (code, v) = w.check(&w.present("a"));
    assert_eq!(code, 0, "{v}");

    // The root rotates on the database too; the gate follows the chain.
    let r = json_of(admin_cli(&db, &["--json", "rotate-root"]));
    assert_eq!(r["root_version"], 2, "{r}");
    admin_cli(&db, &["publish", "--out", &w.p("bundle")]).ok();
    w.gate(&["sync", &bundle]).ok();
    assert_eq!(w.check(&w.present("a")).0, 0);
    // The wallet that holds a card enrols again after the root rotation: it trusts the
    // root remembered with its card, and the new offer's root is in that chain.
    let (offer, tx) = offer_text(&w, &svc, &rec);
    let r = w.wallet("a", &["enroll", &offer], &format!("{PIN}\n{tx}\n"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(w.check(&w.present("a")).0, 0);

    // A lost phone: every card of the citizen, found by ID, revoked; refresh refused.
    let id = serde_json::from_str::<serde_json::Value>(sample::RECORDS[0]).unwrap()["citizen_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = json_of(admin_cli(&db, &["--json", "revoke", "--citizen", &id]));
    assert_eq!(r["revoked"].as_array().unwrap().len(), 4, "{r}");
    admin_cli(&db, &["publish", "--out", &w.p("bundle")]).ok();
    w.gate(&["sync", &bundle]).ok();
    let (code, v) = w.check(&w.present("a"));
    assert_eq!(code, 1, "{v}");
    assert!(
        v["reasons"].to_string().contains("credential_revoked"),
        "{v}"
    );
    let new_fp = json_of(admin_cli(&db, &["--json", "keys"]))["root_fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = w.wallet(
        "a",
        &["refresh", "--service", &svc.url, "--expect-root", &new_fp],
        &format!("{PIN}\n"),
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("revoked"), "{}", r.stderr);

    // The audit names each step.
    let audit = json_of(admin_cli(&db, &["--json", "audit"]));
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    for a in [
        "rotate",
        "revoke-key",
        "activate",
        "rotate-root",
        "refresh",
        "revoke",
    ] {
        assert!(actions.contains(&a), "{a} not in {actions:?}");
    }

    // This instance never held more than its --max-connections.
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_stat_activity
             WHERE application_name = 'tuaton-issuer' AND datname = current_database()",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(n <= 3, "{n} connections");
    drop(c);

    // SIGTERM stops it cleanly: exit 0, no panic.
    let (code, log) = svc.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(!log.contains("panic"), "{log}");
}

#[test]
fn a_database_restored_from_a_dump_reuses_no_index_or_version() {
    let w = World::new();
    let db = TestDb::new();
    let fp = issuer_in(&w, &db, &[], &[]);
    let svc = Service::start(&db.url, &[], &[]);
    let rec = sample_record(&w);
    enrol(&w, &svc, &rec, "a");
    // The documented procedure (docs/ISSUANCE.md): a dump in custom format ...
    let dump = w.path("issuer.dump");
    let st = std::process::Command::new("pg_dump")
        .args(["--format=custom", "--file"])
        .arg(&dump)
        .arg(&db.url)
        .status()
        .expect("pg_dump runs");
    assert!(st.success());
    // ... the service goes on: another card, another publish ...
    let lost = enrol(&w, &svc, &rec, "b");
    admin_cli(&db, &["publish", "--out", &w.p("bundle")]).ok();
    w.gate(&[
        "sync",
        &format!("{}/bundle/", svc.url),
        "--expect-root",
        &fp,
    ])
    .ok();
    drop(svc);
    // ... the database is lost and restored from the dump into a new one ...
    let restored = TestDb::new();
    let st = std::process::Command::new("pg_restore")
        .args(["--no-owner", "--dbname", &restored.url])
        .arg(&dump)
        .status()
        .expect("pg_restore runs");
    assert!(st.success());
    let keys = json_of(admin_cli(&restored, &["--json", "keys"]));
    assert_eq!(keys["root_fingerprint"], fp.as_str(), "the same root");
    // ... and `resume` before it serves again.
    admin_cli(&restored, &["resume"]).ok();
    let svc = Service::start(&restored.url, &[], &[]);
    let again = enrol(&w, &svc, &rec, "c");
    assert_ne!(again, lost);
    let p = json_of(admin_cli(
        &restored,
        &["--json", "publish", "--out", &w.p("bundle")],
    ));
    // The gate, which saw the lost tail's publish, takes the new bundle: newer version.
    w.gate(&["sync", &format!("{}/bundle/", svc.url)]).ok();
    assert!(p["trust_list_version"].as_u64().unwrap() > 2, "{p}");
    assert_eq!(w.check(&w.present("c")).0, 0);
    // No status index of the lost tail is handed out again: c is in a new list, past the
    // margin of lists the tail might have opened.
    let mut c = postgres::Client::connect(&restored.url, postgres::NoTls).unwrap();
    let lists: Vec<i32> = c
        .query("SELECT list FROM credentials ORDER BY issued_at, list", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let margin = tuaton_issuer::RESTORE_LIST_MARGIN as i32;
    assert_eq!(lists, [0, margin + 1], "{lists:?}");
}

// ---- Enrolment no one can hijack. ----

#[test]
fn attack_a_relayed_offer_is_refused_before_the_code_is_asked() {
    let w = World::new();
    let db = TestDb::new();
    issuer_in(&w, &db, &[], &[]);
    let svc = Service::start(&db.url, &[], &[]);
    let rec = sample_record(&w);
    let (offer, tx) = offer_text(&w, &svc, &rec);
    // The relay re-wraps the same code and root with its own address; here it reaches
    // the real service under another name, which serves the real bundle (as a proxy
    // would), so every bundle check passes.
    let mut relayed = Offer::parse(&offer).unwrap();
    relayed.service = svc.url.replace("127.0.0.1", "localhost");
    w.new_wallet("victim");
    // In either spelling: the standard offer, or the compact one.
    for text in [relayed.to_oid4vci(), relayed.to_text()] {
        let r = w.wallet(
            "victim",
            &["enroll", "--expect-root", &root_of(&offer), &text],
            &format!("{PIN}\n{tx}\n"),
        );
        assert_eq!(r.code, 2, "{}", r.stdout);
        assert!(r.stderr.contains("may be fake"), "{}", r.stderr);
        assert!(
            r.stderr.contains("do not type the transaction code"),
            "{}",
            r.stderr
        );
        assert_eq!(r.stderr.lines().count(), 2, "{}", r.stderr);
    }
    // A wallet that trusts no issuer yet takes no offer's word for its root: a relay
    // could sign offers with a root of its own.
    w.new_wallet("fresh");
    let r = w.wallet("fresh", &["enroll", &offer], &format!("{PIN}\n{tx}\n"));
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(r.stderr.contains("trusts no issuer yet"), "{}", r.stderr);
    assert!(r.stderr.contains("--expect-root"), "{}", r.stderr);
    // The offer is untouched: the citizen can still take the card from the real screen.
    let got = w
        .wallet(
            "victim",
            &["enroll", "--expect-root", &root_of(&offer), &offer],
            &format!("{PIN}\n{tx}\n"),
        )
        .ok();
    assert!(got.contains("Enrolled"), "{got}");
}

#[test]
fn attack_an_offer_from_another_issuer_never_silently_replaces_a_card() {
    let w = World::new();
    let (db, other_db) = (TestDb::new(), TestDb::new());
    issuer_in(&w, &db, &[], &[]);
    let svc = Service::start(&db.url, &[], &[]);
    let rec = sample_record(&w);
    let (offer, tx) = offer_text(&w, &svc, &rec);
    w.new_wallet("wallet");
    w.wallet(
        "wallet",
        &["enroll", "--expect-root", &root_of(&offer), &offer],
        &format!("{PIN}\n{tx}\n"),
    )
    .ok();
    let before = w
        .wallet("wallet", &["--json", "show"], &format!("{PIN}\n"))
        .ok();
    // Another issuer (its own root, properly signed offers) offers a card.
    let w2 = World::new();
    issuer_in(&w2, &other_db, &[], &[]);
    let evil = Service::start(&other_db.url, &[], &[]);
    let rec2 = sample_record(&w2);
    let (offer2, tx2) = offer_text(&w2, &evil, &rec2);
    let r = w.wallet(
        "wallet",
        &["enroll", "--expect-root", &root_of(&offer2), &offer2],
        &format!("{PIN}\n{tx2}\n"),
    );
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr.contains("this wallet holds a card from"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--replace-card"), "{}", r.stderr);
    // ... the card is the same, and the other issuer issued nothing.
    let after = w
        .wallet("wallet", &["--json", "show"], &format!("{PIN}\n"))
        .ok();
    assert_eq!(before, after);
    assert_eq!(
        PgIssuer::connect(&other_db.url)
            .unwrap()
            .counts()
            .unwrap()
            .0,
        0
    );
    // Replacing on purpose needs the option and a typed confirmation naming both.
    let r = w.wallet(
        "wallet",
        &[
            "enroll",
            "--replace-card",
            "--expect-root",
            &root_of(&offer2),
            &offer2,
        ],
        &format!("{PIN}\nyes\n{tx2}\n"),
    );
    assert_eq!(r.code, 2, "{}", r.stdout);
    let r = w.wallet(
        "wallet",
        &[
            "enroll",
            "--replace-card",
            "--expect-root",
            &root_of(&offer2),
            &offer2,
        ],
        &format!("{PIN}\nREPLACE\n{tx2}\n"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("Enrolled"), "{}", r.stdout);
}

#[test]
fn a_compromised_office_is_cut_off_with_what_it_issued() {
    let w = World::new();
    let db = TestDb::new();
    let fp = issuer_in(&w, &db, &[], &[]);
    let svc = Service::start(&db.url, &[], &[]);
    let rec = sample_record(&w);
    enrol(&w, &svc, &rec, "a");
    // An offer made, not yet redeemed, when the office is found compromised.
    let (pending, tx) = offer_text(&w, &svc, &rec);
    let r = json_of(admin_cli(
        &db,
        &[
            "--json",
            "office",
            "revoke",
            "Bang Rak District",
            "--revoke-issued-since",
            "2020-01-01T00:00:00Z",
        ],
    ));
    assert_eq!(r["cards_revoked"], 1, "{r}");
    // Its open offer no longer redeems ...
    w.new_wallet("b");
    let e = w.wallet(
        "b",
        &["enroll", "--expect-root", &root_of(&pending), &pending],
        &format!("{PIN}\n{tx}\n"),
    );
    assert_eq!(e.code, 2);
    assert!(e.stderr.contains("closed"), "{}", e.stderr);
    // ... and the card it issued is void at the gate after a publish.
    let (code, v) = publish_sync_check(&w, &db, &svc, Some(&fp), "a");
    assert_eq!(code, 1, "{v}");
    assert!(
        v["reasons"].to_string().contains("credential_revoked"),
        "{v}"
    );
    // The name can be given to a new credential.
    admin_cli(
        &db,
        &[
            "office",
            "add",
            "Bang Rak District",
            "--out",
            &w.p("office2.json"),
        ],
    )
    .ok();
}

#[test]
fn attack_two_thousand_half_open_connections_leave_the_service_answering() {
    use std::io::{Read, Write};
    // This process needs 2,000 sockets too.
    let lim = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: lim.maximum,
            maximum: lim.maximum,
        },
    )
    .ok();
    let w = World::new();
    let db = TestDb::new();
    issuer_in(&w, &db, &[], &[]);
    let svc = Service::start(&db.url, &[], &[]);
    let addr = svc.url.trim_start_matches("http://").to_owned();
    // A slowloris client: 2,000 requests whose headers never end.
    let held: Vec<std::net::TcpStream> = (0..2000)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            s.write_all(b"POST /v1/credential HTTP/1.1\r\nHost: x\r\nContent-Le")
                .unwrap();
            s
        })
        .collect();
    let t = std::time::Instant::now();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let took = t.elapsed();
    eprintln!("/healthz with 2000 half-open connections: {took:?}");
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"),
        "{answer}"
    );
    assert!(took < std::time::Duration::from_secs(1), "{took:?}");
    // The stalled connections are closed once their header time is up.
    std::thread::sleep(tuaton_issuer::http::HEADER_TIMEOUT + std::time::Duration::from_secs(2));
    let mut first = &held[0];
    first
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 256];
    match first.read(&mut buf) {
        // Closed, or told why first.
        Ok(0) => {}
        Ok(n) => assert!(
            String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"),
            "{}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(e) => panic!("a stalled connection is still open after the header timeout: {e}"),
    }
}

#[test]
fn redemptions_from_one_address_are_rate_limited() {
    let w = World::new();
    let db = TestDb::new();
    issuer_in(&w, &db, &[], &[]);
    let svc = Service::start_serving(&db.url, &[], &["--redeem-rate", "2"], &[]);
    let req = serde_json::json!({"pre_authorized_code": "AAAA", "tx_code": "000000", "holder_key": "AAAA", "proof": "AAAA"});
    let codes: Vec<String> = (0..12)
        .map(|_| {
            match tuaton_issuer::http::post_json::<serde_json::Value>(
                &svc.url,
                "/v1/credential",
                None,
                &req,
            ) {
                Err(IssuerError::Service { code, .. }) => code,
                other => panic!("{other:?}"),
            }
        })
        .collect();
    // A burst of 6 (three times the rate) answered, then slowed.
    assert_eq!(
        codes.iter().filter(|c| *c == "bad_request").count(),
        6,
        "{codes:?}"
    );
    assert!(codes[6..].iter().all(|c| c == "rate_limited"), "{codes:?}");
}

#[test]
fn re_enrolment_on_a_new_phone_revokes_the_old_phones_card() {
    let w = World::new();
    let db = TestDb::new();
    let fp = issuer_in(&w, &db, &[], &[]);
    let svc = Service::start(&db.url, &[], &[]);
    let rec = sample_record(&w);
    let old = enrol(&w, &svc, &rec, "old-phone");
    let new = enrol(&w, &svc, &rec, "new-phone");
    let (code, v) = publish_sync_check(&w, &db, &svc, Some(&fp), "old-phone");
    assert_eq!(code, 1, "{v}");
    assert!(
        v["reasons"].to_string().contains("credential_revoked"),
        "{v}"
    );
    assert_eq!(w.check(&w.present("new-phone")).0, 0);
    let audit = json_of(admin_cli(&db, &["--json", "audit"]));
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "supersede"
                && a["detail"].as_str().unwrap().starts_with(&old)
                && a["detail"].as_str().unwrap().ends_with(&new)),
        "{audit}"
    );
}

#[test]
fn behind_a_trusted_proxy_each_client_has_its_own_rate() {
    use std::io::{Read, Write};
    let w = World::new();
    let db = TestDb::new();
    issuer_in(&w, &db, &[], &[]);
    let svc = Service::start_serving(
        &db.url,
        &[],
        &["--redeem-rate", "1", "--trusted-proxy", "127.0.0.1"],
        &[],
    );
    let addr = svc.url.trim_start_matches("http://").to_owned();
    // What the proxy forwards: the client's own header (which it may forge) and, last,
    // the address the proxy saw.
    let post = |client: &str| -> String {
        let body = r#"{"pre_authorized_code":"AAAA","tx_code":"000000","holder_key":"AAAA","proof":"AAAA"}"#;
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            s,
            "POST /v1/credential HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nX-Forwarded-For: 203.0.113.9, {client}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer
    };
    // A burst of three for one client, then slowed ...
    let first: Vec<String> = (0..4).map(|_| post("198.51.100.1")).collect();
    assert!(
        first[..3].iter().all(|a| a.contains("bad_request")),
        "{first:?}"
    );
    assert!(first[3].contains("rate_limited"), "{}", first[3]);
    // ... while another client behind the same proxy is not.
    let other = post("198.51.100.2");
    assert!(other.contains("bad_request"), "{other}");
}

/// One GET over a fresh connection: (status, headers in lower case, body).
fn raw_get(addr: &str, path: &str, extra: &str) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut all = vec![];
    s.read_to_end(&mut all).unwrap();
    let split = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&all[..split]).to_lowercase();
    let status = head[9..12].parse().unwrap();
    (status, head, all[split + 4..].to_vec())
}

fn header_of<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .map(str::trim)
}

#[test]
fn the_bundle_is_served_from_memory_with_cache_headers_and_follows_a_publish() {
    let w = World::new();
    let db = TestDb::new();
    issuer_in(&w, &db, &[], &[]);
    admin_cli(&db, &["publish", "--out", &w.p("bundle")]).ok();
    let svc = Service::start(&db.url, &[], &[]);
    let addr = svc.url.trim_start_matches("http://").to_owned();
    let (st, head, index) = raw_get(&addr, "/bundle/index.json", "");
    assert_eq!(st, 200, "{head}");
    assert_eq!(
        header_of(&head, "cache-control"),
        Some("public, max-age=60")
    );
    let etag = header_of(&head, "etag").expect("an etag").to_owned();
    // Revalidation: nothing sent again while it has not changed.
    let (st, _, body) = raw_get(
        &addr,
        "/bundle/index.json",
        &format!("If-None-Match: {etag}\r\n"),
    );
    assert_eq!((st, body.len()), (304, 0));
    // Behind a proxy that weakens tags, and for `*`, the same (RFC 9110, 13.1.2).
    for tag in [format!("W/{etag}"), "*".into()] {
        let (st, _, _) = raw_get(
            &addr,
            "/bundle/index.json",
            &format!("If-None-Match: {tag}\r\n"),
        );
        assert_eq!(st, 304, "{tag}");
    }
    // A named file never changes under its name.
    let idx: serde_json::Value = serde_json::from_slice(&index).unwrap();
    let tl = idx["trust_list"].as_str().unwrap();
    let (st, head, body) = raw_get(&addr, &format!("/bundle/{tl}"), "");
    assert_eq!(st, 200);
    assert!(!body.is_empty());
    assert_eq!(
        header_of(&head, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(raw_get(&addr, "/bundle/nothing/here.json", "").0, 404);
    // A second instance behind the same balancer, which has served the old index.
    let other = Service::start(&db.url, &[], &[]);
    let other_addr = other.url.trim_start_matches("http://").to_owned();
    assert_eq!(raw_get(&other_addr, "/bundle/index.json", "").0, 200);
    // A publish from another process (the admin's command line) is served at the next
    // index.json: a new generation, a new etag, and its files.
    admin_cli(&db, &["rotate"]).ok();
    admin_cli(&db, &["publish", "--out", &w.p("bundle2")]).ok();
    let (st, head, index2) = raw_get(
        &addr,
        "/bundle/index.json",
        &format!("If-None-Match: {etag}\r\n"),
    );
    assert_eq!(st, 200, "the old etag no longer matches");
    assert_ne!(header_of(&head, "etag").unwrap(), etag);
    let idx2: serde_json::Value = serde_json::from_slice(&index2).unwrap();
    assert!(idx2["trust_list_version"].as_u64() > idx["trust_list_version"].as_u64());
    let tl2 = idx2["trust_list"].as_str().unwrap();
    assert_eq!(raw_get(&addr, &format!("/bundle/{tl2}"), "").0, 200);
    // The other instance is asked for a file of the new index before its own index: it
    // looks for the newer generation instead of answering 404.
    assert_eq!(raw_get(&other_addr, &format!("/bundle/{tl2}"), "").0, 200);
    // And a gate syncs from it.
    let fp = json_of(admin_cli(&db, &["--json", "keys"]))["root_fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    w.gate(&[
        "sync",
        &format!("{}/bundle/", svc.url),
        "--expect-root",
        &fp,
    ])
    .ok();
}

#[test]
fn a_p256_wallet_enrols_through_the_service_and_renews_online_after_a_key_is_revoked() {
    let w = World::new();
    let db = TestDb::new();
    let fp = issuer_in(&w, &db, &[], &[]);
    let svc = Service::start(&db.url, &[], &[]);
    let bundle = format!("{}/bundle/", svc.url);
    let id = enrol_with(
        &w,
        &svc,
        &sample_record(&w),
        "phone",
        &["--key-type", "p256"],
    );
    let (code, v) = publish_sync_check(&w, &db, &svc, Some(&fp), "phone");
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["credential_id"], id.as_str());

    // The key that signed it is revoked (stolen); the phone renews online, proving its
    // P-256 key, and the gate takes the renewed card.
    let old = json_of(admin_cli(&db, &["--json", "keys"]))["keys"][0]["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    json_of(admin_cli(&db, &["--json", "rotate"]));
    json_of(admin_cli(&db, &["--json", "revoke-key", &old]));
    let (code, v) = publish_sync_check(&w, &db, &svc, Some(&fp), "phone");
    assert_eq!(code, 1, "{v}");
    let r = w.wallet(
        "phone",
        &[
            "--json",
            "refresh",
            "--service",
            &svc.url,
            "--expect-root",
            &fp,
        ],
        &format!("{PIN}\n"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    w.gate(&["sync", &bundle, "--expect-root", &fp]).ok();
    let (code, v) = w.check(&w.present("phone"));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["credential_id"], id.as_str());

    // A redemption whose proof is by another key than the one it names: refused.
    let (offer, tx) = offer_text(&w, &svc, &sample_record(&w));
    let o = Offer::parse(&offer).unwrap();
    let phone = p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).unwrap();
    let other = p256::ecdsa::SigningKey::from_slice(&[0x43; 32]).unwrap();
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use tuaton_common::holder::HolderSigner;
    let r = tuaton_issuer::http::post_json::<serde_json::Value>(
        &svc.url,
        "/v1/credential",
        None,
        &RedeemRequest {
            pre_authorized_code: b.encode(o.code),
            tx_code: tx,
            holder_key: b.encode(phone.holder_key().as_bytes()),
            proof: b.encode(offer::prove(&other, &o)),
        },
    );
    let e = r.unwrap_err().to_string();
    assert!(e.contains("proof of possession does not verify"), "{e}");
}
