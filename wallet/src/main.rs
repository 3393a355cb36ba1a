//! `tuaton-wallet`: the citizen's command line, a thin shell over `tuaton_wallet`.
//! Exit codes: 0 success, 2 error (wrong or locked PIN included).
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use std::io::{BufRead, IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tuaton_cli::{out, Outcome, Prompter};
use tuaton_common::holder::KeyType;
use tuaton_common::model::PartialDate;
use tuaton_common::offer::Offer;
use tuaton_common::presentation::Profile;
use tuaton_common::trust::{Anchor, TrustState};
use tuaton_wallet::{render, Pin, Wallet, WalletError, WalletOptions};

#[derive(Parser)]
#[command(
    name = "tuaton-wallet",
    version,
    about = "Your Thai national ID card as a PIN-sealed verifiable credential.",
    after_help = "Exit codes: 0 success, 2 error (wrong or locked PIN included).\nThe PIN is read from the terminal; --pin-stdin reads one line per PIN prompt from standard input."
)]
struct Cli {
    /// State directory [default: $XDG_DATA_HOME/tuaton/wallet or ~/.local/share/tuaton/wallet]
    #[arg(long, global = true, value_name = "DIR")]
    home: Option<PathBuf>,
    /// Print machine-readable JSON where output is data.
    #[arg(long, global = true)]
    json: bool,
    /// Act as of this time (RFC 3339) instead of now.
    #[arg(long, global = true, value_name = "RFC3339", value_parser = tuaton_cli::parse_at)]
    at: Option<i64>,
    /// Read PINs from standard input, one line per prompt.
    #[arg(long, global = true)]
    pin_stdin: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Set the PIN and create the holder key.
    Init {
        /// PIN length.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u8).range(6..=12))]
        pin_length: u8,
        /// Your birth date (YYYY-MM-DD, YYYY-MM or YYYY), so the PIN can't be it.
        #[arg(long)]
        birth_date: Option<String>,
        /// The holder key's kind: `ed25519` (the default: this wallet keeps its key sealed
        /// by the PIN in software, and gates check Ed25519 proofs in one batch with the
        /// issuer's, about 40 % faster) or `p256` (ES256: what a phone wallet uses, so its key
        /// can live in the Secure Enclave or StrongBox, which hold P-256 keys only).
        #[arg(long, value_name = "KIND", default_value = "ed25519", value_parser = parse_key_type)]
        key_type: KeyType,
    },
    /// Print the enrollment request for the issuer.
    Request {
        /// Also draw it as a QR code.
        #[arg(long)]
        qr: bool,
    },
    /// Store the credential package the issuer made for this wallet.
    Import {
        /// The package file.
        file: PathBuf,
        /// Check the issuer signature against this trust bundle directory.
        #[arg(long, value_name = "DIR")]
        bundle: Option<PathBuf>,
        /// The issuer's root fingerprint (64 hex digits), obtained out of band; required
        /// with --bundle unless --trust-on-first-use.
        #[arg(long, value_name = "FINGERPRINT", requires = "bundle", value_parser = tuaton_cli::parse_fingerprint)]
        expect_root: Option<[u8; 32]>,
        /// Trust whatever root the bundle starts with (lab setups only).
        #[arg(long, requires = "bundle", conflicts_with = "expect_root")]
        trust_on_first_use: bool,
        /// Replace the card this wallet holds with one from another issuer (asks you to
        /// confirm, naming both; needs --bundle, so the new issuer is checked and named).
        #[arg(long, requires = "bundle")]
        replace_card: bool,
    },
    /// Receive your card from a registration officer's offer: scan the QR on the
    /// officer's screen, type the code the officer reads out, confirm with your PIN.
    Enroll {
        /// The offer text (TTO2:...).
        #[arg(required_unless_present = "image", conflicts_with = "image")]
        offer: Option<String>,
        /// A picture (PNG or JPEG) of the officer's screen instead of the text.
        #[arg(long, value_name = "FILE")]
        image: Option<PathBuf>,
        /// The issuer's root fingerprint, when this wallet already knows it: an offer
        /// naming another root is refused.
        #[arg(long, value_name = "FINGERPRINT", value_parser = tuaton_cli::parse_fingerprint)]
        expect_root: Option<[u8; 32]>,
        /// Replace the card this wallet holds with one from another issuer (asks you to
        /// confirm, naming both; needs --expect-root, the new issuer's root).
        #[arg(long, requires = "expect_root")]
        replace_card: bool,
    },
    /// Renew the card online from the service that issued it (after the issuer rotated
    /// or revoked a signing key): the same card, signed again by the issuer's current key.
    /// Proves this wallet's holder key; nothing else is sent.
    Refresh {
        /// The issuance service's address (as in the officer's offer).
        #[arg(long, value_name = "URL")]
        service: String,
        /// The issuer's root fingerprint (64 hex digits) [default: the root remembered
        /// with the card]: the renewed card must verify against a trust bundle from it.
        #[arg(long, value_name = "FINGERPRINT", value_parser = tuaton_cli::parse_fingerprint)]
        expect_root: Option<[u8; 32]>,
    },
    /// Show the card.
    Show,
    /// Show a presentation for a gate. The fields that leave the wallet are listed first.
    Present {
        /// What to share.
        #[arg(long, default_value = "flight", value_parser = ["flight", "full", "age"])]
        profile: String,
        /// Print the QR payload alone on one line.
        #[arg(long, group = "fmt")]
        text: bool,
        /// Draw the QR code in the terminal (the default).
        #[arg(long, group = "fmt")]
        qr: bool,
        /// Write the QR code as a PNG image.
        #[arg(long, group = "fmt", value_name = "FILE")]
        png: Option<PathBuf>,
        /// Write the QR code as an SVG image.
        #[arg(long, group = "fmt", value_name = "FILE")]
        svg: Option<PathBuf>,
        /// Keep the terminal QR fresh: redraw a new one every 30 s until Ctrl-C, so a
        /// photo of an earlier one is stale by the time it reaches another gate.
        #[arg(long, conflicts_with_all = ["text", "png", "svg"])]
        live: bool,
    },
    /// Show an engagement QR, wait for one gate, show its request, answer after consent
    /// (the PIN).
    Engage {
        /// `ble` (needs a build with the `ble` feature) or `socket:HOST:PORT`.
        #[arg(long, default_value = "ble")]
        transport: String,
        /// Print the engagement payload alone on the first line of standard output (and,
        /// with --iso over a socket, its address on the second).
        #[arg(long)]
        text: bool,
        /// Speak ISO 18013-5 instead (an `mdoc:` engagement, for standard readers): the
        /// card's mdoc form, to a reader that proves who it is with a reader certificate.
        #[arg(long)]
        iso: bool,
        /// A reader CA certificate (PEM) whose readers this wallet answers (--iso;
        /// repeatable).
        #[arg(long, value_name = "FILE", requires = "iso")]
        reader_ca: Vec<PathBuf>,
        /// Answer a reader that is not verified, or that asks beyond its certificate
        /// (--iso): the citizen's explicit override.
        #[arg(long, requires = "iso")]
        allow_unverified_reader: bool,
    },
    /// Export a form of the credential.
    #[command(group(clap::ArgGroup::new("form").required(true).args(["w3c", "mdoc"])))]
    Export {
        /// The W3C VC JSON-LD document.
        #[arg(long)]
        w3c: bool,
        /// The ISO 18013-5 mdoc: a DeviceResponse with every element, CBOR, to standard
        /// output (redirect it to a file), for third-party checks. Device-signed outside
        /// any session, so no reader takes it as a live answer.
        #[arg(long)]
        mdoc: bool,
    },
    /// Change the PIN (the card stays).
    ChangePin,
    /// Wipe the wallet (for a forgotten or locked PIN); then re-enroll.
    Reset {
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

fn home(cli: &Cli) -> PathBuf {
    tuaton_cli::home(cli.home.as_deref(), "wallet")
}

/// Asks for a new PIN twice and checks it against the policy.
fn new_pin(p: &mut Prompter, len: usize, birth: Option<PartialDate>) -> anyhow::Result<Pin> {
    let a = p.ask("New PIN")?;
    let pin = Pin::parse(&a, len, birth)?;
    if p.ask("Repeat the new PIN")? != a {
        anyhow::bail!(WalletError::PinMismatch);
    }
    Ok(pin)
}

/// The bundle in `dir`, pinned by `--expect-root` or taken on first use.
fn load_bundle(
    dir: &std::path::Path,
    expect_root: Option<[u8; 32]>,
    tofu: bool,
    now: i64,
) -> anyhow::Result<TrustState> {
    let anchor = match (expect_root, tofu) {
        (Some(fp), _) => Anchor::Pinned(fp),
        (None, true) => Anchor::TrustOnFirstUse,
        (None, false) => anyhow::bail!(WalletError::Usage(
            "--bundle needs --expect-root FINGERPRINT (the issuer's root fingerprint) or --trust-on-first-use".into()
        )),
    };
    Ok(tuaton_wallet::bundle::load(dir, anchor, now)?)
}

/// A credential package file, bounded as the service's answers are (a package with its
/// portrait is ~100 KiB): never `/dev/zero` or a huge file read whole.
fn read_package(file: &std::path::Path) -> std::io::Result<Vec<u8>> {
    let max = tuaton_wallet::offer::MAX_ANSWER;
    tuaton_cli::read_bounded(file, max)?.ok_or_else(|| {
        std::io::Error::other(format!("larger than {max} bytes: not a credential package"))
    })
}

/// "Given Family" in Latin script, as the import and enroll messages name the card.
fn english_name(c: &tuaton_common::gate::DisclosedClaims) -> String {
    let part = |n: &Option<_>| n.as_ref().map(|n: &_| format!("{n}")).unwrap_or_default();
    format!("{} {}", part(&c.given_name_en), part(&c.family_name_en))
        .trim()
        .to_owned()
}

/// `enroll`: everything that can be checked is checked before the transaction code is
/// asked for (the offer parses, the PIN unlocks, the service's bundle verifies from the
/// root this wallet trusts, the offer's root is in that chain and the issuer signed the
/// offer, a card of another issuer is not replaced unconfirmed); then the offer is redeemed
/// and the package imported against that bundle.
fn enroll(cli: &Cli, w: &Wallet, p: &mut Prompter, now: i64) -> anyhow::Result<()> {
    let Cmd::Enroll {
        offer: text,
        image,
        expect_root,
        replace_card: replace,
    } = &cli.cmd
    else {
        unreachable!("enroll only")
    };
    let (text, image, expect, replace) =
        (text.as_deref(), image.as_deref(), *expect_root, *replace);
    let offer = read_offer(text, image, now)?;
    let pin = p.ask("PIN")?;
    let u = w.unlock(&pin, chrono::Utc::now().timestamp())?;
    let state = offer_bundle(&u, &offer, expect, replace, now)?;
    let offered = tuaton_wallet::HeldIssuer::of(&state, offer.issuer)?;
    eprintln!(
        "Offer from {}, signed by \"{}\" (root {})",
        tuaton_common::text::for_display(&offer.service),
        tuaton_common::text::for_display(&offered.name),
        &offered.root[..16]
    );
    // A card held from another issuer is never replaced silently: refused, or confirmed by
    // name, before the transaction code is asked for.
    confirm_issuer(&u, &state, &offered, replace, p)?;
    // The same prompter: with --pin-stdin it holds standard input, line by line.
    let typed = p.ask("Transaction code (the officer reads it out)")?;
    let tx = tuaton_common::offer::normalise_tx_code(&typed, offer.tx_code_digits)
        .map_err(WalletError::Core)?;
    // The proof's iat is the service's clock's business: the real time, not --at.
    let package = tuaton_wallet::offer::redeem(
        &offer,
        &tx,
        &u.holder_key()?,
        chrono::Utc::now().timestamp(),
    )?;
    let card = u.import_replacing(&package, Some(&state), now, replace)?;
    let c = card.gate.claims()?;
    card_added(cli.json, &card.credential_id, &c, |name| {
        Ok(format!(
            "{}\nEnrolled: the ID card of {name} (credential {}) is in your wallet.",
            render::card_text(&c, card.is_valid_at(now)?),
            card.credential_id
        ))
    })
}

/// What `enroll` and `import` print once a card is in the wallet: with `--json` its
/// credential id and English name, otherwise `text` given that name.
fn card_added(
    json: bool,
    credential_id: &str,
    c: &tuaton_common::gate::DisclosedClaims,
    text: impl FnOnce(&str) -> anyhow::Result<String>,
) -> anyhow::Result<()> {
    let name = english_name(c);
    if json {
        out(&serde_json::json!({"credential_id": credential_id, "name": name}).to_string())?;
    } else {
        out(&text(&name)?)?;
    }
    Ok(())
}

/// The offer of `enroll`, from its text or from a picture of the officer's screen;
/// refused once expired.
fn read_offer(text: Option<&str>, image: Option<&Path>, now: i64) -> anyhow::Result<Offer> {
    let text = match (text, image) {
        (Some(t), _) => t.to_owned(),
        (None, Some(i)) => tuaton_wallet::offer::read_offer_image(i)?,
        (None, None) => unreachable!("clap requires one"),
    };
    let offer = Offer::parse(&text).map_err(WalletError::BadOffer)?;
    if offer.expires <= now {
        anyhow::bail!(WalletError::Service {
            code: "offer_expired".into(),
            message: format!(
                "this credential offer expired at {}",
                tuaton_common::model::format_rfc3339(offer.expires)
            ),
        });
    }
    Ok(offer)
}

/// The offering service's trust bundle, verified from the root this wallet trusts; the
/// offer must name a root in its chain and be signed by the issuer.
fn offer_bundle(
    u: &tuaton_wallet::Unlocked<'_>,
    offer: &Offer,
    expect: Option<[u8; 32]>,
    replace: bool,
    now: i64,
) -> anyhow::Result<TrustState> {
    // The root this wallet trusts: the one remembered with its card, else the one the
    // citizen gave. Never the offer's own word: a fake screen can name any root.
    let held = u.held_issuer()?;
    let anchor = match (&held, expect) {
        (Some(h), _) if !replace => h.root_bytes()?,
        (_, Some(fp)) => fp,
        (_, None) => anyhow::bail!(WalletError::Usage(
            "this wallet trusts no issuer yet: give --expect-root FINGERPRINT (the issuer's root fingerprint, published by the issuer and shown at the office)".into()
        )),
    };
    let state = match tuaton_wallet::offer::fetch_service_bundle(&offer.service, anchor, now) {
        Ok(s) => s,
        Err(WalletError::Trust(e)) => anyhow::bail!(match &held {
            Some(h) if !replace => WalletError::OtherIssuer {
                held: h.name.clone(),
                offered: format!("an issuer whose trust bundle does not chain to it ({e})"),
            },
            _ => WalletError::BadOffer(tuaton_common::Error::field(
                "root",
                format!("is not from the issuer this wallet expects: {e}"),
            )),
        }),
        Err(e) => anyhow::bail!(e),
    };
    if !state.chain_has(&offer.root) {
        anyhow::bail!(WalletError::FakeOffer(
            "it names a root outside the issuer's chain".into()
        ));
    }
    // The issuer vouches for the service address, or nothing is sent to it (and the
    // address is not shown as if it were the issuer's).
    offer
        .verify(&state.to_store(), now)
        .map_err(|e| WalletError::FakeOffer(e.to_string()))?;
    Ok(state)
}

/// With a card held from another issuer than `offered`: refused, unless `replace` and the
/// citizen types REPLACE at a prompt naming both issuers.
fn confirm_issuer(
    u: &tuaton_wallet::Unlocked<'_>,
    state: &tuaton_common::trust::TrustState,
    offered: &tuaton_wallet::HeldIssuer,
    replace: bool,
    p: &mut Prompter,
) -> anyhow::Result<()> {
    let Some(held) = u.held_issuer()? else {
        return Ok(());
    };
    if state.chain_has(&held.root_bytes()?) {
        return Ok(());
    }
    let other = WalletError::OtherIssuer {
        held: held.name.clone(),
        offered: format!("\"{}\"", offered.name),
    };
    if !replace {
        anyhow::bail!(other);
    }
    let typed = p.ask(&format!(
        "This wallet holds a card from \"{}\" (root {}). Replace it with a card from \"{}\" (root {})? Type REPLACE to confirm",
        tuaton_common::text::for_display(&held.name),
        &held.root[..16],
        tuaton_common::text::for_display(&offered.name),
        &offered.root[..16]
    ))?;
    if typed.trim() != "REPLACE" {
        anyhow::bail!(other);
    }
    Ok(())
}

/// `refresh`: usage checked before the PIN is asked; the service's bundle verified from
/// the pinned root before anything is sent; the renewed card must carry the same claims.
fn refresh(
    cli: &Cli,
    w: &Wallet,
    p: &mut Prompter,
    service: &str,
    expect: Option<[u8; 32]>,
    now: i64,
) -> anyhow::Result<()> {
    tuaton_common::offer::check_service(service)
        .map_err(|e| WalletError::Usage(format!("--service {e}")))?;
    let pin = p.ask("PIN")?;
    let u = w.unlock(&pin, chrono::Utc::now().timestamp())?;
    let root = match (u.held_issuer()?, expect) {
        (Some(h), _) => h.root_bytes()?,
        (None, Some(fp)) => fp,
        (None, None) => anyhow::bail!(WalletError::Usage(
            "this card's issuer is not remembered: give --expect-root FINGERPRINT".into()
        )),
    };
    let state = tuaton_wallet::offer::fetch_service_bundle(service, root, now)?;
    let old = u.card()?;
    let package = tuaton_wallet::offer::refresh(service, &old.gate, &u.holder_key()?, now)?;
    // The age claims follow from the signing day (a citizen may have turned 20 since);
    // everything else must be what the card said.
    let without_ages = |mut c: tuaton_common::gate::DisclosedClaims| {
        c.age_over_18 = None;
        c.age_over_20 = None;
        c
    };
    let renewed = tuaton_common::package::CredentialPackage::parse(&package)
        .and_then(|p| p.gate_form())
        .and_then(|g| g.claims())
        .map_err(|e| WalletError::BadPackage(e.to_string()))?;
    if without_ages(renewed) != without_ages(old.gate.claims()?) {
        anyhow::bail!(WalletError::BadPackage(
            "the renewed card's claims differ from this card's; it was not stored".into()
        ));
    }
    let card = u.import_replacing(&package, Some(&state), now, false)?;
    let kid = hex::encode(card.gate.full_member()?.kid);
    if cli.json {
        out(&serde_json::json!({"credential_id": card.credential_id, "kid": kid}).to_string())?;
    } else {
        out(&format!(
            "Renewed: credential {} is now signed by the issuer's key {kid}.",
            card.credential_id
        ))?;
    }
    Ok(())
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let home = home(cli);
    let now = tuaton_cli::now_or(cli.at);
    let mut p = Prompter::new("PIN", cli.pin_stdin);
    match &cli.cmd {
        Cmd::Init {
            pin_length,
            birth_date,
            key_type,
        } => return init(&home, &mut p, *pin_length, birth_date.as_deref(), *key_type),
        Cmd::Reset { yes } => return reset(&home, *yes),
        _ => {}
    }
    let w = Wallet::open(&home)?;
    match &cli.cmd {
        Cmd::Enroll { .. } => return enroll(cli, &w, &mut p, now),
        Cmd::Engage {
            transport,
            text,
            iso: false,
            ..
        } => return engage(&w, &mut p, transport, *text, now),
        Cmd::Engage {
            transport,
            text,
            iso: true,
            reader_ca,
            allow_unverified_reader,
        } => {
            return engage_iso(
                &w,
                &mut p,
                transport,
                *text,
                reader_ca,
                *allow_unverified_reader,
            )
        }
        Cmd::Refresh {
            service,
            expect_root,
        } => return refresh(cli, &w, &mut p, service, *expect_root, now),
        _ => {}
    }
    // What an import checks without the wallet (the file, the bundle) is checked before
    // the PIN is asked for: a mistake is reported first, not after a prompt.
    let import_read = read_import(&cli.cmd, now)?;
    if matches!(cli.cmd, Cmd::Export { mdoc: true, .. }) && std::io::stdout().is_terminal() {
        return Err(WalletError::BinaryToTerminal("mdoc").into());
    }
    let pin = p.ask("PIN")?;
    let u = w.unlock(&pin, chrono::Utc::now().timestamp())?;
    match &cli.cmd {
        Cmd::Init { .. }
        | Cmd::Reset { .. }
        | Cmd::Engage { .. }
        | Cmd::Enroll { .. }
        | Cmd::Refresh { .. } => {
            unreachable!("handled above")
        }
        Cmd::Request { qr } => request(&u, *qr, now)?,
        Cmd::Import { .. } => {
            let read = import_read.expect("read above for an import");
            import(cli, &w, &u, &mut p, &pin, read, now)?;
        }
        Cmd::Show => show(cli.json, &u, now)?,
        Cmd::Present {
            profile,
            text,
            qr: _,
            png,
            svg,
            live,
        } => present(
            &u,
            profile,
            *text,
            png.as_deref(),
            svg.as_deref(),
            *live,
            now,
        )?,
        Cmd::Export { mdoc: false, .. } => out(&u.card()?.w3c)?,
        Cmd::Export { mdoc: true, .. } => {
            let response = u.export_mdoc()?;
            let mut o = std::io::stdout().lock();
            o.write_all(&response)?;
            o.flush()?;
        }
        Cmd::ChangePin => change_pin(&w, &u, &mut p)?,
    }
    Ok(())
}

/// `init`: a new wallet in `home`, under a PIN of `pin_length` digits that is not the
/// birth date.
/// `--key-type`: `ed25519` or `p256`.
fn parse_key_type(s: &str) -> Result<KeyType, String> {
    KeyType::parse(s).ok_or_else(|| format!("`{s}` is not a key type; use ed25519 or p256"))
}

fn init(
    home: &Path,
    p: &mut Prompter,
    pin_length: u8,
    birth_date: Option<&str>,
    key_type: KeyType,
) -> anyhow::Result<()> {
    if Wallet::exists(home) {
        anyhow::bail!(WalletError::AlreadyInitialised(home.to_path_buf()));
    }
    let birth = birth_date
        .map(|b| PartialDate::parse("birth_date", b))
        .transpose()
        .map_err(WalletError::Core)?;
    let pin = new_pin(p, usize::from(pin_length), birth)?;
    let opts = WalletOptions {
        pin_len: usize::from(pin_length),
        key_type,
        ..WalletOptions::default()
    };
    Wallet::init(home, &pin, opts)?;
    let kind = match key_type {
        KeyType::Ed25519 => "Ed25519",
        KeyType::P256 => "P-256",
    };
    out(&format!("Wallet created in {} (holder key: {kind}). Next, at the registration office: scan the officer's offer with `tuaton-wallet enroll --image FILE` (or the offer text); an office without the service takes `tuaton-wallet request` instead.", home.display()))?;
    Ok(())
}

/// `reset`: erases the wallet in `home`, once the citizen typed RESET (unless `yes`).
fn reset(home: &Path, yes: bool) -> anyhow::Result<()> {
    if !Wallet::exists(home) {
        anyhow::bail!(WalletError::NotInitialised(home.to_path_buf()));
    }
    if !yes {
        eprint!(
            "This erases your ID card and keys from {}. Type RESET to continue: ",
            home.display()
        );
        let mut l = String::new();
        std::io::stdin().lock().read_line(&mut l)?;
        if l.trim() != "RESET" {
            out("Nothing was erased.")?;
            return Ok(());
        }
    }
    Wallet::reset(home)?;
    out("The wallet is erased. To get your card back: run `tuaton-wallet init`, then `tuaton-wallet request`, and take the request to a registration office with your ID card. Ask the officer to revoke your old card (the office finds it by your ID) and to issue a new one.")?;
    Ok(())
}

/// `request`: the enrollment request for the issuer, on standard output.
fn request(u: &tuaton_wallet::Unlocked<'_>, qr: bool, now: i64) -> anyhow::Result<()> {
    let r = u.request(now)?;
    out(&r)?;
    if qr {
        // The drawing is for the officer's scanner, on the terminal; standard output
        // keeps only the request text, so `request --qr > request.txt` stays usable.
        eprintln!("{}", render::qr_terminal(&render::qr(&r)?));
    }
    Ok(())
}

/// What `import` reads before the PIN is asked for: the package file, and the trust
/// bundle with `--bundle`. `None` for every other command.
fn read_import(cmd: &Cmd, now: i64) -> anyhow::Result<Option<(Vec<u8>, Option<TrustState>)>> {
    let Cmd::Import {
        file,
        bundle,
        expect_root,
        trust_on_first_use,
        ..
    } = cmd
    else {
        return Ok(None);
    };
    let package = read_package(file).map_err(|source| WalletError::Io {
        path: file.clone(),
        source,
    })?;
    let state = bundle
        .as_deref()
        .map(|b| load_bundle(b, *expect_root, *trust_on_first_use, now))
        .transpose()?;
    Ok(Some((package, state)))
}

/// `import`: stores the package (and bundle) `read_import` read; a card from another
/// issuer is replaced only with --replace-card, confirmed by name.
fn import(
    cli: &Cli,
    w: &Wallet,
    u: &tuaton_wallet::Unlocked<'_>,
    p: &mut Prompter,
    pin: &str,
    (pkg, state): (Vec<u8>, Option<TrustState>),
    now: i64,
) -> anyhow::Result<()> {
    let Cmd::Import { replace_card, .. } = &cli.cmd else {
        unreachable!("import only")
    };
    if let (Some(st), true) = (&state, *replace_card) {
        let id = tuaton_common::package::CredentialPackage::parse(&pkg)
            .and_then(|p| p.gate_form())
            .and_then(|g| g.full_member().map(|m| m.payload.issuer))
            .map_err(|e| WalletError::BadPackage(e.to_string()))?;
        confirm_issuer(u, st, &tuaton_wallet::HeldIssuer::of(st, id)?, true, p)?;
    }
    let card = u.import_replacing(&pkg, state.as_ref(), now, *replace_card)?;
    let c = card.gate.claims()?;
    if state.is_none() {
        eprintln!("warning: no --bundle given, so the issuer's signature was not checked against trusted keys");
    }
    if let Some(b) = c.birth_date {
        if Pin::parse(pin, w.pin_len()?, Some(b)).is_err() {
            eprintln!("warning: your PIN is easy to guess from your card; change it with `tuaton-wallet change-pin`");
        }
    }
    card_added(cli.json, &card.credential_id, &c, |name| {
        Ok(format!(
            "Imported the ID card of {name} (credential {}).",
            card.credential_id
        ))
    })
}

/// `show`: the card (with JSON, its claims, validity and credential id), and its portrait
/// when on a terminal.
fn show(json: bool, u: &tuaton_wallet::Unlocked<'_>, now: i64) -> anyhow::Result<()> {
    let card = u.card()?;
    let c = card.gate.claims()?;
    let valid = card.is_valid_at(now)?;
    if json {
        let mut j = c.to_json();
        j["valid"] = valid.into();
        j["credential_id"] = card.credential_id.into();
        if let Some(t) = card.mdoc_valid_until {
            j["mdoc_valid_until"] = tuaton_common::model::format_rfc3339(t).into();
        }
        out(&j.to_string())?;
    } else {
        if std::io::stdout().is_terminal() {
            if let Some(a) = c
                .portrait
                .as_deref()
                .and_then(|p| render::portrait_ansi(p, 16))
            {
                out(a.trim_end())?;
            }
        } else if c.portrait.is_some() {
            out("[portrait: shown on a terminal]")?;
        }
        out(&render::card_text(&c, valid))?;
        if let Some(t) = card.mdoc_valid_until {
            let when = tuaton_common::model::format_rfc3339(t);
            out(&if t > now {
                format!("ISO mdoc form valid until {when} (renew it before: tuaton-wallet refresh)")
            } else {
                format!("ISO mdoc form EXPIRED at {when}: renew it with tuaton-wallet refresh")
            })?;
        }
    }
    Ok(())
}

/// `present`: says what leaves the phone, then shows one presentation as text, a QR
/// image file or a terminal QR (or, with `live`, a terminal QR renewed until Ctrl-C).
fn present(
    u: &tuaton_wallet::Unlocked<'_>,
    profile: &str,
    text: bool,
    png: Option<&Path>,
    svg: Option<&Path>,
    live: bool,
    now: i64,
) -> anyhow::Result<()> {
    let profile: Profile = profile.parse().map_err(WalletError::Core)?;
    // Consent comes first: say exactly what leaves the phone.
    eprintln!(
        "Sharing with the gate: {}",
        tuaton_common::gate::consent_text(profile.groups())
    );
    if live {
        return present_live(u, profile);
    }
    let payload = u.present(profile, now)?;
    if text {
        out(&payload)?;
    } else {
        let code = render::qr(&payload)?;
        // An image file, or the terminal.
        let image = match (png, svg) {
            (Some(f), _) => Some((f, tuaton_cli::qr::Target::Png(f.to_path_buf()))),
            (_, Some(f)) => Some((f, tuaton_cli::qr::Target::Svg(f.to_path_buf()))),
            _ => None,
        };
        if let Some((f, target)) = image {
            tuaton_cli::qr::write(&code, &target).map_err(|source| WalletError::Io {
                path: f.to_path_buf(),
                source,
            })?;
            eprintln!(
                "QR code (version {}) written to {}",
                render::qr_version(&code),
                f.display()
            );
        } else {
            out(&render::qr_terminal(&code))?;
            eprintln!(
                "Valid for about a minute. Show it to the gate scanner (--live keeps it fresh)."
            );
        }
    }
    Ok(())
}

/// `present --live`: a fresh terminal QR every `LIVE_REFRESH_SECS`, until Ctrl-C (or an
/// error).
fn present_live(u: &tuaton_wallet::Unlocked<'_>, profile: Profile) -> anyhow::Result<()> {
    // Each frame is dated by the real clock when drawn (`--at` would make every
    // frame stale or early at once).
    loop {
        let t = chrono::Utc::now().timestamp();
        let code = render::qr(&u.present(profile, t)?)?;
        // Clear the screen and home the cursor, then draw the fresh code.
        out(&format!("\x1b[2J\x1b[H{}", render::qr_terminal(&code)))?;
        eprintln!(
            "Live QR, renewed every {LIVE_REFRESH_SECS} s. Show it to the gate scanner; Ctrl-C when done."
        );
        std::thread::sleep(std::time::Duration::from_secs(LIVE_REFRESH_SECS));
    }
}

/// `change-pin`: a new PIN, checked against the birth date on the card when it has one.
fn change_pin(w: &Wallet, u: &tuaton_wallet::Unlocked<'_>, p: &mut Prompter) -> anyhow::Result<()> {
    let birth = u
        .card()
        .ok()
        .and_then(|c| c.gate.claims().ok())
        .and_then(|c| c.birth_date);
    let new = new_pin(p, w.pin_len()?, birth)?;
    u.change_pin(&new)?;
    out("PIN changed.")?;
    Ok(())
}

/// How often `present --live` draws a fresh QR: well inside a gate's default 60 s window.
const LIVE_REFRESH_SECS: u64 = 30;

/// The PIN prompt of an engagement: shows the gate's request, then asks for the PIN.
struct PinConsent<'a>(&'a mut Prompter);

impl tuaton_wallet::engage::Consent for PinConsent<'_> {
    fn ask(&mut self, what: &str) -> tuaton_wallet::Result<String> {
        // The whole line through one_line: nothing a gate or reader sent can move the
        // cursor or reorder the text the citizen reads before typing the PIN.
        eprintln!("{}", tuaton_cli::one_line(what));
        self.0
            .ask("Enter your PIN to share (anything else refuses)")
            .map_err(|e| WalletError::NoConsent(e.to_string()))
    }
}

fn engage(
    w: &Wallet,
    p: &mut Prompter,
    transport: &str,
    text: bool,
    now: i64,
) -> anyhow::Result<()> {
    use tuaton_wallet::engage::{Engagement, Listener};
    let (listener, how) = Listener::open(transport)?;
    let e = Engagement::new(listener, how);
    if text {
        out(&e.text)?;
    } else {
        out(&render::qr_terminal(&render::qr(&e.text)?))?;
        eprintln!("Show this to the gate. Waiting for it to connect...");
    }
    let (_, writes) = e.run(w, &mut PinConsent(p), now, tuaton_cli::real_now())?;
    eprintln!("Shared with the gate ({writes} messages).");
    Ok(())
}

/// `engage --iso`: an ISO 18013-5 engagement; answers one reader its policy accepts.
fn engage_iso(
    w: &Wallet,
    p: &mut Prompter,
    transport: &str,
    text: bool,
    reader_ca: &[PathBuf],
    allow_unverified: bool,
) -> anyhow::Result<()> {
    use tuaton_wallet::engage::{IsoEngagement, Listener, ReaderPolicy};
    // The issuer's signed trust list names the reader CAs; --reader-ca adds others.
    let mut cas = w.reader_cas()?;
    for f in reader_ca {
        let pem = tuaton_cli::read_bounded(f, 64 * 1024)
            .and_then(|b| b.ok_or_else(|| std::io::Error::other("larger than 64 KiB")))
            .map_err(|source| WalletError::Io {
                path: f.clone(),
                source,
            })?;
        let pem = String::from_utf8_lossy(&pem);
        for der in tuaton_common::mdoc::x509::from_pem(&pem).map_err(WalletError::Trust)? {
            cas.push(tuaton_common::mdoc::Iaca::from_der(&der).map_err(WalletError::Trust)?);
        }
    }
    let (listener, how) = Listener::open(transport)?;
    let e = IsoEngagement::new(listener, &how)?;
    if text {
        out(&e.text)?;
        if let tuaton_common::session::Transport::Socket { addr } = &how {
            out(&format!("socket:{addr}"))?;
        }
    } else {
        out(&render::qr_terminal(&render::qr(&e.text)?))?;
        eprintln!("Show this to the reader. Waiting for it to connect...");
    }
    let policy = ReaderPolicy {
        cas,
        allow_unverified,
        revoked: w.revoked_certificates()?,
    };
    let (shared, writes) = e.run(w, &mut PinConsent(p), &policy, tuaton_cli::real_now())?;
    let n: usize = shared.values().map(Vec::len).sum();
    eprintln!("Shared {n} elements with the reader ({writes} messages).");
    Ok(())
}

fn main() -> ExitCode {
    tuaton_cli::private_umask();
    let cli = Cli::parse();
    let home = home(&cli);
    tuaton_store::exit_cleanly_on_io_panic(&home);
    tuaton_cli::finish::<WalletError>(run(&cli).map(|()| Outcome::Done), &home)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
