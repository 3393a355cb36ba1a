//! Whole engagement sessions over the in-memory link: MTUs 23, 185 and 517, injected
//! faults, tampering, wrong keys, replayed responses and foreign nonces.
mod kit;
use kit::*;
use tuaton_common::error::{Error, SessionError};
use tuaton_common::gate::Group;
use tuaton_common::link::{memory_pair, recv_message, send_message, Faults, MemoryLink};
use tuaton_common::presentation;
use tuaton_common::session::*;
use tuaton_common::verify::{self, Context, MemoryReplay, Policy, Verdict};

const PORTRAIT_REQUEST: [Group; 2] = [Group::Flight, Group::Portrait];

fn request(n: u8) -> Request {
    Request {
        groups: PORTRAIT_REQUEST.to_vec(),
        nonce: [n; 16],
    }
}

fn verify_session(bytes: &[u8], nonce: &[u8]) -> Verdict {
    in_context(Some(nonce), Policy::default(), None, |ctx| {
        verify::verify_cbor(bytes, ctx)
    })
}

/// Runs one session; the wallet answers with what `answer` makes from the request.
fn session(
    mtu: usize,
    gate_faults: Faults,
    wallet_faults: Faults,
    answer: impl FnOnce(&WalletRequested) -> Vec<u8>,
) -> (
    tuaton_common::Result<Response>,
    Vec<u8>,
    MemoryLink,
    MemoryLink,
) {
    let (wallet_wait, engagement) = WalletAwaitingRequest::new(
        [11; 32],
        Transport::Ble {
            service: SERVICE_UUID,
        },
    );
    let scanned = Engagement::parse(&engagement.to_text()).unwrap();
    let (mut gl, mut wl) = memory_pair(mtu, gate_faults, wallet_faults);
    let (gate, first) = GateAwaitingResponse::start(&scanned, [22; 32], request(5)).unwrap();
    let nonce = gate.proof_nonce();
    send_message(&mut gl, &first).unwrap();
    let result = (|| {
        let m = recv_message(&mut wl, MAX_MESSAGE)?;
        let requested = wallet_wait.on_request(&m)?;
        assert_eq!(requested.request, request(5));
        let p = answer(&requested);
        send_message(&mut wl, &requested.respond(p))?;
        gate.on_response(&recv_message(&mut gl, MAX_MESSAGE)?)
    })();
    (result, nonce, gl, wl)
}

fn honest(r: &WalletRequested) -> Vec<u8> {
    presentation::present_groups(
        &credential(0),
        &holder_key(),
        &r.request.groups,
        NOW,
        Some(&r.proof_nonce()),
    )
    .unwrap()
}

#[test]
fn whole_sessions_at_every_mtu_carry_the_portrait() {
    for mtu in [23, 185, 517] {
        let (r, nonce, gl, wl) = session(mtu, Faults::default(), Faults::default(), honest);
        let Ok(Response::Presentation(p)) = r else {
            panic!("mtu {mtu}: {r:?}")
        };
        let v = verify_session(&p, &nonce);
        assert!(v.is_valid(), "mtu {mtu}: {:?}", v.reasons);
        let c = v.claims.unwrap();
        assert_eq!(
            c.portrait.as_deref(),
            Some(tuaton_common::sample::PORTRAIT_A)
        );
        assert_eq!(c.given_name_th.unwrap().as_str(), "สมชาย");
        assert!(gl.writes >= 1 && wl.writes > 1);
    }
}

#[test]
fn engagement_round_trips_and_is_small() {
    let (_, e) = WalletAwaitingRequest::new(
        [1; 32],
        Transport::Ble {
            service: SERVICE_UUID,
        },
    );
    let t = e.to_text();
    assert_eq!(Engagement::parse(&t).unwrap(), e);
    assert!(t.len() < 100, "{} chars", t.len());
    let (_, e) = WalletAwaitingRequest::new(
        [1; 32],
        Transport::Socket {
            addr: "127.0.0.1:40000".into(),
        },
    );
    assert_eq!(
        Engagement::parse(&e.to_text()).unwrap().transport,
        Transport::Socket {
            addr: "127.0.0.1:40000".into()
        }
    );
    assert!(matches!(
        Engagement::parse("TTB1:##"),
        Err(Error::Session(SessionError::EngagementEncoding))
    ));
    assert!(matches!(
        Engagement::parse("TT1:ABC"),
        Err(Error::Session(SessionError::NotEngagement))
    ));
}

#[test]
fn lost_repeated_and_reordered_chunks_are_clean_errors() {
    // (faults, whether the error is a duplicate rather than an out-of-order chunk)
    let cases = [
        (
            Faults {
                drop: Some(1),
                ..Default::default()
            },
            false,
        ),
        (
            Faults {
                duplicate: Some(2),
                ..Default::default()
            },
            true,
        ),
        (
            Faults {
                swap_with_next: Some(0),
                ..Default::default()
            },
            false,
        ),
    ];
    for (f, duplicate) in cases {
        let (r, ..) = session(23, Faults::default(), f.clone(), honest);
        let ok = match r {
            Err(Error::Session(SessionError::ChunkDuplicated { .. })) => duplicate,
            Err(Error::Session(SessionError::ChunkOutOfOrder { .. })) => !duplicate,
            _ => false,
        };
        assert!(ok, "{f:?}: {:?}", r.err());
    }
}

#[test]
fn a_peer_that_stops_answering_times_out_and_gives_a_verdict() {
    // The wallet goes quiet half way through its answer (truncation).
    let (r, ..) = session(
        185,
        Faults::default(),
        Faults {
            silent_from: Some(3),
            ..Default::default()
        },
        honest,
    );
    assert!(
        matches!(r, Err(Error::Session(SessionError::Timeout))),
        "{r:?}"
    );
    // ...or never answers at all. The gate turns that into a clear rejection.
    let (r, ..) = session(
        185,
        Faults::default(),
        Faults {
            silent_from: Some(0),
            ..Default::default()
        },
        honest,
    );
    assert!(r.is_err());
    let trust = trust();
    let mut replay = MemoryReplay::default();
    let none_revoked = Revoked(vec![]);
    let ctx = Context::new(NOW, &trust, &none_revoked, &mut replay);
    assert_eq!(codes(&verify::session_failed(&ctx)), ["session_failed"]);
}

#[test]
fn a_tampered_ciphertext_is_refused() {
    let (r, ..) = session(
        517,
        Faults::default(),
        Faults {
            corrupt: Some(4),
            ..Default::default()
        },
        honest,
    );
    assert!(
        matches!(r, Err(Error::Session(SessionError::Decrypt))),
        "{r:?}"
    );
    // In the request too: the wallet refuses it.
    let (r, ..) = session(
        517,
        Faults {
            corrupt: Some(0),
            ..Default::default()
        },
        Faults::default(),
        honest,
    );
    assert!(
        matches!(r, Err(Error::Session(SessionError::Decrypt))),
        "{r:?}"
    );
}

#[test]
fn a_wrong_session_key_is_refused() {
    // A relay shows the gate its own engagement key but talks to the real wallet.
    let (wallet_wait, _) = WalletAwaitingRequest::new(
        [11; 32],
        Transport::Ble {
            service: SERVICE_UUID,
        },
    );
    let (_, relay) = WalletAwaitingRequest::new(
        [99; 32],
        Transport::Ble {
            service: SERVICE_UUID,
        },
    );
    let (_, first) = GateAwaitingResponse::start(&relay, [22; 32], request(5)).unwrap();
    assert!(matches!(
        wallet_wait.on_request(&first),
        Err(Error::Session(SessionError::Decrypt))
    ));
}

#[test]
fn a_replayed_response_is_refused() {
    // Capture the wallet's answer in one session...
    let (wallet_wait, engagement) = WalletAwaitingRequest::new(
        [11; 32],
        Transport::Ble {
            service: SERVICE_UUID,
        },
    );
    let (_, first) = GateAwaitingResponse::start(&engagement, [22; 32], request(5)).unwrap();
    let old_answer = {
        let r = wallet_wait.on_request(&first).unwrap();
        let p = honest(&r);
        r.respond(p)
    };
    // ...and replay it into the next one (new gate key and nonce).
    let (gate2, _) = GateAwaitingResponse::start(&engagement, [33; 32], request(6)).unwrap();
    assert!(matches!(
        gate2.on_response(&old_answer),
        Err(Error::Session(SessionError::Decrypt))
    ));
}

#[test]
fn a_response_bound_to_another_nonce_is_rejected() {
    let (r, nonce, ..) = session(185, Faults::default(), Faults::default(), |_| {
        presentation::present_groups(
            &credential(0),
            &holder_key(),
            &PORTRAIT_REQUEST,
            NOW,
            Some(b"some other nonce"),
        )
        .unwrap()
    });
    let Ok(Response::Presentation(p)) = r else {
        panic!()
    };
    assert_eq!(codes(&verify_session(&p, &nonce)), ["bad_holder_proof"]);
    // And a QR presentation (no nonce) replayed over BLE is refused the same way.
    let qr = presentation::present(
        &credential(0),
        &holder_key(),
        presentation::Profile::Flight,
        NOW,
    )
    .unwrap();
    assert_eq!(codes(&verify_session(&qr, &nonce)), ["bad_holder_proof"]);
}

#[test]
fn declining_is_an_answer() {
    let (wallet_wait, engagement) = WalletAwaitingRequest::new(
        [11; 32],
        Transport::Ble {
            service: SERVICE_UUID,
        },
    );
    let (gate, first) = GateAwaitingResponse::start(&engagement, [22; 32], request(5)).unwrap();
    let answer = wallet_wait.on_request(&first).unwrap().decline();
    assert_eq!(gate.on_response(&answer).unwrap(), Response::Declined);
}

#[test]
fn the_wallet_proves_it_holds_the_engagement_key_before_the_gate_writes() {
    use tuaton_common::session::{Transport, WalletAwaitingRequest};
    let t = || Transport::Socket {
        addr: "127.0.0.1:9".into(),
    };
    let (w, e) = WalletAwaitingRequest::new([7; 32], t());
    let hello = w.hello([9; 64]);
    assert_eq!(hello.len(), tuaton_common::session::HELLO_LEN);
    e.verify_hello(&hello).unwrap();
    // Another wallet's proof, a flipped bit, or bytes from some other service: refused.
    let (w2, _) = WalletAwaitingRequest::new([8; 32], t());
    assert!(e.verify_hello(&w2.hello([9; 64])).is_err());
    for i in 0..hello.len() {
        let mut h = hello.clone();
        h[i] ^= 0x01;
        assert!(e.verify_hello(&h).is_err(), "bit flip at {i} accepted");
    }
    assert!(e.verify_hello(b"+OK redis\r\n").is_err());
    assert!(e.verify_hello(&[]).is_err());
}

#[test]
fn attack_session_answer_without_the_portrait() {
    let nonce = [3u8; 48];
    let p = presentation::present_groups(
        &credential(0),
        &holder_key(),
        &[Group::Flight],
        NOW,
        Some(&nonce),
    )
    .unwrap();
    let v = in_context(Some(&nonce), Policy::default(), None, |ctx| {
        verify::verify_session_answer(&p, &[Group::Flight, Group::Portrait], ctx)
    });
    assert_eq!(v.reasons, vec![verify::Reason::InsufficientDisclosure]);
    let p = presentation::present_groups(
        &credential(0),
        &holder_key(),
        &[Group::Flight, Group::Portrait],
        NOW,
        Some(&nonce),
    )
    .unwrap();
    let v = in_context(Some(&nonce), Policy::default(), None, |ctx| {
        verify::verify_session_answer(&p, &[Group::Flight, Group::Portrait], ctx)
    });
    assert!(v.is_valid(), "{:?}", v.reasons);
}
