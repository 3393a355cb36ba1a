//! The commands over PostgreSQL (`--database`): the issuance service, office credentials,
//! and the administration the sled store also has; and the officer's offer client.

use std::path::Path;
use std::sync::Arc;
use tuaton_cli::{out, Prompter};
use tuaton_common::model::format_rfc3339;
use tuaton_common::offer::{OfferRequest, OfferResponse};
use tuaton_issuer::pg::{KeySource, PgIssuer};
use tuaton_issuer::token::TokenConfig;
use tuaton_issuer::{InitOptions, IssuerError};
use zeroize::Zeroizing;

use super::{Cli, Cmd, OfficeCmd};

/// The office credential file: which office, and its bearer secret.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OfficeCredential {
    format: String,
    office: String,
    admin: bool,
    token: String,
}
const CREDENTIAL_FORMAT: &str = "tuaton-office-credential/1";
const MAX_CREDENTIAL_BYTES: u64 = 4096;

fn key_source(cli: &Cli, confirm: bool) -> anyhow::Result<KeySource> {
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

fn unlocked(cli: &Cli, url: &str) -> anyhow::Result<PgIssuer> {
    let mut iss = PgIssuer::connect(url)?;
    iss.unlock(key_source(cli, false)?)?;
    Ok(iss)
}

fn officer_name(given: Option<&str>) -> String {
    given
        .map(str::to_owned)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "admin".into())
}

/// Every command with `--database`.
pub(super) fn run(cli: &Cli, url: &str, now: i64) -> anyhow::Result<()> {
    let me = officer_name(None);
    match &cli.cmd {
        Cmd::Init {
            name,
            root_keys,
            threshold,
            issuer_id,
            status_list_size,
        } => {
            let mut o = InitOptions::new(name);
            o.root_keys = *root_keys;
            o.threshold = *threshold;
            o.issuer_id = *issuer_id;
            o.status_list_size = *status_list_size;
            let iss = PgIssuer::init(url, &o, key_source(cli, true)?, now)?;
            let fp = iss.root_fingerprint()?;
            out(&format!(
                "Issuer \"{}\" created in the database (keys {}).\nRoot fingerprint {}\nNext: `tuaton-issuer office add NAME --out FILE`, then `tuaton-issuer serve`.",
                o.name,
                if cli.pkcs11_module.is_some() { "in the PKCS#11 token" } else { "sealed under the passphrase" },
                hex::encode(fp)
            ))?;
        }
        Cmd::Office { cmd } => {
            let iss = PgIssuer::connect(url)?;
            match cmd {
                OfficeCmd::Add {
                    name,
                    admin,
                    out: file,
                } => {
                    // The file is made first (exclusively), so a credential is never
                    // created that nobody holds.
                    let io = |source| IssuerError::Io {
                        path: file.clone(),
                        source,
                    };
                    let mut f = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(file)
                        .map_err(io)?;
                    let token = match iss.add_office(name, *admin, now) {
                        Ok(t) => t,
                        Err(e) => {
                            let _ = std::fs::remove_file(file);
                            return Err(e.into());
                        }
                    };
                    let cred = OfficeCredential {
                        format: CREDENTIAL_FORMAT.into(),
                        office: name.clone(),
                        admin: *admin,
                        token,
                    };
                    std::io::Write::write_all(
                        &mut f,
                        serde_json::to_string_pretty(&cred)?.as_bytes(),
                    )
                    .and_then(|()| f.sync_all())
                    .map_err(io)?;
                    out(&format!(
                        "{} credential for \"{name}\" written to {} (owner-only). Give it to that office's machine only; `tuaton-issuer office revoke` withdraws it.",
                        if *admin { "Admin" } else { "Office" },
                        file.display()
                    ))?;
                }
                OfficeCmd::Revoke { name } => {
                    iss.revoke_office(name, now)?;
                    out(&format!("Office \"{name}\" can no longer make offers."))?;
                }
            }
        }
        Cmd::Serve { listen, public_url } => {
            let iss = unlocked(cli, url)?;
            let public_url = public_url
                .clone()
                .unwrap_or_else(|| format!("http://{listen}"));
            tuaton_common::offer::check_service(&public_url)
                .map_err(|e| IssuerError::Usage(format!("--public-url {e}")))?;
            let listener =
                std::net::TcpListener::bind(listen).map_err(|source| IssuerError::Io {
                    path: listen.to_string().into(),
                    source,
                })?;
            eprintln!(
                "Issuance service on {} (offers name {public_url}). Ctrl-C stops it.",
                listener.local_addr()?
            );
            if iss.bundle_file(tuaton_common::bundle::INDEX)?.is_none() {
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
            tuaton_issuer::http::serve(
                Arc::new(tuaton_issuer::http::App {
                    issuer: Arc::new(iss),
                    public_url,
                    now: clock,
                }),
                listener,
            )?;
        }
        Cmd::Rotate => {
            let k = unlocked(cli, url)?.rotate("cli", &me, now)?;
            out(&format!(
                "Signing key {} is now active; the previous key is retired. Publish to tell the gates.",
                hex::encode(&k.kid)
            ))?;
        }
        Cmd::Revoke { credential_id } => {
            let r = PgIssuer::connect(url)?.revoke(credential_id, "cli", &me, now)?;
            out(&format!(
                "Credential {} revoked (status list {} index {}). Publish to tell the gates.",
                r.credential_id, r.list, r.index
            ))?;
        }
        Cmd::Keys => {
            let iss = PgIssuer::connect(url)?;
            let mut s = format!(
                "Root fingerprint {}\n\nKID       STATE    SIGNING WINDOW\n",
                hex::encode(iss.root_fingerprint()?)
            );
            for k in iss.signing_keys()? {
                s.push_str(&format!(
                    "{}  {:<8} {} .. {}\n",
                    hex::encode(&k.kid),
                    k.state.name(),
                    format_rfc3339(k.not_before),
                    k.not_after
                        .map(format_rfc3339)
                        .unwrap_or_else(|| "now".into())
                ));
            }
            out(s.trim_end())?;
        }
        Cmd::Publish {
            out: dir,
            valid_days,
        } => {
            let built = unlocked(cli, url)?.publish("cli", &me, now, *valid_days)?;
            tuaton_issuer::write_bundle(dir, &built)?;
            let r = built.report;
            out(&format!(
                "Published trust list version {} (root version {}, {} status list(s), {} revoked) to {} and to the service's /bundle/; valid until {}.\nRoot fingerprint {}",
                r.trust_list_version, r.root_version, r.status_lists, r.revoked, dir.display(), format_rfc3339(r.expires), r.root_fingerprint
            ))?;
        }
        Cmd::Issue { .. } => anyhow::bail!(IssuerError::Usage(
            "with --database, issue through the service: `tuaton-issuer offer --service URL ...`"
                .into()
        )),
        Cmd::RevokeKey { .. } | Cmd::RotateRoot | Cmd::Backup { .. } | Cmd::Restore { .. } => {
            anyhow::bail!(IssuerError::Usage(
                "this command works on the sled store only (drop --database); back PostgreSQL up with pg_dump".into()
            ))
        }
        Cmd::Offer { .. } => unreachable!("needs no database"),
    }
    Ok(())
}

/// The officer's client: record in, offer QR and transaction code out.
pub(super) fn offer(
    service: &str,
    credential: &Path,
    record: &Path,
    officer: Option<&str>,
    text_only: bool,
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
    tuaton_common::offer::Offer::parse(&r.offer).map_err(|e| IssuerError::Unreachable {
        url: service.into(),
        reason: format!("its offer does not parse ({e})"),
    })?;
    let tx =
        tuaton_common::offer::normalise_tx_code(&r.tx_code, tuaton_common::offer::TX_CODE_DIGITS)
            .map_err(|e| IssuerError::Unreachable {
            url: service.into(),
            reason: format!("its transaction code is malformed ({e})"),
        })?;
    if text_only {
        out(&r.offer)?;
        out(&format!("Transaction code: {tx}  (expires {})", r.expires))?;
        return Ok(());
    }
    let code = qrcode::QrCode::with_error_correction_level(r.offer.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| IssuerError::Usage(format!("the offer does not fit a QR code ({e})")))?;
    let qr = code
        .render::<qrcode::render::unicode::Dense1x2>()
        .quiet_zone(true)
        .build();
    out(&format!(
        "{qr}\n{}\n\nAsk the citizen to scan this with tuaton-wallet (or: tuaton-wallet enroll TEXT),\nthen read out the transaction code:  {} {}\nThe offer works once and expires at {}.",
        r.offer,
        &tx[..3],
        &tx[3..],
        r.expires
    ))?;
    Ok(())
}
