//! The commands over PostgreSQL (`--database`): the issuance service, office credentials,
//! and the administration the sled store also has; and the officer's offer client.

use std::path::Path;
use std::sync::Arc;
use tuaton_cli::{out, Prompter};
use tuaton_common::offer::{OfferRequest, OfferResponse};
use tuaton_issuer::pg::PgStore;
use tuaton_issuer::token::TokenConfig;
use tuaton_issuer::{Actor, Issuer, IssuerError, KeySource};
use zeroize::Zeroizing;

use super::{Cli, Cmd, OfficeCmd, OfficerCmd};

use tuaton_issuer::pg::{OfficeCredential, CREDENTIAL_FORMAT};
const MAX_CREDENTIAL_BYTES: u64 = 4096;

/// Where the keys are: the token named on the command line, else sealed under the
/// passphrase (asked twice when `confirm`).
pub(super) fn key_source(cli: &Cli, confirm: bool) -> anyhow::Result<KeySource> {
    if let Some(module) = &cli.pkcs11_module {
        let pin = match std::env::var("TUATON_TOKEN_PIN") {
            Ok(p) => p,
            Err(_) => Prompter::new("token PIN", cli.passphrase_stdin).ask("Token user PIN")?,
        };
        return Ok(KeySource::Token(TokenConfig {
            module: module.clone(),
            label: cli.token_label.clone().unwrap_or_default(),
            pin,
        }));
    }
    Ok(KeySource::Passphrase(Zeroizing::new(
        super::read_passphrase(cli, confirm)?,
    )))
}

/// Every command with `--database`. CLI commands use one connection; `serve` up to
/// `--max-connections`.
pub(super) async fn run(cli: &Cli, url: &str, now: i64) -> anyhow::Result<()> {
    let connections = match &cli.cmd {
        Cmd::Serve {
            max_connections, ..
        } => *max_connections as usize,
        _ => 1,
    };
    let store = PgStore::connect(url, connections).await?;
    if let Cmd::Init { .. } = &cli.cmd {
        let iss = Issuer::init(
            store,
            &super::init_options(cli),
            key_source(cli, true)?,
            now,
        )
        .await?;
        return super::after_init(cli, &iss, "the database").await;
    }
    let mut iss = Issuer::open(store).await?;
    if super::needs_keys(&cli.cmd) {
        iss.unlock(key_source(cli, false)?).await?;
    }
    match &cli.cmd {
        Cmd::Office { cmd } => match cmd {
            OfficeCmd::Add {
                name,
                admin,
                out: file,
            } => office_add(cli, &iss, name, *admin, file, now).await,
            OfficeCmd::Revoke {
                name,
                revoke_issued_since,
            } => office_revoke(cli, &iss, name, *revoke_issued_since, now).await,
        },
        Cmd::Officer { cmd } => match cmd {
            OfficerCmd::Add { name, office } => {
                let password = match std::env::var("TUATON_OFFICER_PASSWORD") {
                    Ok(p) => p,
                    Err(_) => {
                        let mut p = Prompter::new("password", cli.passphrase_stdin);
                        let first = p.ask("The officer's password (10 characters or more)")?;
                        if p.ask("The same password again")? != first {
                            anyhow::bail!(IssuerError::Usage(
                                "the two passwords differ; nothing was created".into()
                            ));
                        }
                        first
                    }
                };
                iss.add_officer(name, office, &password, &Actor::cli(), now)
                    .await?;
                super::say(
                    cli,
                    serde_json::json!({"officer": name, "office": office}),
                    &format!("Officer \"{name}\" of \"{office}\" can sign in to the console at /console."),
                )
            }
            OfficerCmd::Revoke { name } => {
                iss.revoke_officer(name, &Actor::cli(), now).await?;
                super::say(
                    cli,
                    serde_json::json!({"revoked": name}),
                    &format!("Officer \"{name}\" can no longer sign in; their sessions ended."),
                )
            }
        },
        Cmd::Serve {
            listen,
            public_url,
            redeem_rate,
            trusted_proxy,
            log_format,
            ..
        } => {
            // Request lines, with the request's id on each, to standard error.
            let log = tracing_subscriber::fmt()
                .with_writer(std::io::stderr)
                .with_target(false)
                .with_ansi(false);
            let _ = match log_format {
                super::LogFormat::Text => log.try_init(),
                super::LogFormat::Json => log.json().with_current_span(true).try_init(),
            };
            serve(
                cli,
                iss,
                listen,
                public_url.as_deref(),
                (*redeem_rate, *trusted_proxy),
            )
            .await
        }
        Cmd::Publish {
            out: dir,
            valid_days,
        } => publish(cli, &iss, dir, *valid_days, now).await,
        Cmd::Backup { .. } | Cmd::Restore { .. } => anyhow::bail!(IssuerError::Usage(
            "with --database, back up and restore with pg_dump and pg_restore (docs/ISSUANCE.md, \"Backup and restore\")".into()
        )),
        _ => super::common(cli, &iss, now).await,
    }
}

/// `office add`: a new office (or admin) credential, written to the new file `file`.
async fn office_add(
    cli: &Cli,
    iss: &Issuer<PgStore>,
    name: &str,
    admin: bool,
    file: &Path,
    now: i64,
) -> anyhow::Result<()> {
    // The file is made first (exclusively), so a credential is never created that nobody
    // holds.
    let io = |source| IssuerError::Io {
        path: file.to_path_buf(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(file)
        .map_err(io)?;
    let token = match iss.add_office(name, admin, now).await {
        Ok(t) => t,
        Err(e) => {
            let _ = std::fs::remove_file(file);
            return Err(e.into());
        }
    };
    let cred = OfficeCredential {
        format: CREDENTIAL_FORMAT.into(),
        office: name.to_owned(),
        admin,
        token,
    };
    std::io::Write::write_all(&mut f, serde_json::to_string_pretty(&cred)?.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(io)?;
    super::say(
        cli,
        serde_json::json!({"office": name, "admin": admin, "file": file}),
        &format!(
            "{} credential for \"{name}\" written to {} (owner-only). Give it to that office's machine only; `tuaton-issuer office revoke` withdraws it.",
            if admin { "Admin" } else { "Office" },
            file.display()
        ),
    )
}

/// `office revoke`: the office's credential stops working; with `revoke_issued_since`,
/// the cards it issued from then on are revoked too.
async fn office_revoke(
    cli: &Cli,
    iss: &Issuer<PgStore>,
    name: &str,
    revoke_issued_since: Option<i64>,
    now: i64,
) -> anyhow::Result<()> {
    let n = iss.revoke_office(name, now, revoke_issued_since).await?;
    let cards = match revoke_issued_since {
        Some(_) => {
            format!(" {n} card(s) it issued since then are revoked: publish to tell the gates.")
        }
        None => String::new(),
    };
    super::say(
        cli,
        serde_json::json!({"office": name, "revoked": true, "cards_revoked": n}),
        &format!("Office \"{name}\" can no longer make offers; its open offers are closed.{cards}"),
    )
}

/// `publish` with `--database`: a new bundle, served by the service at /bundle/ and
/// written to `dir` too.
async fn publish(
    cli: &Cli,
    iss: &Issuer<PgStore>,
    dir: &Path,
    valid_days: u32,
    now: i64,
) -> anyhow::Result<()> {
    let built = iss.publish(&Actor::cli(), now, valid_days).await?;
    tuaton_issuer::write_bundle(dir, &built)?;
    super::published(
        cli,
        &built.report,
        &format!("{} and to the service's /bundle/", dir.display()),
    )
}

async fn serve(
    cli: &Cli,
    iss: Issuer<PgStore>,
    listen: &std::net::SocketAddr,
    public_url: Option<&str>,
    (redeem_rate, trusted_proxy): (u32, Option<std::net::IpAddr>),
) -> anyhow::Result<()> {
    let public_url = public_url
        .map(str::to_owned)
        .unwrap_or_else(|| format!("http://{listen}"));
    tuaton_common::offer::check_service(&public_url)
        .map_err(|e| IssuerError::Usage(format!("--public-url {e}")))?;
    // Every connection costs a descriptor: take all the system allows this process.
    let lim = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let _ = rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: lim.maximum,
            maximum: lim.maximum,
        },
    );
    let listener = std::net::TcpListener::bind(listen).map_err(|source| IssuerError::Io {
        path: listen.to_string().into(),
        source,
    })?;
    eprintln!(
        "Issuance service on {} (offers name {public_url}). Ctrl-C or SIGTERM stops it.",
        listener.local_addr()?
    );
    if iss
        .bundle_file(tuaton_common::bundle::INDEX)
        .await?
        .is_none()
    {
        // Wallets verify the bundle before they redeem: without one, none can enrol.
        eprintln!("warning: nothing is published yet; wallets cannot enrol until `tuaton-issuer publish` has run");
    }
    // `--at` fixes the service's clock (tests); otherwise each request reads it.
    static AT: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let clock: fn() -> i64 = match cli.at {
        Some(t) => {
            AT.set(t).ok();
            || *AT.get().expect("set")
        }
        None => tuaton_cli::real_now,
    };
    let app = Arc::new(tuaton_issuer::http::App {
        issuer: Arc::new(iss),
        public_url,
        now: clock,
        redeem_limit: match redeem_rate {
            0 => None,
            r => Some(tuaton_issuer::http::RateLimit {
                burst: 3 * r,
                per_sec: r,
            }),
        },
        limiter: Default::default(),
        trusted_proxy,
        bundles: Default::default(),
        metrics: Default::default(),
        nonce_key: Default::default(),
    });
    // Returns once SIGTERM or Ctrl-C came and the requests in flight have finished; the
    // runtime (and the pool's connections) close after, outside any async context.
    tuaton_issuer::http::serve(app, listener).await?;
    eprintln!("Issuance service stopped.");
    Ok(())
}

/// The officer's client: record in, offer QR and transaction code out.
pub(super) fn offer(
    cli: &Cli,
    service: &str,
    credential: &Path,
    record: &Path,
    officer: Option<&str>,
    shown: OfferShown,
) -> anyhow::Result<()> {
    tuaton_common::offer::check_service(service)
        .map_err(|e| IssuerError::Usage(format!("--service {e}")))?;
    let io = |source| IssuerError::Io {
        path: credential.into(),
        source,
    };
    let bytes = tuaton_cli::read_bounded(credential, MAX_CREDENTIAL_BYTES)
        .map_err(io)?
        .ok_or_else(|| io(std::io::Error::other("larger than 4 KiB")))?;
    let cred: OfficeCredential = serde_json::from_slice(&bytes)
        .ok()
        .filter(|c: &OfficeCredential| c.format == CREDENTIAL_FORMAT)
        .ok_or_else(|| {
            IssuerError::Usage(format!(
                "{} is not an office credential file (made by `tuaton-issuer office add`)",
                credential.display()
            ))
        })?;
    let (rec, portrait) = tuaton_issuer::read_record(record)?;
    let req = OfferRequest {
        officer: officer_name(officer),
        record: serde_json::from_slice(&rec)?,
        portrait: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &portrait),
    };
    let r: OfferResponse =
        tuaton_issuer::http::post_json(service, "/v1/offers", Some(&cred.token), &req)?;
    // The offer and code come from the network: checked before they reach the screen.
    for text in [&r.offer, &r.offer_compact] {
        tuaton_common::offer::Offer::parse(text).map_err(|e| IssuerError::Unreachable {
            url: service.into(),
            reason: format!("its offer does not parse ({e})"),
        })?;
    }
    let tx =
        tuaton_common::offer::normalise_tx_code(&r.tx_code, tuaton_common::offer::TX_CODE_DIGITS)
            .map_err(|e| IssuerError::Unreachable {
            url: service.into(),
            reason: format!("its transaction code is malformed ({e})"),
        })?;
    if cli.json {
        return super::say(
            cli,
            serde_json::json!({"offer": r.offer, "offer_compact": r.offer_compact, "tx_code": tx, "expires": r.expires}),
            "",
        );
    }
    if shown.text_only {
        out(&r.offer)?;
        out(&format!("Transaction code: {tx}  (expires {})", r.expires))?;
        return Ok(());
    }
    // The standard offer: any OpenID4VCI wallet reads it (level L: it is on a screen, not
    // worn paper, and the terminal has room for fewer modules).
    let code = tuaton_cli::qr::qr_low(&r.offer)
        .map_err(|e| IssuerError::Usage(format!("the offer does not fit a QR code ({e})")))?;
    if let Some(t) = &shown.picture {
        let (tuaton_cli::qr::Target::Png(f) | tuaton_cli::qr::Target::Svg(f)) = t;
        tuaton_cli::qr::write(&code, t).map_err(|source| IssuerError::Io {
            path: f.clone(),
            source,
        })?;
        eprintln!("Offer QR written to {}", f.display());
    }
    out(&format!(
        "{}\n{}\n\nAsk the citizen to scan this with their wallet (or: tuaton-wallet enroll TEXT),\nthen read out the transaction code:  {} {}\nThe offer works once and expires at {}.",
        tuaton_cli::qr::terminal(&code),
        r.offer,
        &tx[..3],
        &tx[3..],
        r.expires
    ))?;
    Ok(())
}

/// How the officer's client shows an offer: the text alone (`--text`), or the QR on the
/// terminal and, with `--png`/`--svg`, in a picture file too.
pub(super) struct OfferShown {
    pub(super) text_only: bool,
    pub(super) picture: Option<tuaton_cli::qr::Target>,
}

/// Who is issuing, for the audit: `--officer`, else `$USER`.
fn officer_name(given: Option<&str>) -> String {
    given
        .map(str::to_owned)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "admin".into())
}
