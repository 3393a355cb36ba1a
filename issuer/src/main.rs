//! `tuaton-issuer`: a thin command-line shell over `tuaton_issuer::Issuer`.
//! Exit codes: 0 success, 2 error. Errors: one line saying what, one saying what to do.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tuaton_cli::{out, Outcome, Prompter};
use tuaton_common::model::format_rfc3339;
use tuaton_issuer::{InitOptions, Issuer, IssuerError};

#[derive(Parser)]
#[command(
    name = "tuaton-issuer",
    version,
    about = "Issue, rotate and revoke Thai national ID credentials; publish the trust bundle gates sync.",
    after_help = "Exit codes: 0 success, 2 error.\nThe passphrase is read from the terminal, from standard input with --passphrase-stdin, or from TUATON_ISSUER_PASSPHRASE."
)]
struct Cli {
    /// State directory [default: $XDG_DATA_HOME/tuaton/issuer or ~/.local/share/tuaton/issuer]
    #[arg(long, global = true, value_name = "DIR")]
    home: Option<PathBuf>,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    json: bool,
    /// Act as of this time (RFC 3339) instead of now.
    #[arg(long, global = true, value_name = "RFC3339", value_parser = tuaton_cli::parse_at)]
    at: Option<i64>,
    /// Read the passphrase from standard input (one line).
    #[arg(long, global = true)]
    passphrase_stdin: bool,
    /// Keep the issuer in PostgreSQL (the issuance service's store) instead of the sled
    /// store in --home.
    #[arg(
        long,
        global = true,
        value_name = "postgres://...",
        env = "TUATON_DATABASE_URL",
        hide_env_values = true
    )]
    database: Option<String>,
    /// Keep keys in a PKCS#11 token through this module (with --database); the token PIN
    /// is read from TUATON_TOKEN_PIN or the terminal.
    #[arg(
        long,
        global = true,
        value_name = "MODULE.so",
        requires = "token_label"
    )]
    pkcs11_module: Option<PathBuf>,
    /// The token's label (with --pkcs11-module).
    #[arg(long, global = true, value_name = "LABEL")]
    token_label: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create the root key(s) and the first signing key.
    Init {
        /// Issuer display name, shown on gates.
        #[arg(long)]
        name: String,
        /// Number of root keys.
        #[arg(long, default_value_t = 1)]
        root_keys: u8,
        /// Root signatures required.
        #[arg(long, default_value_t = 1)]
        threshold: u8,
        /// Issuer number in the trust list.
        #[arg(long, default_value_t = 1)]
        issuer_id: u32,
        /// Entries per status list (8 to 134217728).
        #[arg(long, default_value_t = 1 << 20, value_parser = clap::value_parser!(u64).range(8..=1 << 27))]
        status_list_size: u64,
    },
    /// Issue a credential package for a citizen record and a wallet's enrollment request.
    Issue {
        /// Citizen record JSON (format: docs/ARCHITECTURE.md).
        #[arg(long, value_name = "RECORD.json")]
        record: PathBuf,
        /// The wallet's enrollment request: the text itself, or a file holding it.
        #[arg(long, value_name = "REQUEST")]
        request: String,
        /// Write the package here instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Make a new active signing key; the old one is retired.
    Rotate,
    /// A key is compromised: nothing it signed verifies any more.
    RevokeKey {
        /// Key id (hex), as `keys` lists it.
        kid: String,
    },
    /// Revoke one credential (sets its status bit at the next publish).
    Revoke {
        /// Credential id (16 hex digits), as `issue` printed it.
        credential_id: String,
    },
    /// Root N+1, signed by root N and by itself.
    RotateRoot,
    /// Every signing key with its state and window.
    Keys,
    /// Write a sealed backup of the whole issuer (keys included) to a new file.
    Backup {
        /// The backup file to create (it must not exist).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Rebuild the issuer in --home from a backup (the passphrase of the backup).
    Restore {
        /// The backup file `backup --out` wrote.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
    /// Run the issuance service for registration offices (needs --database).
    Serve {
        /// Address to listen on.
        #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8440")]
        listen: std::net::SocketAddr,
        /// The address wallets reach the service at, as put in offers [default:
        /// http://LISTEN].
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
    },
    /// Manage office credentials for the issuance service (needs --database).
    Office {
        #[command(subcommand)]
        cmd: OfficeCmd,
    },
    /// Officer's client: send a citizen record to the service, show the offer QR and the
    /// transaction code to read out.
    Offer {
        /// The issuance service's address.
        #[arg(long, value_name = "URL")]
        service: String,
        /// The office credential file `office add` wrote.
        #[arg(long, value_name = "FILE")]
        office_credential: PathBuf,
        /// Citizen record JSON (format: docs/ARCHITECTURE.md).
        #[arg(long, value_name = "RECORD.json")]
        record: PathBuf,
        /// Who is issuing (recorded in the audit) [default: $USER].
        #[arg(long, value_name = "NAME")]
        officer: Option<String>,
        /// Print the offer text alone on the first line (no QR).
        #[arg(long)]
        text: bool,
    },
    /// Write the trust bundle as static files.
    Publish {
        /// Output directory (served as is by any web server or CDN).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Days until gates consider the bundle stale (1 to 366).
        #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=366))]
        valid_days: u32,
    },
}

#[derive(Subcommand)]
enum OfficeCmd {
    /// Create an office's credential file (shown once; keep it on the office's machine).
    Add {
        /// The office's name, as the audit records it.
        name: String,
        /// An admin credential (revoke, rotate, publish over HTTP), not an office's.
        #[arg(long)]
        admin: bool,
        /// The credential file to create (it must not exist).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Revoke an office's credential: its next request is refused.
    Revoke {
        /// The office's name.
        name: String,
    },
}

fn home(cli: &Cli) -> PathBuf {
    tuaton_cli::home(cli.home.as_deref(), "issuer")
}

/// The passphrase: one line of standard input (`--passphrase-stdin`), else
/// `TUATON_ISSUER_PASSPHRASE`, else the terminal (twice when `confirm`).
fn read_passphrase(cli: &Cli, confirm: bool) -> anyhow::Result<Vec<u8>> {
    if !cli.passphrase_stdin {
        if let Some(p) = std::env::var_os("TUATON_ISSUER_PASSPHRASE") {
            return Ok(p.into_encoded_bytes());
        }
    }
    let mut p = Prompter::new("passphrase", cli.passphrase_stdin);
    let first = p.ask("Issuer passphrase")?;
    if confirm && !cli.passphrase_stdin && p.ask("Repeat passphrase")? != first {
        anyhow::bail!(IssuerError::Usage("the two passphrases differ".into()));
    }
    Ok(first.into_bytes())
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let home = home(cli);
    let now = tuaton_cli::now_or(cli.at);
    let json = cli.json;
    if let Cmd::Offer {
        service,
        office_credential,
        record,
        officer,
        text,
    } = &cli.cmd
    {
        return service::offer(
            service,
            office_credential,
            record,
            officer.as_deref(),
            *text,
        );
    }
    if let Some(url) = &cli.database {
        return service::run(cli, url, now);
    }
    if matches!(cli.cmd, Cmd::Serve { .. } | Cmd::Office { .. }) {
        anyhow::bail!(IssuerError::Usage(
            "the issuance service keeps its store in PostgreSQL: give --database postgres://..."
                .into()
        ));
    }
    if let Cmd::Init {
        name,
        root_keys,
        threshold,
        issuer_id,
        status_list_size,
    } = &cli.cmd
    {
        let mut o = InitOptions::new(name);
        o.root_keys = *root_keys;
        o.threshold = *threshold;
        o.issuer_id = *issuer_id;
        o.status_list_size = *status_list_size;
        let pass = read_passphrase(cli, true)?;
        let iss = Issuer::init(&home, &o, &pass, now)?;
        let k = &iss.keys()?[0];
        if json {
            out(&serde_json::json!({"home": home, "issuer": o.issuer_id, "name": o.name, "kid": hex::encode(&k.kid)}).to_string())?;
        } else {
            out(&format!("Issuer \"{}\" created in {}\nSigning key {} is active. Next: `tuaton-issuer issue` and `tuaton-issuer publish`.", o.name, home.display(), hex::encode(&k.kid)))?;
        }
        return Ok(());
    }
    if let Cmd::Restore { from } = &cli.cmd {
        let pass = read_passphrase(cli, false)?;
        let iss = Issuer::restore(&home, from, &pass)?;
        let root = iss.root()?;
        out(&format!(
            "Issuer \"{}\" restored in {} (root version {}, fingerprint {}).",
            iss.name()?,
            home.display(),
            root.version,
            root.fingerprint()
        ))?;
        return Ok(());
    }
    let pass = read_passphrase(cli, false)?;
    let iss = Issuer::open(&home, &pass)?;
    match &cli.cmd {
        Cmd::Init { .. }
        | Cmd::Restore { .. }
        | Cmd::Serve { .. }
        | Cmd::Office { .. }
        | Cmd::Offer { .. } => unreachable!("handled above"),
        Cmd::Backup { out: file } => {
            let n = iss.backup(file, &pass)?;
            out(&format!(
                "Backup of {n} records written to {} (sealed under the issuer passphrase). Keep it offline, away from this disk.",
                file.display()
            ))?;
        }
        Cmd::Issue {
            record,
            request,
            out: out_file,
        } => {
            let (rec, portrait) = tuaton_issuer::read_record(record)?;
            let request_text = tuaton_issuer::read_request(request)?;
            let (package, issued) = iss.issue(&rec, &portrait, &request_text, now)?;
            match out_file {
                Some(f) => {
                    // The package holds the citizen's data: owner-only, even if it existed.
                    let io = |source| IssuerError::Io {
                        path: f.clone(),
                        source,
                    };
                    std::fs::write(f, package.as_bytes()).map_err(io)?;
                    std::fs::set_permissions(
                        f,
                        std::os::unix::fs::PermissionsExt::from_mode(0o600),
                    )
                    .map_err(io)?;
                    if json {
                        out(&serde_json::to_string(&issued)?)?;
                    } else {
                        out(&format!(
                            "Issued credential {} (status list {} index {}, key {}) to {}",
                            issued.credential_id,
                            issued.list,
                            issued.index,
                            issued.kid,
                            f.display()
                        ))?;
                    }
                }
                None => out(&package)?,
            }
        }
        Cmd::Rotate => {
            let k = iss.rotate(now)?;
            if json {
                out(&serde_json::json!({"kid": hex::encode(&k.kid), "not_before": format_rfc3339(k.not_before)}).to_string())?;
            } else {
                out(&format!("Signing key {} is now active; the previous key is retired. Publish to tell the gates.", hex::encode(&k.kid)))?;
            }
        }
        Cmd::RevokeKey { kid } => {
            let ks = iss.revoke_key(kid, now)?;
            if json {
                out(&serde_json::json!({"revoked": ks.iter().map(|k| hex::encode(&k.kid)).collect::<Vec<_>>()}).to_string())?;
            } else {
                out(&format!("Key {kid} revoked: nothing it signed will verify once gates have the next bundle. Publish now."))?;
            }
        }
        Cmd::Revoke { credential_id } => {
            let r = iss.revoke(credential_id)?;
            if json {
                out(&serde_json::to_string(&r)?)?;
            } else {
                out(&format!(
                    "Credential {} revoked (status list {} index {}). Publish to tell the gates.",
                    r.credential_id, r.list, r.index
                ))?;
            }
        }
        Cmd::RotateRoot => {
            let r = iss.rotate_root(now)?;
            if json {
                out(&serde_json::json!({"root_version": r.version, "threshold": r.threshold, "keys": r.keys.len()}).to_string())?;
            } else {
                out(&format!("Root version {} made, signed by the previous root's keys and its own. Publish to tell the gates.", r.version))?;
            }
        }
        Cmd::Keys => {
            let keys = iss.keys()?;
            if json {
                let v: Vec<_> = keys
                    .iter()
                    .map(|k| serde_json::json!({
                        "kid": hex::encode(&k.kid), "public_key": hex::encode(k.public.as_bytes()),
                        "state": k.state.name(), "not_before": format_rfc3339(k.not_before),
                        "not_after": k.not_after.map(format_rfc3339),
                        "revoked_at": match k.state { tuaton_common::trust::KeyState::Revoked { at } => Some(format_rfc3339(at)), _ => None },
                    }))
                    .collect();
                let root = iss.root()?;
                out(&serde_json::to_string_pretty(&serde_json::json!({
                    "root_fingerprint": root.fingerprint(),
                    "root_version": root.version,
                    "root_threshold": root.threshold,
                    "root_keys": root.keys.len(),
                    "keys": v,
                }))?)?;
            } else {
                let root = iss.root()?;
                let mut s = format!(
                    "Root version {} ({} of {} keys sign)\nRoot fingerprint {}\n  (give it to every gate: `tuaton-verifier sync SOURCE --expect-root FINGERPRINT`)\n\nKID       STATE    SIGNING WINDOW\n",
                    root.version, root.threshold, root.keys.len(), root.fingerprint()
                );
                for k in &keys {
                    let until = k
                        .not_after
                        .map(format_rfc3339)
                        .unwrap_or_else(|| "now".into());
                    s.push_str(&format!(
                        "{}  {:<8} {} .. {}\n",
                        hex::encode(&k.kid),
                        k.state.name(),
                        format_rfc3339(k.not_before),
                        until
                    ));
                }
                out(s.trim_end())?;
            }
        }
        Cmd::Publish {
            out: dir,
            valid_days,
        } => {
            let r = iss.publish(dir, now, *valid_days)?;
            if json {
                out(&serde_json::to_string(&r)?)?;
            } else {
                out(&format!(
                    "Published trust list version {} (root version {}, {} status list(s), {} revoked) to {}; valid until {}.\nRoot fingerprint {}",
                    r.trust_list_version, r.root_version, r.status_lists, r.revoked, dir.display(), format_rfc3339(r.expires), r.root_fingerprint
                ))?;
            }
        }
    }
    Ok(())
}

mod service;

fn main() -> ExitCode {
    tuaton_cli::private_umask();
    let cli = Cli::parse();
    let home = home(&cli);
    tuaton_store::exit_cleanly_on_io_panic(&home);
    tuaton_cli::finish::<IssuerError>(run(&cli).map(|()| Outcome::Done), &home)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
