//! What the gate operator sees, drawn with ratatui's TestBackend at 80x24.
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Color;
use ratatui::Terminal;
use tuaton_verifier::demo::Scenario;
use tuaton_verifier::station::Checker;
use tuaton_verifier::tui::{Action, App};

const NOW: i64 = 1_795_000_000; // 2026-11-18

fn draw(app: &App) -> (Vec<String>, ratatui::buffer::Buffer) {
    draw_at(app, 80, 24)
}

fn draw_at(app: &App, w: u16, h: u16) -> (Vec<String>, ratatui::buffer::Buffer) {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| f.render_widget(app, f.area())).unwrap();
    let buf = t.backend().buffer().clone();
    let lines = (0..h)
        .map(|y| {
            let mut s = String::new();
            for x in 0..w {
                s.push_str(buf[(x, y)].symbol());
            }
            s.trim_end().to_owned()
        })
        .collect();
    (lines, buf)
}

/// Scans the demo's next `n` items; returns the app after the last.
fn after(n: usize) -> App {
    let mut s = Scenario::with_seed(NOW, 7);
    let mut app = App::new(s.status(), true);
    for _ in 0..n {
        assert_eq!(
            app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
            Action::NextDemo
        );
        let (text, label) = s.next_demo().unwrap();
        app.submit(&mut s, &text, Some(label));
    }
    app
}

fn screen(n: usize) -> (String, ratatui::buffer::Buffer) {
    let (l, b) = draw(&after(n));
    (l.join("\n"), b)
}

fn banner_bg(buf: &ratatui::buffer::Buffer) -> Color {
    buf[(0, 1)].bg
}

#[test]
fn ready_screen_at_80x24_shows_keys_and_bundle() {
    let (lines, _) = draw(&after(0));
    assert_eq!(
        lines[0],
        " tuaton gate  DEMO - Enter: next scan · policy flight"
    );
    assert!(lines[1].contains("READY: SCAN A QR CODE  /  พร้อมสแกน"));
    assert_eq!(lines[22], "Scan>");
    assert_eq!(
        lines[23],
        " DEMO  Bundle v3 · 2h old  · Enter next · Esc clear · F10 quit"
    );
}

#[test]
fn valid_verdict_shows_green_names_masked_id_and_portrait() {
    let (s, buf) = screen(1);
    assert_eq!(banner_bg(&buf), Color::Green);
    for want in [
        "VALID / ถูกต้อง",
        "นายสมชาย ใจดี",
        "Mr. Somchai Jaidee",
        "ID X-XXXX-XXXXX-34-6",
        "Born 12 เม.ย. 2533",
        "Valid until 11 เม.ย. 2575",
        "Issuer DOPA (demo)",
    ] {
        assert!(s.contains(want), "{want} missing from\n{s}");
    }
    assert!(
        !s.contains("1103700012346"),
        "the full citizen ID is never on screen"
    );
    // The portrait: 16 columns of half blocks with colours.
    assert_eq!(buf[(1, 6)].symbol(), "▀");
    assert!(matches!(buf[(5, 8)].fg, Color::Rgb(..)));
}

#[test]
fn lifelong_card_and_year_only_birth_date() {
    let (s, buf) = screen(3);
    assert_eq!(banner_bg(&buf), Color::Green);
    assert!(s.contains("Born 2491"), "year-only, Buddhist era:\n{s}");
    assert!(s.contains("Valid until ตลอดชีพ (lifelong)"), "{s}");
}

#[test]
fn each_rejection_is_red_with_its_reason_in_english_and_thai() {
    let cases = [
        (4, "Card has expired / บัตรหมดอายุ", true),
        (5, "Card has been revoked / บัตรถูกเพิกถอน", true),
        (
            6,
            "Issuer signature is not valid (forged or altered)",
            false,
        ),
        (7, "This QR code was already used / คิวอาร์โค้ดนี้ถูกใช้แล้ว", true),
        (8, "Issuer key not known to this gate", false),
    ];
    for (n, reason, shows_holder) in cases {
        let (s, buf) = screen(n);
        assert_eq!(banner_bg(&buf), Color::Red, "step {n}");
        assert!(s.contains("REJECTED / ไม่ผ่าน"), "step {n}:\n{s}");
        assert!(s.contains(reason), "step {n}: {reason} missing from\n{s}");
        assert_eq!(
            s.contains("No trustworthy holder data"),
            !shows_holder,
            "step {n}:\n{s}"
        );
    }
}

#[test]
fn history_lists_recent_checks_newest_first() {
    let (lines, _) = draw(&after(4));
    let hist: Vec<&str> = lines[6..11]
        .iter()
        .map(|l| l.split('│').nth(3).unwrap_or("").trim())
        .collect();
    // A rejection: when and whose card, then why on a line of its own.
    assert_eq!(hist[0], "18:08:40 NO Mr. Thanakorn Wongyai", "{hist:?}");
    assert_eq!(hist[1], "credential_expired", "{hist:?}");
    assert!(hist[2].contains("VALID Mrs. Boonmee"), "{hist:?}");
    assert!(hist[4].contains("VALID Mr. Somchai"), "{hist:?}");
}

#[test]
fn attack_same_qr_twice_within_ten_seconds_never_shows_green() {
    let mut s = Scenario::with_seed(NOW, 7);
    let mut app = App::new(s.status(), false);
    let (text, _) = s.next_demo().unwrap();
    for c in text.chars() {
        app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    let Action::Submit(t) = app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)) else {
        panic!("Enter submits")
    };
    assert_eq!(t, text);
    app.submit(&mut s, &t, None);
    // The scanner reads the held-up phone again.
    app.submit(&mut s, &t, None);
    let (lines, buf) = draw(&app);
    // Never green: a repeat is a distinct state that names the first verdict and when.
    assert_eq!(banner_bg(&buf), Color::Blue);
    assert!(lines[1].contains("ALREADY CHECKED"), "{}", lines[1]);
    assert!(
        lines[2].contains("First checked at") && lines[2].contains("VALID"),
        "{}",
        lines[2]
    );
    assert!(!lines.iter().any(|l| l.contains("VALID / ถูกต้อง")));
    assert_eq!(
        app.station.history.len(),
        1,
        "a repeat is not a second check in the history"
    );
}

#[test]
fn attack_the_same_presentation_re_encoded_is_already_checked_not_a_red_alarm() {
    // The same presentation CBOR sent raw instead of deflated is another QR text (the
    // docs say so; the replay cache keys on what the holder signed). Scanned within 10 s
    // of the first, staff see ALREADY CHECKED in blue, not REPLAYED in red.
    let mut s = Scenario::with_seed(NOW, 7);
    let mut app = App::new(s.status(), false);
    let (text, _) = s.next_demo().unwrap();
    let cbor = tuaton_common::presentation::from_qr_text(&text).unwrap();
    let raw = format!("TT1:{}", base45::encode(&cbor));
    assert_ne!(raw, text, "a second encoding of one presentation");
    app.submit(&mut s, &text, None);
    assert!(app.station.shown.as_ref().unwrap().verdict.is_valid());
    app.submit(&mut s, &raw, None);
    let (lines, buf) = draw(&app);
    assert_eq!(banner_bg(&buf), Color::Blue);
    assert!(lines[1].contains("ALREADY CHECKED"), "{}", lines[1]);
    assert_eq!(app.station.history.len(), 1);
}

/// A gate whose store fails at every scan.
struct Broken;
impl Checker for Broken {
    fn check(
        &mut self,
        _: &str,
        _: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> tuaton_verifier::station::Checked {
        tuaton_verifier::station::Checked::Fault(
            "the gate store is in use by another program".into(),
        )
    }
    fn now(&self) -> i64 {
        NOW
    }
    fn status(&self) -> tuaton_verifier::station::StatusInfo {
        Default::default()
    }
}

#[test]
fn a_gate_that_cannot_read_its_store_says_so_and_shows_no_verdict() {
    use tuaton_verifier::station::StatusInfo;
    let mut app = App::new(StatusInfo::default(), false);
    app.submit(&mut Broken, "TT1:ANYTHING", None);
    let (lines, buf) = draw(&app);
    assert_eq!(banner_bg(&buf), Color::Magenta);
    let all = lines.join("\n");
    assert!(all.contains("GATE ERROR: NOTHING WAS CHECKED"), "{all}");
    assert!(all.contains("in use by another program"), "{all}");
    assert!(!all.contains("VALID") && !all.contains("REJECTED"), "{all}");
    assert!(app.station.history.is_empty(), "nothing was checked");
}

#[test]
fn a_repeat_after_a_pass_paired_names_the_verdict_staff_saw() {
    // ID (green), then a pass with another name (red), then the same ID again within
    // 10 s: the blue screen names the red verdict, never "VALID".
    use tuaton_verifier::demo::boarding_pass;
    let mut s = Scenario::with_seed(NOW, 7);
    let mut app = App::new(s.status(), true);
    let (id, _) = s.next_demo().unwrap();
    app.submit(&mut s, &id, None);
    let now = s.now();
    app.submit(&mut s, &boarding_pass("JAIDEE/SOMSAK MR", now), None);
    app.submit(&mut s, &id, None);
    let (lines, buf) = draw(&app);
    assert_eq!(banner_bg(&buf), Color::Blue);
    assert!(
        lines[2].contains("REJECTED (boarding_pass_name_mismatch)"),
        "{}",
        lines[2]
    );
}

#[test]
fn a_gate_fault_is_shown_even_with_a_pass_waiting() {
    use tuaton_verifier::demo::boarding_pass;
    use tuaton_verifier::station::StatusInfo;
    let mut app = App::new(StatusInfo::default(), false);
    app.submit(&mut Broken, &boarding_pass("JAIDEE/SOMCHAI MR", NOW), None);
    app.submit(&mut Broken, "TT1:ANYTHING", None);
    let (lines, buf) = draw(&app);
    assert_eq!(banner_bg(&buf), Color::Magenta, "{}", lines.join("\n"));
    assert!(lines.join("\n").contains("Ask for a fresh QR"));
}

#[test]
fn attack_scanner_text_holding_q_quits_the_gate() {
    let mut app = after(1);
    app.on_key(KeyEvent::new(KeyCode::Char('T'), KeyModifiers::NONE));
    assert_eq!(app.input, "T");
    app.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    assert!(app.input.is_empty() && app.station.shown.is_none());
    assert!(!app.quit);
    // Every printable character a scanner can type is scan input, never a command.
    for c in (' '..='~').chain("ตัวตนกขq".chars()) {
        assert_eq!(
            app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
            Action::None
        );
        assert!(!app.quit, "{c:?} acted as a command");
    }
    assert_eq!(app.input.chars().count(), 95 + 8);
    // Keys no scanner sends: F10 quits.
    app.on_key(KeyEvent::new(KeyCode::F(10), KeyModifiers::NONE));
    assert!(app.quit);
}

#[test]
fn expired_card_full_screen() {
    let (lines, _) = draw(&after(4));
    let expected = include_str!("screens/expired-80x24.txt");
    if std::env::var_os("TUATON_WRITE_SCREENS").is_some() {
        std::fs::write(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/screens/expired-80x24.txt"
            ),
            lines.join("\n") + "\n",
        )
        .unwrap();
    }
    assert_eq!(lines.join("\n") + "\n", expected);
}

#[test]
fn a_session_in_progress_says_so() {
    let mut app = after(0);
    app.busy = Some("CONNECTING TO PHONE / กำลังเชื่อมต่อ".into());
    let (lines, buf) = draw(&app);
    assert_eq!(banner_bg(&buf), Color::Cyan);
    assert!(lines[1].contains("CONNECTING TO PHONE"), "{}", lines[1]);
    assert!(lines[2].contains("enters the PIN"), "{}", lines[2]);
}

#[test]
fn warnings_are_drawn_in_the_verdict_area_in_thai_and_english() {
    use tuaton_common::verify::Warning;
    let mut s = Scenario::with_seed(NOW, 7);
    let mut app = App::new(s.status(), true);
    let (text, _) = s.next_demo().unwrap();
    let mut v = s.verify(&text);
    v.warnings = vec![
        Warning::StatusStale,
        Warning::TrustStale,
        Warning::ClockRollback,
    ];
    let now = s.now();
    app.show(&mut s, &text, None, now, v);
    let (lines, buf) = draw(&app);
    let banner = lines[1..8].join(" ");
    for w in [
        Warning::StatusStale,
        Warning::TrustStale,
        Warning::ClockRollback,
    ] {
        let (en, th) = w.describe();
        assert!(
            banner.contains(en) && banner.contains(th),
            "{en} missing from\n{banner}"
        );
    }
    assert!(buf.content.iter().any(|c| c.bg == Color::Yellow));
}

#[test]
fn attack_bidi_override_in_the_issuer_name_cannot_restyle_the_screen() {
    let mut s = Scenario::with_seed(NOW, 7);
    let mut app = App::new(s.status(), true);
    let (text, _) = s.next_demo().unwrap();
    let mut v = s.verify(&text);
    v.issuer = Some("\u{202e}DETCEJER\u{1b}[41m".into());
    let now = s.now();
    app.show(&mut s, &text, None, now, v);
    let (lines, _) = draw(&app);
    let all = lines.join("\n");
    assert!(
        !all.contains('\u{202e}') && !all.contains('\u{1b}'),
        "{all}"
    );
    assert!(all.contains("\u{FFFD}DETCEJER\u{FFFD}[41m"), "{all}");
}

#[test]
fn a_boarding_pass_scanned_first_waits_for_the_id() {
    let (s, buf) = screen(9);
    assert_eq!(banner_bg(&buf), Color::Cyan);
    assert!(
        s.contains("BOARDING PASS READ: TG 102 BKK→CNX seat 32A"),
        "{s}"
    );
    assert!(s.contains("Now scan the ID"), "{s}");
    let banner: Vec<&str> = s.lines().skip(1).take(3).collect();
    assert!(
        banner.iter().all(|l| !l.contains("VALID")),
        "a pass alone is never a verdict:\n{s}"
    );
}

#[test]
fn pass_then_matching_id_is_one_green_verdict_with_the_flight() {
    let (s, buf) = screen(10);
    assert_eq!(banner_bg(&buf), Color::Green);
    for want in [
        "VALID / ถูกต้อง",
        "Boarding pass matches · TG 102 BKK→CNX · seat 32A",
        "Flight TG 102 BKK→CNX",
        "Pass name JAIDEE/SOMCHAI MR",
    ] {
        assert!(s.contains(want), "{want} missing from\n{s}");
    }
}

#[test]
fn pass_of_someone_else_is_red_with_both_names() {
    let (s, buf) = screen(12);
    assert_eq!(banner_bg(&buf), Color::Red);
    for want in [
        "Name differs from the ID / ชื่อไม่ตรงกับบัตรประชาชน",
        "Pass: JAIDEE/SOMSAK MR  ≠  ID: Mr. Somchai Jaidee",
    ] {
        assert!(s.contains(want), "{want} missing from\n{s}");
    }
}

#[test]
fn id_then_pass_pairs_in_that_order_too_and_a_late_pass_does_not() {
    use tuaton_verifier::demo::boarding_pass;
    let mut s = Scenario::with_seed(NOW, 7);
    let mut app = App::new(s.status(), true);
    let (id, label) = s.next_demo().unwrap();
    app.submit(&mut s, &id, Some(label));
    let (alone, _) = draw(&app);
    assert!(alone.join("\n").contains("No boarding pass"), "{alone:?}");
    let now = s.now();
    app.submit(&mut s, &boarding_pass("JAIDEE/SOMSAK MR", now), None);
    let (paired, buf) = draw(&app);
    assert_eq!(banner_bg(&buf), Color::Red);
    assert!(paired.join("\n").contains("Pass: JAIDEE/SOMSAK MR"));
    assert!(app.station.history[0]
        .reasons
        .contains(&"boarding_pass_name_mismatch"));
    // The same pass read twice changes nothing; a pass scanned long after the ID waits
    // for the next ID instead of pairing with an old verdict.
    app.submit(&mut s, &boarding_pass("JAIDEE/SOMSAK MR", now), None);
    assert!(app.station.shown.is_some());
    let mut s2 = Scenario::with_seed(NOW, 7);
    let mut app2 = App::new(s2.status(), true);
    let (id, _) = s2.next_demo().unwrap();
    app2.submit(&mut s2, &id, None);
    for _ in 0..3 {
        s2.next_demo(); // the clock moves 30 s a step: 90 s later
    }
    let late = s2.now();
    app2.submit(&mut s2, &boarding_pass("JAIDEE/SOMCHAI MR", late), None);
    assert!(app2.station.shown.is_none() && app2.station.pending_pass.is_some());
}

#[test]
fn demo_plain_shows_every_step_passes_included() {
    use tuaton_verifier::demo::PlainRow;
    let v = tuaton_verifier::demo::run_plain(NOW);
    assert_eq!(v.len(), 12, "one row a step: the passes are not skipped");
    let verdict = |i: usize| match &v[i].1 {
        PlainRow::Verdict(x) => (**x).clone(),
        PlainRow::PassWaiting(_) => panic!("step {i} is a verdict"),
    };
    assert!(
        matches!(v[8].1, PlainRow::PassWaiting(_)) && v[8].0.starts_with("9/12"),
        "{}",
        v[8].0
    );
    let matched = verdict(9);
    assert!(
        v[9].0.starts_with("10/12") && matched.is_valid(),
        "{}",
        v[9].0
    );
    assert!(matched.boarding_pass.as_ref().unwrap().matches());
    let other = verdict(11);
    assert!(
        v[11].0.starts_with("12/12") && !other.is_valid(),
        "{}",
        v[11].0
    );
    assert_eq!(
        other.reason_codes(),
        ["boarding_pass_name_mismatch"],
        "the ID itself is fine; the pass's reason is named"
    );
}

/// The history pane's text at 80x24 after the demo's first `n` scans.
fn history_after(n: usize) -> String {
    let (lines, _) = draw(&after(n));
    lines[6..22]
        .iter()
        .map(|l| l.split('│').nth(3).unwrap_or("").trim())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn at_80_columns_the_history_shows_why_every_rejection_happened() {
    let hist = history_after(8);
    for code in [
        "credential_expired",
        "credential_revoked",
        "bad_issuer_signature",
        "replayed",
        "unknown_issuer_key",
    ] {
        // Whole, on one line of the pane (wrapping may split a long list between codes).
        assert!(
            hist.lines().any(|l| l.contains(code)),
            "{code} missing from the history:\n{hist}"
        );
    }
}

#[test]
fn at_60x20_the_id_stays_on_one_line_and_each_reason_is_whole_in_both_languages() {
    for n in 1..=8 {
        let (lines, _) = draw_at(&after(n), 60, 20);
        let s = lines.join("\n");
        if n <= 3 {
            assert!(
                lines.iter().any(|l| l.contains("ID X-XXXX-XXXXX-")),
                "step {n}: the masked ID wrapped:\n{s}"
            );
        }
    }
    for (n, en, th) in [
        (4, "Card has expired", "บัตรหมดอายุ"),
        (5, "Card has been revoked", "บัตรถูกเพิกถอน"),
        (7, "This QR code was already used", "คิวอาร์โค้ดนี้ถูกใช้แล้ว"),
    ] {
        let (lines, _) = draw_at(&after(n), 60, 20);
        let s = lines.join("\n");
        assert!(
            lines.iter().any(|l| l.trim() == en),
            "step {n}: `{en}` not whole on its own line:\n{s}"
        );
        assert!(
            lines.iter().any(|l| l.trim() == th),
            "step {n}: `{th}` not whole on its own line:\n{s}"
        );
        assert!(s.contains("REJECTED"), "step {n}:\n{s}");
    }
}

#[test]
fn several_long_reasons_wrap_between_codes_and_none_is_cut() {
    let mut app = after(0);
    app.station.history.insert(
        0,
        tuaton_verifier::tui::HistoryItem {
            at: NOW,
            valid: false,
            reasons: vec![
                "issuer_key_not_valid_at_issuance",
                "credential_revoked",
                "bad_holder_proof",
            ],
            who: Some("Mr. Somchai Jaidee".into()),
        },
    );
    let (lines, _) = draw(&app);
    let pane: Vec<&str> = lines[6..12]
        .iter()
        .map(|l| l.split('│').nth(3).unwrap_or("").trim())
        .collect();
    let text = pane.join("\n");
    for code in [
        "issuer_key_not_valid_at_issuance",
        "credential_revoked",
        "bad_holder_proof",
    ] {
        assert!(pane.iter().any(|l| l.contains(code)), "{code} cut:\n{text}");
    }
    assert!(text.contains("Mr. Somchai Jaidee"), "{text}");
}

#[test]
fn expired_card_full_screen_at_60x20() {
    let (lines, _) = draw_at(&after(4), 60, 20);
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/screens/expired-60x20.txt"
    );
    if std::env::var_os("TUATON_WRITE_SCREENS").is_some() {
        std::fs::write(path, lines.join("\n") + "\n").unwrap();
    }
    assert_eq!(
        lines.join("\n") + "\n",
        std::fs::read_to_string(path).unwrap()
    );
}
