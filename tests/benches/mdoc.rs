//! ISO 18013-5 figures, one run: the `mdoc:` engagement's size and QR version; the bytes
//! and round trips of a whole exchange for the flight elements and for every element; the
//! CPU time of the whole exchange (both ends) against the floor of its public-key
//! operations alone (five ES256 verifications: the IACA's signature on the document signer,
//! the MSO, the device signature, the reader CA's on the reader certificate, the reader's;
//! two ES256 signatures; two ephemeral keys made; two ECDH); and the reader's time from the
//! engagement to the verdict over a loopback socket, the wallet's half in another thread.
//! Run: `cargo bench -p tuaton-tests --bench mdoc`.

use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};
use tuaton_common::holder::HolderSigner as _;
use tuaton_common::link::{recv_message, send_message};
use tuaton_common::mdoc::{self, x509, Iaca, InMemorySigner, Request, Validity, NS_ISO};
use tuaton_common::mdoc_session::{
    DeviceSession, Engagement, ReaderSession, ReaderSigner, MAX_MESSAGE,
};
use tuaton_common::model::AgeClaims;

const NOW: i64 = 1_796_342_400;
const DAY: i64 = 86_400;

fn key(seed: u8) -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap()
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

fn world(allowed: &Request) -> World {
    let iaca_key = key(3);
    let iaca = x509::iaca(&iaca_key, &subject("IACA"), 1, NOW - DAY, NOW + 3650 * DAY).unwrap();
    let ds_key = key(4);
    let ds = InMemorySigner {
        certificate: x509::document_signer(
            &iaca_key,
            &iaca,
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
    let claims = tuaton_common::sample::citizen(0);
    let age = AgeClaims::on(claims.birth_date, claims.issue_date);
    let v = Validity {
        signed: NOW,
        valid_from: NOW,
        valid_until: NOW + 30 * DAY,
    };
    let issued = mdoc::issue(
        &claims,
        age,
        &device.holder_key(),
        v,
        None,
        &ds,
        &mut rand::rngs::OsRng,
    )
    .unwrap();
    let ca_key = key(6);
    let ca = x509::reader_ca(
        &ca_key,
        &subject("Reader CA"),
        1,
        NOW - DAY,
        NOW + 3650 * DAY,
    )
    .unwrap();
    let reader_key = key(7);
    let reader = ReaderSigner {
        certificate: x509::reader_certificate(
            &ca_key,
            &ca,
            reader_key.verifying_key(),
            &subject("Gate"),
            9,
            NOW - DAY,
            NOW + 7 * DAY,
            allowed,
        )
        .unwrap(),
        key: reader_key,
    };
    World {
        iaca: Iaca::from_der(&iaca).unwrap(),
        issued,
        device,
        reader_ca: Iaca::from_der(&ca).unwrap(),
        reader,
    }
}

fn flight() -> Request {
    [(
        NS_ISO.to_owned(),
        ["given_name", "family_name", "document_number", "portrait"]
            .map(str::to_owned)
            .to_vec(),
    )]
    .into_iter()
    .collect()
}

fn every() -> Request {
    let claims = tuaton_common::sample::citizen(0);
    let mut r = Request::new();
    for (ns, id, _) in mdoc::elements(&claims, AgeClaims::on(claims.birth_date, claims.issue_date))
    {
        r.entry(ns.to_owned()).or_default().push(id.to_owned());
    }
    r
}

/// One exchange in memory: (establishment bytes, answer bytes).
fn exchange(w: &World, request: &Request) -> (usize, usize) {
    let e_device = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let engagement = Engagement::new(&e_device.public_key());
    let scanned = Engagement::parse(&engagement.to_uri()).unwrap();
    let e_reader = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let (mut r, est) = ReaderSession::start(
        &scanned,
        &e_reader,
        mdoc::DOC_TYPE,
        request,
        Some(&w.reader),
    )
    .unwrap();
    let (mut d, received) = DeviceSession::accept(
        &engagement,
        &e_device,
        &est,
        std::slice::from_ref(&w.reader_ca),
        NOW,
    )
    .unwrap();
    assert!(received.beyond_certificate().is_empty());
    let answer = d.answer(&w.issued, &received.request, &w.device).unwrap();
    r.finish(&answer, std::slice::from_ref(&w.iaca), NOW + 60)
        .unwrap();
    (est.len(), answer.len())
}

/// A bundle for a gate whose trust list carries `w`'s IACA and reader CA (no status list,
/// one issuer), written to `dir`; the root's fingerprint.
fn gate_bundle(dir: &std::path::Path, w: &World) -> [u8; 32] {
    use tuaton_common::trust::*;
    let root_key = ed25519_dalek::SigningKey::from_bytes(&[8; 32]);
    let issuer_key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    for d in ["root", "contexts"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let root = SignedRoot::sign(
        Root {
            version: 1,
            expires: NOW + 365 * DAY,
            threshold: 1,
            keys: vec![root_key.verifying_key().to_bytes()],
        },
        &[&root_key],
    );
    std::fs::write(dir.join("root/1.cbor"), root.signed.to_bytes()).unwrap();
    let anchor = |role, c: &Iaca| MdocAnchor {
        issuer: 1,
        role,
        certificate: c.clone(),
    };
    let list = TrustList {
        version: 1,
        root_version: 1,
        issued_at: NOW - DAY,
        expires: NOW + 30 * DAY,
        issuers: vec![ListedIssuer {
            id: 1,
            name: "DOPA".into(),
            did: None,
            keys: vec![IssuerKey {
                issuer: 1,
                kid: kid_of(&issuer_key.verifying_key()),
                public: issuer_key.verifying_key(),
                not_before: 0,
                not_after: None,
                state: KeyState::Active,
            }],
        }],
        status: vec![],
        anchors: vec![
            anchor(AnchorRole::Iaca, &w.iaca),
            anchor(AnchorRole::ReaderCa, &w.reader_ca),
        ],
        revoked_certificates: vec![],
    };
    std::fs::write(
        dir.join("trust-list.cbor"),
        SignedTrustList::sign(list, &[&root_key]).signed.to_bytes(),
    )
    .unwrap();
    std::fs::write(
        dir.join("contexts/tuaton-v1.jsonld"),
        tuaton_common::w3c::CONTEXT_DOCUMENT,
    )
    .unwrap();
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&tuaton_common::bundle::Index {
            format: tuaton_common::bundle::FORMAT.into(),
            roots: vec!["root/1.cbor".into()],
            trust_list: "trust-list.cbor".into(),
            status: vec![],
            context: "contexts/tuaton-v1.jsonld".into(),
            trust_list_version: 1,
            root_version: 1,
            expires: NOW + 30 * DAY,
        })
        .unwrap(),
    )
    .unwrap();
    root.root.fingerprint_bytes()
}

/// The wallet's half over a loopback socket, in a thread: its engagement text (naming the
/// socket when `named`), the socket's address, and the thread, which answers one reader
/// and waits for its end of session.
fn wallet_half(
    w: &World,
    named: bool,
) -> (String, std::net::SocketAddr, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let e_device = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let engagement = if named {
        Engagement::with_transport(
            &e_device.public_key(),
            &tuaton_common::session::Transport::Socket {
                addr: addr.to_string(),
            },
        )
    } else {
        Engagement::new(&e_device.public_key())
    };
    let uri = engagement.to_uri();
    let issued = w.issued.clone();
    let device = w.device.clone();
    let ca = w.reader_ca.clone();
    let wallet = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let mut link = tuaton_cli::socket::socket_link(s, Duration::from_secs(10), None);
        let est = recv_message(&mut link, MAX_MESSAGE).unwrap();
        let (mut d, received) =
            DeviceSession::accept(&engagement, &e_device, &est, &[ca], NOW).unwrap();
        let answer = d.answer(&issued, &received.request, &device).unwrap();
        send_message(&mut link, &answer).unwrap();
        // The reader's end of session (status 20), or its going away.
        recv_message(&mut link, MAX_MESSAGE).ok();
    });
    (uri, addr, wallet)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let all = every();
    let w = world(&all);
    let e = Engagement::new(&p256::SecretKey::random(&mut rand::rngs::OsRng).public_key());
    let uri = e.to_uri();
    let ver = |l| match qrcode::QrCode::with_error_correction_level(uri.as_bytes(), l)
        .unwrap()
        .version()
    {
        qrcode::Version::Normal(n) | qrcode::Version::Micro(n) => n,
    };
    println!("tuaton ISO 18013-5 session (one run)\n");
    println!(
        "engagement: {} CBOR bytes, {} characters (`mdoc:` + base64url), QR version {} at ECC M, {} at L\n",
        e.bytes.len(),
        uri.len(),
        ver(qrcode::EcLevel::M),
        ver(qrcode::EcLevel::L)
    );
    for (what, t) in [
        (
            "Bluetooth LE (peripheral server UUID)",
            tuaton_common::session::Transport::Ble {
                service: [0xA5; 16],
            },
        ),
        (
            "the test socket (127.0.0.1:PORT)",
            tuaton_common::session::Transport::Socket {
                addr: "127.0.0.1:40000".into(),
            },
        ),
    ] {
        let e = Engagement::with_transport(
            &p256::SecretKey::random(&mut rand::rngs::OsRng).public_key(),
            &t,
        );
        let uri = e.to_uri();
        let v =
            match qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M)
                .unwrap()
                .version()
            {
                qrcode::Version::Normal(n) | qrcode::Version::Micro(n) => n,
            };
        println!(
            "engagement naming {what}: {} CBOR bytes, {} characters, QR version {v} at ECC M",
            e.bytes.len(),
            uri.len()
        );
    }
    println!();
    println!("| exchange | reader -> wallet (SessionEstablishment) | wallet -> reader (SessionData) | round trips |");
    println!("|---|---:|---:|---:|");
    let mut no_portrait = flight();
    no_portrait
        .values_mut()
        .for_each(|v| v.retain(|e| e != "portrait"));
    for (name, r) in [
        ("flight elements (names, document number)", no_portrait),
        ("flight elements with the portrait", flight()),
        ("every element", all.clone()),
    ] {
        let (a, b) = exchange(&w, &r);
        println!("| {name} | {a} B | {b} B | 1 (+ the reader's end, status 20: 9 B) |");
    }

    // CPU: the whole exchange against its floor, measured side by side.
    const N: usize = 200;
    let mut whole = vec![];
    let mut floor = vec![];
    let msg = [7u8; 1200];
    let sig: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(&key(9), &msg[..]);
    let public = key(9)
        .verifying_key()
        .to_encoded_point(false)
        .as_bytes()
        .to_vec();
    let peer = p256::SecretKey::random(&mut rand::rngs::OsRng).public_key();
    let mine = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let signer = key(9);
    for _ in 0..N {
        let t = Instant::now();
        exchange(&w, &flight());
        whole.push(t.elapsed());
        let t = Instant::now();
        for _ in 0..5 {
            aws_lc_rs::signature::UnparsedPublicKey::new(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
                &public,
            )
            .verify(&msg, &sig.to_bytes())
            .unwrap();
        }
        for _ in 0..2 {
            let s: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(&signer, &msg[..]);
            std::hint::black_box(s);
            let k = p256::SecretKey::random(&mut rand::rngs::OsRng);
            std::hint::black_box(k.public_key());
            std::hint::black_box(p256::ecdh::diffie_hellman(
                mine.to_nonzero_scalar(),
                peer.as_affine(),
            ));
        }
        floor.push(t.elapsed());
    }
    let (whole, floor) = (median(whole), median(floor));
    println!("\n| measure (median of {N}) | µs | vs floor |");
    println!("|---|---:|---:|");
    println!(
        "| floor: 5 ES256 verifications (AWS-LC); 2 ES256 signatures, 2 key pairs, 2 ECDH (RustCrypto) | {:.0} | 1.00 |",
        floor.as_secs_f64() * 1e6
    );
    println!(
        "| whole exchange, both ends (flight): the floor, plus X.509, CBOR, HKDF, AES-GCM | {:.0} | {:.2} |",
        whole.as_secs_f64() * 1e6,
        whole.as_secs_f64() / floor.as_secs_f64()
    );

    // The reader over a loopback socket, the wallet's half in another thread.
    const M: usize = 50;
    let mut times = vec![];
    for _ in 0..M {
        let (uri, addr, wallet) = wallet_half(&w, false);
        let t = Instant::now();
        let scanned = Engagement::parse(&uri).unwrap();
        let e_reader = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let (mut r, est) = ReaderSession::start(
            &scanned,
            &e_reader,
            mdoc::DOC_TYPE,
            &flight(),
            Some(&w.reader),
        )
        .unwrap();
        let stream = TcpStream::connect(addr).unwrap();
        let mut link = tuaton_cli::socket::socket_link(stream, Duration::from_secs(10), None);
        send_message(&mut link, &est).unwrap();
        let answer = recv_message(&mut link, MAX_MESSAGE).unwrap();
        r.finish(&answer, std::slice::from_ref(&w.iaca), NOW + 60)
            .unwrap();
        times.push(t.elapsed());
        send_message(&mut link, &ReaderSession::end()).unwrap();
        wallet.join().unwrap();
    }
    let sock = median(times);
    println!(
        "| reader: engagement scanned to verdict over loopback TCP (flight, no consent wait) | {:.0} | {:.2} |",
        sock.as_secs_f64() * 1e6,
        sock.as_secs_f64() / floor.as_secs_f64()
    );

    // The gate itself (tuaton-verifier's Gate): the scanned `mdoc:` text to the recorded
    // verdict, with its reader certificate checked, the request signed, the answer judged
    // against the synced trust list, and the audit record written and flushed.
    let home = tempfile::tempdir().unwrap();
    let fp = gate_bundle(&home.path().join("bundle"), &w);
    let gate = tuaton_verifier::Gate::open(&home.path().join("gate")).unwrap();
    let source =
        tuaton_verifier::bundle_source(&home.path().join("bundle").display().to_string()).unwrap();
    gate.sync(
        source.as_ref(),
        NOW,
        tuaton_verifier::SyncOptions {
            expect_root: Some(fp),
            trust_on_first_use: false,
        },
    )
    .unwrap();
    let loaded = gate.load().unwrap();
    let gate_key = gate.reader_key(false).unwrap();
    // What a flight gate asks for (some elements only some cards carry), and more.
    let mut gate_allowed = all.clone();
    for (ns, ids) in
        tuaton_common::mdoc_gate::request_for(tuaton_common::verify::Requirement::Flight)
    {
        let have = gate_allowed.entry(ns).or_default();
        for id in ids {
            if !have.contains(&id) {
                have.push(id);
            }
        }
    }
    let cert = x509::reader_certificate(
        &key(6),
        w.reader_ca.der(),
        &p256::ecdsa::VerifyingKey::from_sec1_bytes(&gate_key).unwrap(),
        &subject("BKK gate 12"),
        10,
        NOW - DAY,
        NOW + 7 * DAY,
        &gate_allowed,
    )
    .unwrap();
    gate.install_reader_certificate(&x509::pem(&cert), &loaded, NOW)
        .unwrap();
    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut times = vec![];
    for _ in 0..M {
        let (uri, _, wallet) = wallet_half(&w, true);
        let t = Instant::now();
        let (v, failure) = gate
            .check_engagement(&loaded, &uri, NOW + 60, false, false, &cancel)
            .unwrap();
        times.push(t.elapsed());
        assert!(v.is_valid(), "{:?} {failure:?}", v.reasons);
        wallet.join().unwrap();
    }
    let g = median(times);
    println!(
        "| gate (tuaton-verifier): `mdoc:` scanned to the audited verdict over loopback TCP (flight request, portrait included) | {:.0} | {:.2} |",
        g.as_secs_f64() * 1e6,
        g.as_secs_f64() / floor.as_secs_f64()
    );
}
