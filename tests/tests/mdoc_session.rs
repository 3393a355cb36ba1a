//! The wallet as an ISO 18013-5 mdoc, through the real binary over the socket transport:
//! `engage --iso` shows an `mdoc:` engagement, and a reader (played here by the 18013-5
//! reader of `tuaton_common::mdoc_session`, over a real TCP socket) establishes the
//! session, asks with reader authentication, and verifies the DeviceResponse against the
//! bundle's IACA. A reader that does not prove who it is, or asks beyond its certificate,
//! gets nothing unless the citizen overrides.
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tuaton_common::link::{recv_message, send_message};
use tuaton_common::mdoc::{self, x509, Iaca, Request, Verified, NS_ISO, NS_TH};
use tuaton_common::mdoc_session::{Engagement, ReaderSession, ReaderSigner, MAX_MESSAGE};
use tuaton_common::sample;
use tuaton_tests::*;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn subject(cn: &str) -> x509::Subject<'_> {
    x509::Subject {
        country: "TH",
        common_name: cn,
        authority_url: "https://tuaton.invalid",
        crl_url: "https://tuaton.invalid/bundle/ca.crl",
    }
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

/// An airport's reader CA (its PEM written to `reader-ca.pem`) and one gate's reader
/// certificate allowing the flight elements.
fn reader(w: &World) -> ReaderSigner {
    let ca_key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let ca = x509::reader_ca(
        &ca_key,
        &subject("AOT reader CA"),
        1,
        now() - 60,
        now() + 86_400,
    )
    .unwrap();
    std::fs::write(w.path("reader-ca.pem"), x509::pem(&ca)).unwrap();
    let key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let certificate = x509::reader_certificate(
        &ca_key,
        &ca,
        key.verifying_key(),
        &subject("BKK gate 12"),
        7,
        now() - 60,
        now() + 3600,
        &flight(),
    )
    .unwrap();
    ReaderSigner { key, certificate }
}

fn world() -> World {
    let w = World::new();
    w.issuer(&["init", "--name", "DOPA Bangkok"]).ok();
    let v: serde_json::Value = serde_json::from_str(sample::RECORDS[0]).unwrap();
    let rec = w.record("somchai", &v, sample::PORTRAIT_A);
    w.enroll_with("wallet", &rec, &["--key-type", "p256"]);
    w
}

/// `engage --iso` with `extra` flags; returns the process, the `mdoc:` text and the
/// socket address.
fn engage(w: &World, extra: &[&str]) -> (Child, String, String) {
    let mut c = Command::new(bin("tuaton-wallet"))
        .args(["--home", &w.p("wallet"), "--pin-stdin", "engage", "--iso"])
        .args(["--transport", "socket:127.0.0.1:0", "--text"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all(format!("{PIN}\n").as_bytes())
        .unwrap();
    let mut lines = BufReader::new(c.stdout.take().unwrap()).lines();
    let uri = lines.next().unwrap().unwrap();
    let addr = lines.next().unwrap().unwrap();
    let addr = addr.strip_prefix("socket:").unwrap().to_owned();
    (c, uri, addr)
}

fn iacas(w: &World) -> Vec<Iaca> {
    let pem = std::fs::read_to_string(w.path("bundle/iaca.pem")).unwrap();
    x509::from_pem(&pem)
        .unwrap()
        .iter()
        .map(|d| Iaca::from_der(d).unwrap())
        .collect()
}

/// Plays the reader: one session, `request` asked by `signer`; the verdict and the
/// process's exit code and standard error.
fn read(
    w: &World,
    extra: &[&str],
    request: &Request,
    signer: Option<&ReaderSigner>,
) -> (tuaton_common::Result<Verified>, i32, String) {
    let (c, uri, addr) = engage(w, extra);
    let engagement = Engagement::parse(&uri).unwrap();
    let e_reader = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let (mut session, establishment) =
        ReaderSession::start(&engagement, &e_reader, mdoc::DOC_TYPE, request, signer).unwrap();
    let stream = TcpStream::connect(&addr).unwrap();
    let mut link = tuaton_cli::socket::socket_link(
        stream,
        Duration::from_secs(20),
        Some(Duration::from_secs(30)),
    );
    send_message(&mut link, &establishment).unwrap();
    let answer = recv_message(&mut link, MAX_MESSAGE).unwrap();
    let verdict = session.finish(&answer, &iacas(w), now());
    let out = c.wait_with_output().unwrap();
    (
        verdict,
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_authenticated_reader_gets_the_flight_elements_and_verifies_them() {
    let w = world();
    let r = reader(&w);
    let ca = w.p("reader-ca.pem");
    let (verdict, code, err) = read(&w, &["--reader-ca", &ca], &flight(), Some(&r));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("Verified reader") && err.contains("BKK gate 12"),
        "{err}"
    );
    let v = verdict.unwrap();
    let ids: Vec<_> = v.elements.keys().map(|(_, id)| id.as_str()).collect();
    assert_eq!(ids, ["family_name", "given_name", "portrait"]);
    assert_eq!(
        v.elements[&(NS_ISO.to_owned(), "portrait".to_owned())],
        ciborium::Value::Bytes(sample::PORTRAIT_A.to_vec())
    );
}

#[test]
fn attack_an_unauthenticated_reader_gets_nothing() {
    let w = world();
    reader(&w);
    let ca = w.p("reader-ca.pem");
    let (verdict, code, err) = read(&w, &["--reader-ca", &ca], &flight(), None);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("did not prove who it is"), "{err}");
    assert!(
        matches!(
            verdict,
            Err(tuaton_common::Error::Mdoc(
                tuaton_common::error::MdocError::Declined(20)
            ))
        ),
        "{verdict:?}"
    );
}

#[test]
fn attack_a_reader_asking_beyond_its_certificate_gets_nothing() {
    let w = world();
    let r = reader(&w);
    let ca = w.p("reader-ca.pem");
    let mut more = flight();
    more.insert(NS_TH.to_owned(), vec!["address".to_owned()]);
    let (verdict, code, err) = read(&w, &["--reader-ca", &ca], &more, Some(&r));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("more than its certificate allows: address"),
        "{err}"
    );
    assert!(verdict.is_err());
}

#[test]
fn attack_a_reader_certified_by_an_untrusted_ca_gets_nothing() {
    let w = world();
    let r = reader(&w);
    // The wallet trusts another CA than the one that certified this reader.
    let other = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let ca = x509::reader_ca(
        &other,
        &subject("AOT reader CA"),
        1,
        now() - 60,
        now() + 86_400,
    )
    .unwrap();
    std::fs::write(w.path("other-ca.pem"), x509::pem(&ca)).unwrap();
    let (verdict, code, err) = read(
        &w,
        &["--reader-ca", &w.p("other-ca.pem")],
        &flight(),
        Some(&r),
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("not certified by a trusted reader CA"),
        "{err}"
    );
    assert!(verdict.is_err());
}

#[test]
fn the_citizen_may_override_and_answer_an_unverified_reader() {
    let w = world();
    let (verdict, code, err) = read(&w, &["--allow-unverified-reader"], &flight(), None);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("AN UNVERIFIED READER"), "{err}");
    assert_eq!(verdict.unwrap().elements.len(), 3);
}

#[test]
fn the_issuer_certifies_a_gate_as_a_reader_and_wallets_take_its_ca_from_the_bundle() {
    let w = world();
    let key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let public = hex::encode(key.verifying_key().to_encoded_point(true).as_bytes());
    let allow = "org.iso.23220.1/given_name,org.iso.23220.1/family_name,org.iso.23220.1/portrait";
    let r = w.issuer(&[
        "reader-cert",
        "--public-key",
        &public,
        "--name",
        "BKK gate 12",
        "--allow",
        allow,
        "--days",
        "7",
        "--out",
        &w.p("gate12.pem"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    w.publish();
    let pem = std::fs::read_to_string(w.path("gate12.pem")).unwrap();
    let certificate = x509::from_pem(&pem).unwrap().remove(0);
    let signer = ReaderSigner { key, certificate };
    let ca = w.p("bundle/reader-ca.pem");
    let (verdict, code, err) = read(&w, &["--reader-ca", &ca], &flight(), Some(&signer));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("BKK gate 12"), "{err}");
    assert_eq!(verdict.unwrap().elements.len(), 3);

    // Reader certificates are short-lived, and name what they allow.
    for (args, want) in [
        (
            vec!["--days", "31", "--allow", allow],
            "--days must be 1 to 30",
        ),
        (vec!["--allow", "given_name"], "is not NAMESPACE/ELEMENT"),
        (
            vec!["--allow", "org.iso.23220.1/a b"],
            "is not a namespace and element identifier",
        ),
    ] {
        let mut a = vec!["reader-cert", "--public-key", &public, "--name", "x"];
        a.extend(args);
        let r = w.issuer(&a);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains(want), "{}", r.stderr);
    }
    let r = w.issuer(&[
        "reader-cert",
        "--public-key",
        "02abcd",
        "--name",
        "x",
        "--allow",
        allow,
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("not a P-256 public key"), "{}", r.stderr);
}
