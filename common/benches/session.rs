//! Engagement and BLE transfer figures, one run: the engagement QR's size and version, and
//! for a flight response and a response carrying a 20 KB portrait, at ATT MTU 185 and
//! 517, the bytes and GATT writes each direction takes and the air time that implies at
//! LE 2M PHY. Run: `cargo bench -p tuaton-common --bench session`.
//!
//! Air-time model (a lower bound: back-to-back packets, no connection-interval gaps):
//! each GATT write or notification is the chunk + 3 bytes ATT + 4 bytes L2CAP, split into
//! link-layer PDUs of at most 251 bytes (data length extension); each PDU costs
//! (payload + 15 bytes of preamble, access address, header, MIC and CRC) at 4 µs a byte,
//! plus 150 µs inter-frame space, a 44 µs empty acknowledgement and another 150 µs.

use ed25519_dalek::SigningKey;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tuaton_common::gate::{self, Group, IssueParams, StatusRef};
use tuaton_common::link::{memory_pair, recv_message, send_message, Faults};
use tuaton_common::presentation;
use tuaton_common::session::*;

fn air_us(chunks: &[usize]) -> f64 {
    chunks
        .iter()
        .map(|c| {
            let mut left = c + 7;
            let mut t = 0.0;
            while left > 0 {
                let p = left.min(251);
                t += (p + 15) as f64 * 4.0 + 344.0;
                left -= p;
            }
            t
        })
        .sum()
}

fn main() {
    let ik = SigningKey::from_bytes(&[1; 32]);
    let hk = SigningKey::from_bytes(&[2; 32]);
    // Engagement size.
    let (_, e) = WalletAwaitingRequest::new(
        [3; 32],
        Transport::Ble {
            service: [0x5A; 16],
        },
    );
    let text = e.to_text();
    let q =
        qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M).unwrap();
    let ver = match q.version() {
        qrcode::Version::Normal(n) | qrcode::Version::Micro(n) => n,
    };
    println!(
        "engagement: {} CBOR bytes, {} QR characters, QR version {} at ECC M",
        e.bytes.len(),
        text.len(),
        ver
    );
    println!();
    println!("| response | MTU | message bytes (gate->wallet / wallet->gate) | GATT writes (g->w / w->g) | bytes on air incl. chunk headers | air time at 2M PHY |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (label, portrait_len, groups) in [
        ("flight (no portrait)", 0usize, vec![Group::Flight]),
        (
            "flight + 20 KB portrait",
            20 * 1024,
            vec![Group::Flight, Group::Portrait],
        ),
    ] {
        let mut claims = tuaton_common::sample::citizen(0);
        if portrait_len > 0 {
            let mut p = vec![0xFF, 0xD8, 0xFF];
            p.extend((0..portrait_len - 3).map(|i| (i * 31 % 251) as u8));
            claims.portrait = p;
        }
        let cred = gate::issue(
            &claims,
            &IssueParams {
                issuer: 1,
                signing_key: &ik,
                kid: &[1, 2, 3, 4],
                holder_key: hk.verifying_key().to_bytes().into(),
                credential_id: [1; 8],
                status: StatusRef { list: 0, index: 7 },
                issued_at: 1_795_000_000,
            },
            &mut StdRng::seed_from_u64(1),
        )
        .unwrap();
        for mtu in [185, 517] {
            let (waiting, engagement) = WalletAwaitingRequest::new(
                [3; 32],
                Transport::Ble {
                    service: [0x5A; 16],
                },
            );
            let (mut gl, mut wl) = memory_pair(mtu, Faults::default(), Faults::default());
            let (gate, first) = GateAwaitingResponse::start(
                &engagement,
                [4; 32],
                Request {
                    groups: groups.clone(),
                    nonce: [5; 16],
                },
            )
            .unwrap();
            send_message(&mut gl, &first).unwrap();
            let requested = waiting
                .on_request(&recv_message(&mut wl, MAX_MESSAGE).unwrap())
                .unwrap();
            let p = presentation::present_groups(
                &cred,
                &hk,
                &requested.request.groups,
                1_795_000_000,
                Some(&requested.proof_nonce()),
            )
            .unwrap();
            let answer = requested.respond(p);
            send_message(&mut wl, &answer).unwrap();
            let r = gate
                .on_response(&recv_message(&mut gl, MAX_MESSAGE).unwrap())
                .unwrap();
            assert!(matches!(r, Response::Presentation(_)));
            let chunks: Vec<usize> = tuaton_common::framing::chunk(&first, mtu)
                .iter()
                .chain(tuaton_common::framing::chunk(&answer, mtu).iter())
                .map(Vec::len)
                .collect();
            println!(
                "| {label} | {mtu} | {} / {} | {} / {} | {} | {:.1} ms |",
                first.len(),
                answer.len(),
                gl.writes,
                wl.writes,
                gl.bytes + wl.bytes,
                air_us(&chunks) / 1000.0
            );
        }
    }
}
