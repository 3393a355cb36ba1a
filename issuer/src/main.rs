//! `tuaton-issuer`: a thin command-line shell over `tuaton_issuer::Issuer`, on the sled
//! store in `--home` or on PostgreSQL with `--database`.
//! Exit codes: 0 success, 2 error. Errors: one line saying what, one saying what to do.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tuaton_cli::{out, Outcome, Prompter};
use tuaton_common::model::format_rfc3339;
use tuaton_issuer::seam::Store;
use tuaton_issuer::sled_store::SledStore;
use tuaton_issuer::{Actor, InitOptions, Issuer, IssuerError};

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
    /// Keep keys in a PKCS#11 token through this module; the token PIN is read from
    /// TUATON_TOKEN_PIN or the terminal.
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
        /// Valid cards one citizen may hold; a new card beyond it revokes the oldest (a
        /// re-enrolment on a new phone voids the old phone's card). 0: no limit.
        #[arg(long, default_value_t = 1)]
        cards_per_citizen: u32,
        /// The issuer's DID in the W3C form, the same across key rotations: a did:web of
        /// a domain the issuer controls (did:web:issue.dopa.go.th), where online verifiers
        /// can resolve it; the bundle's did.json resolves it offline. Default:
        /// did:web:issuer-N.tuaton.invalid, resolved from the bundle only.
        #[arg(long)]
        did: Option<String>,
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
    /// Stage a new signing key; the next publish names it and makes it the one that
    /// signs (the old one retires then). Also makes the next mdoc document signer.
    Rotate,
    /// Certify a gate as an ISO 18013-5 reader: a short-lived reader certificate for its
    /// P-256 key, listing the elements it may ask wallets for (PEM to --out or standard
    /// output). The reader CA is made at the first use; `publish` puts it in the bundle.
    ReaderCert {
        /// The gate's P-256 public key, SEC1 (33 or 65 bytes) in hex.
        #[arg(long)]
        public_key: String,
        /// The reader's name, shown to citizens ("BKK gate 12").
        #[arg(long)]
        name: String,
        /// The elements it may request, NAMESPACE/ELEMENT, comma-separated
        /// (org.iso.23220.1/given_name,org.iso.23220.1/portrait).
        #[arg(long, value_delimiter = ',', required = true)]
        allow: Vec<String>,
        /// Days it is valid (1 to 30).
        #[arg(long, default_value_t = 7)]
        days: u32,
        /// Write the certificate here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The mdoc document signers' keys are compromised: revoke every unexpired document
    /// signer and make a new one; after the next publish gates refuse the mdocs they
    /// signed (wallets get new ones at `refresh`).
    RevokeSigner,
    /// Revoke a reader certificate (a gate's key stolen, a gate retired): after the next
    /// publish wallets refuse it and its gate stops using it.
    ReaderRevoke {
        /// Its serial number (hex), as `reader-cert` printed it.
        serial: String,
    },
    /// A key is compromised: nothing it signed verifies any more. Revoking the active key
    /// needs a staged one (`rotate` first), which takes over at once.
    RevokeKey {
        /// Key id (hex), as `keys` lists it.
        kid: String,
    },
    /// Revoke one credential, or every card of a citizen (a lost phone); the status bits
    /// are set at the next publish.
    Revoke {
        /// Credential id (16 hex digits), as `issue` printed it.
        #[arg(required_unless_present = "citizen", conflicts_with = "citizen")]
        credential_id: Option<String>,
        /// Revoke every card issued to this citizen ID (13 digits).
        #[arg(long, value_name = "CITIZEN_ID")]
        citizen: Option<String>,
    },
    /// The newest entries of the issuer's audit (who issued, revoked, rotated, published).
    Audit {
        /// How many entries.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        limit: u32,
    },
    /// Root N+1, signed by root N and by itself.
    RotateRoot,
    /// Every signing key with its state and window.
    Keys,
    /// After restoring the issuer from a backup or a PostgreSQL dump: close every status
    /// list and move the trust-list version past anything published before, so nothing
    /// the lost tail handed out is handed out again (`restore` does this itself).
    Resume,
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
    /// Run the issuance service for registration offices (needs --database). Besides the
    /// API: /healthz, /readyz (database and key token) and /metrics (Prometheus).
    Serve {
        /// Address to listen on.
        #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8440")]
        listen: std::net::SocketAddr,
        /// The address wallets reach the service at, as put in offers [default:
        /// http://LISTEN].
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
        /// Most database connections this instance opens (they open on demand).
        #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000))]
        max_connections: u32,
        /// Redemptions and refreshes per second from one client address (bursts of three
        /// times that); 0 for no limit (behind a proxy that limits, or that hides
        /// addresses).
        #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=100_000))]
        redeem_rate: u32,
        /// The reverse proxy in front (TLS): requests from it are limited by the client
        /// address it appends to X-Forwarded-For.
        #[arg(long, value_name = "IP")]
        trusted_proxy: Option<std::net::IpAddr>,
        /// How each request's log line is written to standard error: `text` (key=value
        /// fields) or `json` (one object per line, for a log collector).
        #[arg(long, value_name = "FORMAT", default_value = "text")]
        log_format: LogFormat,
    },
    /// Manage office credentials for the issuance service (needs --database).
    Office {
        #[command(subcommand)]
        cmd: OfficeCmd,
    },
    /// Manage officers who sign in to the console in a browser (`serve`'s /console; needs
    /// --database).
    Officer {
        #[command(subcommand)]
        cmd: OfficerCmd,
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
        #[arg(long, conflicts_with_all = ["png", "svg"])]
        text: bool,
        /// Also write the offer QR as a PNG picture (for a second screen or a printer).
        #[arg(long, value_name = "FILE", conflicts_with = "svg")]
        png: Option<PathBuf>,
        /// Also write the offer QR as an SVG picture.
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
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

/// How `serve` writes its request log.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum LogFormat {
    /// One line per event, fields as key=value.
    Text,
    /// One JSON object per event.
    Json,
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
    /// Revoke an office's credential: its next request is refused and its open offers
    /// close.
    Revoke {
        /// The office's name.
        name: String,
        /// The office was compromised: also revoke every card it issued from this time on.
        #[arg(long, value_name = "RFC3339", value_parser = tuaton_cli::parse_at)]
        revoke_issued_since: Option<i64>,
    },
}

#[derive(Subcommand)]
enum OfficerCmd {
    /// Create an officer's console account. The password is asked twice (or read from
    /// TUATON_OFFICER_PASSWORD); at least 10 characters.
    Add {
        /// The officer's name, to sign in with and as the audit records it.
        name: String,
        /// The office they work for (made by `office add`).
        #[arg(long)]
        office: String,
    },
    /// Revoke an officer's account: they can no longer sign in, and their sessions end.
    Revoke {
        /// The officer's name.
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
    if let Cmd::Offer { .. } = &cli.cmd {
        return offer(cli);
    }
    let rt = runtime(&cli.cmd)?;
    if let Some(url) = &cli.database {
        return rt.block_on(service::run(cli, url, now));
    }
    run_sled(cli, &rt, &home, now)
}

/// `offer`: the officer's client, which talks to the service and keeps no store.
fn offer(cli: &Cli) -> anyhow::Result<()> {
    let Cmd::Offer {
        service,
        office_credential,
        record,
        officer,
        text,
        png,
        svg,
    } = &cli.cmd
    else {
        unreachable!("offer only")
    };
    let picture = match (png, svg) {
        (Some(f), _) => Some(tuaton_cli::qr::Target::Png(f.clone())),
        (_, Some(f)) => Some(tuaton_cli::qr::Target::Svg(f.clone())),
        _ => None,
    };
    service::offer(
        cli,
        service,
        office_credential,
        record,
        officer.as_deref(),
        service::OfferShown {
            text_only: *text,
            picture,
        },
    )
}

/// The async runtime that drives a command's store work.
fn runtime(cmd: &Cmd) -> anyhow::Result<tokio::runtime::Runtime> {
    // Store work is async (PostgreSQL); one thread drives a command, `serve` takes a
    // worker per core.
    let rt = match cmd {
        Cmd::Serve { .. } => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    }
    .enable_all()
    .build()
    .map_err(|source| IssuerError::Io {
        path: "the async runtime".into(),
        source,
    })?;
    Ok(rt)
}

/// Every command on the sled store in `--home` (without `--database`).
fn run_sled(cli: &Cli, rt: &tokio::runtime::Runtime, home: &Path, now: i64) -> anyhow::Result<()> {
    match &cli.cmd {
        Cmd::Serve { .. } | Cmd::Office { .. } | Cmd::Officer { .. } => {
            anyhow::bail!(IssuerError::Usage(
            "the issuance service keeps its store in PostgreSQL: give --database postgres://..."
                .into()
        ))
        }
        Cmd::Init { .. } => {
            let iss = Issuer::init_sled(
                home,
                &init_options(cli),
                service::key_source(cli, true)?,
                now,
            )?;
            return rt.block_on(after_init(cli, &iss, &home.display().to_string()));
        }
        Cmd::Restore { from } => return restore(cli, rt, home, from, now),
        _ => {}
    }
    let mut iss = Issuer::open_sled(home)?;
    if needs_keys(&cli.cmd) {
        rt.block_on(iss.unlock(service::key_source(cli, false)?))?;
    }
    match &cli.cmd {
        Cmd::Backup { out: file } => backup(cli, rt, &mut iss, file),
        Cmd::Publish {
            out: dir,
            valid_days,
        } => {
            let r = iss.publish_dir(dir, &Actor::cli(), now, *valid_days)?;
            published(cli, &r, &dir.display().to_string())
        }
        _ => rt.block_on(common(cli, &iss, now)),
    }
}

/// `restore`: rebuilds the issuer in `home` from the backup `from`, then resumes it past
/// anything the lost tail handed out.
fn restore(
    cli: &Cli,
    rt: &tokio::runtime::Runtime,
    home: &Path,
    from: &Path,
    now: i64,
) -> anyhow::Result<()> {
    let pass = read_passphrase(cli, false)?;
    let iss = Issuer::restore(home, from, &pass)?;
    rt.block_on(iss.resume_after_restore(&Actor::cli(), now))?;
    let root = rt.block_on(iss.root())?;
    let (name, _) = rt.block_on(iss.identity())?;
    say(
        cli,
        serde_json::json!({"home": home, "name": name, "root_version": root.version, "root_fingerprint": root.fingerprint()}),
        &format!(
            "Issuer \"{name}\" restored in {} (root version {}, fingerprint {}).",
            home.display(),
            root.version,
            root.fingerprint()
        ),
    )
}

/// `backup`: the whole sled issuer, keys included, sealed into the new file `file`.
fn backup(
    cli: &Cli,
    rt: &tokio::runtime::Runtime,
    iss: &mut Issuer<SledStore>,
    file: &Path,
) -> anyhow::Result<()> {
    // The backup is sealed under the passphrase that opens the keys: checked first.
    let pass = read_passphrase(cli, false)?;
    rt.block_on(iss.unlock(tuaton_issuer::KeySource::Passphrase(
        zeroize::Zeroizing::new(pass.clone()),
    )))?;
    let n = iss.backup(file, &pass)?;
    say(
        cli,
        serde_json::json!({"file": file, "records": n}),
        &format!(
            "Backup of {n} records written to {} (sealed under the issuer passphrase). Keep it offline, away from this disk.",
            file.display()
        ),
    )
}

fn init_options(cli: &Cli) -> InitOptions {
    let Cmd::Init {
        name,
        root_keys,
        threshold,
        issuer_id,
        status_list_size,
        cards_per_citizen,
        did,
    } = &cli.cmd
    else {
        unreachable!("init only")
    };
    let mut o = InitOptions::new(name);
    o.root_keys = *root_keys;
    o.threshold = *threshold;
    o.issuer_id = *issuer_id;
    o.status_list_size = *status_list_size;
    o.cards_per_citizen = *cards_per_citizen;
    o.did = did.clone();
    o
}

/// Whether a command signs (or hashes a citizen ID) and so needs the keys unlocked.
fn needs_keys(cmd: &Cmd) -> bool {
    match cmd {
        Cmd::Issue { .. }
        | Cmd::RotateRoot
        | Cmd::Rotate
        | Cmd::ReaderCert { .. }
        | Cmd::RevokeSigner
        | Cmd::Publish { .. }
        | Cmd::Serve { .. } => true,
        Cmd::Revoke { citizen, .. } => citizen.is_some(),
        _ => false,
    }
}

/// Prints `json` with --json, else `text`.
fn say(cli: &Cli, json: serde_json::Value, text: &str) -> anyhow::Result<()> {
    if cli.json {
        out(&json.to_string())?;
    } else {
        out(text)?;
    }
    Ok(())
}

async fn after_init<S: Store>(cli: &Cli, iss: &Issuer<S>, place: &str) -> anyhow::Result<()> {
    let keys = iss.keys_report().await?;
    let root = iss.root().await?;
    let (name, id) = iss.identity().await?;
    let did = iss.did().await?;
    say(
        cli,
        serde_json::json!({"home": place, "issuer": id, "name": name, "did": did, "kid": keys[0].kid, "root_fingerprint": root.fingerprint()}),
        &format!(
            "Issuer \"{name}\" created in {place} (keys {}).\nRoot fingerprint {}\nW3C issuer {did}\nSigning key {} is active. Next: `tuaton-issuer issue` (or `office add` and `serve`), then `tuaton-issuer publish`.",
            if iss.in_token() { "in the PKCS#11 token" } else { "sealed under the passphrase" },
            root.fingerprint(),
            keys[0].kid
        ),
    )
}

fn published(cli: &Cli, r: &tuaton_issuer::PublishReport, place: &str) -> anyhow::Result<()> {
    say(
        cli,
        serde_json::to_value(r)?,
        &format!(
            "Published trust list version {} (root version {}, {} status list(s), {} revoked) to {place}; valid until {}.\nRoot fingerprint {}",
            r.trust_list_version, r.root_version, r.status_lists, r.revoked, format_rfc3339(r.expires), r.root_fingerprint
        ),
    )
}

/// The commands that read and write the issuer the same way on either store.
async fn common<S: Store>(cli: &Cli, iss: &Issuer<S>, now: i64) -> anyhow::Result<()> {
    let me = Actor::cli();
    match &cli.cmd {
        Cmd::Issue {
            record,
            request,
            out: out_file,
        } => issue(cli, iss, record, request, out_file.as_deref(), &me, now).await,
        Cmd::Rotate => rotate(cli, iss, &me, now).await,
        Cmd::ReaderCert {
            public_key,
            name,
            allow,
            days,
            out: file,
        } => {
            reader_cert(
                cli,
                iss,
                public_key,
                name,
                allow,
                *days,
                file.as_deref(),
                &me,
                now,
            )
            .await
        }
        Cmd::RevokeKey { kid } => revoke_key(cli, iss, kid, &me, now).await,
        Cmd::ReaderRevoke { serial } => reader_revoke(cli, iss, serial, &me, now).await,
        Cmd::RevokeSigner => {
            let n = iss.revoke_signers(&me, now).await?;
            say(
                cli,
                serde_json::json!({"revoked": n}),
                &format!("{n} document signer(s) revoked and a new one made: gates refuse the mdocs they signed once they have the next bundle; citizens get new ones at refresh. Publish now."),
            )
        }
        Cmd::Revoke {
            credential_id,
            citizen,
        } => {
            revoke(
                cli,
                iss,
                credential_id.as_deref(),
                citizen.as_deref(),
                &me,
                now,
            )
            .await
        }
        Cmd::RotateRoot => rotate_root(cli, iss, &me, now).await,
        Cmd::Keys => keys(cli, iss).await,
        Cmd::Resume => resume(cli, iss, &me, now).await,
        Cmd::Audit { limit } => audit(cli, iss, *limit).await,
        Cmd::Init { .. }
        | Cmd::Restore { .. }
        | Cmd::Backup { .. }
        | Cmd::Publish { .. }
        | Cmd::Serve { .. }
        | Cmd::Office { .. }
        | Cmd::Officer { .. }
        | Cmd::Offer { .. } => unreachable!("store-specific, handled by the caller"),
    }
}

/// `issue`: the credential package for `record` and the wallet's `request`, on standard
/// output or in `out_file`.
async fn issue<S: Store>(
    cli: &Cli,
    iss: &Issuer<S>,
    record: &Path,
    request: &str,
    out_file: Option<&Path>,
    me: &Actor,
    now: i64,
) -> anyhow::Result<()> {
    let (rec, portrait) = tuaton_issuer::read_record(record)?;
    let request_text = tuaton_issuer::read_request(request)?;
    let (package, issued) = iss.issue(&rec, &portrait, &request_text, me, now).await?;
    match out_file {
        Some(f) => {
            // The package holds the citizen's data: owner-only, even if it existed.
            let io = |source| IssuerError::Io {
                path: f.to_path_buf(),
                source,
            };
            std::fs::write(f, package.as_bytes()).map_err(io)?;
            std::fs::set_permissions(f, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .map_err(io)?;
            say(
                cli,
                serde_json::to_value(&issued)?,
                &format!(
                    "Issued credential {} (status list {} index {}, key {}) to {}",
                    issued.credential_id,
                    issued.list,
                    issued.index,
                    issued.kid,
                    f.display()
                ),
            )
        }
        None => Ok(out(&package)?),
    }
}

/// `rotate`: stages a new signing key, which the next publish makes the one that signs.
async fn rotate<S: Store>(cli: &Cli, iss: &Issuer<S>, me: &Actor, now: i64) -> anyhow::Result<()> {
    let k = iss.rotate(me, now).await?;
    say(
        cli,
        serde_json::json!({"kid": hex::encode(&k.kid), "state": k.status.name(), "not_before": format_rfc3339(k.not_before)}),
        &format!(
            "Signing key {} is staged. Publish to name it in the trust list: it signs from that publish on, and the current key retires then.",
            hex::encode(&k.kid)
        ),
    )
}

/// `reader-cert`: a reader certificate for a gate's key.
#[allow(clippy::too_many_arguments)]
async fn reader_cert<S: Store>(
    cli: &Cli,
    iss: &Issuer<S>,
    public_key: &str,
    name: &str,
    allow: &[String],
    days: u32,
    file: Option<&Path>,
    me: &Actor,
    now: i64,
) -> anyhow::Result<()> {
    let key = hex::decode(public_key.trim()).map_err(|_| {
        IssuerError::Usage("--public-key must be hex (the gate's SEC1 P-256 key)".into())
    })?;
    let mut allowed = tuaton_common::mdoc::Request::new();
    for a in allow {
        let (ns, id) = a.trim().split_once('/').ok_or_else(|| {
            IssuerError::Usage(format!(
                "--allow `{}` is not NAMESPACE/ELEMENT",
                a.escape_debug()
            ))
        })?;
        allowed
            .entry(ns.to_owned())
            .or_default()
            .push(id.to_owned());
    }
    let (der, serial) = iss
        .reader_certificate(&key, name, &allowed, days, me, now)
        .await?;
    let serial = format!("{serial:x}");
    let pem = tuaton_common::mdoc::x509::pem(&der);
    match file {
        Some(f) => {
            // A certificate is public: written as is.
            std::fs::write(f, pem.as_bytes()).map_err(|source| IssuerError::Io {
                path: f.to_owned(),
                source,
            })?;
            say(
                cli,
                serde_json::json!({"file": f.display().to_string(), "days": days, "serial": serial}),
                &format!(
                    "Reader certificate {serial} for \"{}\" written to {} (valid {days} days). Publish so wallets have its reader CA; `reader-revoke {serial}` withdraws it.",
                    tuaton_common::text::for_display(name),
                    f.display()
                ),
            )
        }
        None => {
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "Reader certificate serial {serial}.");
            Ok(out(pem.trim_end())?)
        }
    }
}

/// `reader-revoke`: withdraws a reader certificate.
async fn reader_revoke<S: Store>(
    cli: &Cli,
    iss: &Issuer<S>,
    serial: &str,
    me: &Actor,
    now: i64,
) -> anyhow::Result<()> {
    let r = iss.revoke_reader(serial, me, now).await?;
    say(
        cli,
        serde_json::json!({"serial": format!("{:x}", r.serial), "name": r.name, "revoked_at": r.revoked_at.map(format_rfc3339)}),
        &format!(
            "Reader certificate {:x} (\"{}\") revoked: wallets refuse it and its gate stops using it once they have the next bundle. Publish now.",
            r.serial,
            tuaton_common::text::for_display(&r.name)
        ),
    )
}

/// `revoke-key`: revokes the signing key `kid` (compromised).
async fn revoke_key<S: Store>(
    cli: &Cli,
    iss: &Issuer<S>,
    kid: &str,
    me: &Actor,
    now: i64,
) -> anyhow::Result<()> {
    let ks = iss.revoke_key(kid, me, now).await?;
    say(
        cli,
        serde_json::json!({"revoked": ks.iter().map(|k| hex::encode(&k.kid)).collect::<Vec<_>>()}),
        &format!("Key {} revoked: nothing it signed will verify once gates have the next bundle. Publish now.", kid.trim()),
    )
}

/// `revoke`: revokes one credential, or every card of one citizen.
async fn revoke<S: Store>(
    cli: &Cli,
    iss: &Issuer<S>,
    credential_id: Option<&str>,
    citizen: Option<&str>,
    me: &Actor,
    now: i64,
) -> anyhow::Result<()> {
    let rs = match (credential_id, citizen) {
        (Some(c), None) => vec![iss.revoke(c, me, now).await?],
        (None, Some(id)) => iss.revoke_citizen(id, me, now).await?,
        _ => unreachable!("clap: one of the two"),
    };
    let text = if rs.is_empty() {
        "No card of this citizen is valid: nothing to revoke.".to_owned()
    } else {
        rs.iter()
            .map(|r| {
                format!(
                    "Credential {} revoked (status list {} index {}).",
                    r.credential_id, r.list, r.index
                )
            })
            .chain(["Publish to tell the gates.".to_owned()])
            .collect::<Vec<_>>()
            .join("\n")
    };
    let json = match citizen {
        Some(_) => serde_json::json!({"revoked": rs}),
        None => serde_json::to_value(&rs[0])?,
    };
    say(cli, json, &text)
}

/// `rotate-root`: makes root N+1, signed by root N and by itself.
async fn rotate_root<S: Store>(
    cli: &Cli,
    iss: &Issuer<S>,
    me: &Actor,
    now: i64,
) -> anyhow::Result<()> {
    let r = iss.rotate_root(me, now).await?;
    say(
        cli,
        serde_json::json!({"root_version": r.version, "threshold": r.threshold, "keys": r.keys.len(), "root_fingerprint": r.fingerprint()}),
        &format!("Root version {} made, signed by the previous root's keys and its own. Publish to tell the gates.", r.version),
    )
}

/// `keys`: the root and every signing key with its state and window.
async fn keys<S: Store>(cli: &Cli, iss: &Issuer<S>) -> anyhow::Result<()> {
    let keys = iss.keys_report().await?;
    let root = iss.root().await?;
    if cli.json {
        return Ok(out(&serde_json::to_string_pretty(&serde_json::json!({
            "root_fingerprint": root.fingerprint(),
            "root_version": root.version,
            "root_threshold": root.threshold,
            "root_keys": root.keys.len(),
            "keys": keys,
        }))?)?);
    }
    let mut s = format!(
        "Root version {} ({} of {} keys sign)\nRoot fingerprint {}\n  (give it to every gate: `tuaton-verifier sync SOURCE --expect-root FINGERPRINT`)\n\nKID       STATE    SIGNING WINDOW\n",
        root.version, root.threshold, root.keys.len(), root.fingerprint()
    );
    for k in &keys {
        s.push_str(&format!(
            "{}  {:<8} {} .. {}\n",
            k.kid,
            k.state,
            k.not_before,
            k.not_after.clone().unwrap_or_else(|| "now".into())
        ));
    }
    Ok(out(s.trim_end())?)
}

/// `resume`: closes every status list and moves the trust-list version past anything
/// published before a restore.
async fn resume<S: Store>(cli: &Cli, iss: &Issuer<S>, me: &Actor, now: i64) -> anyhow::Result<()> {
    let v = iss.resume_after_restore(me, now).await?;
    say(
        cli,
        serde_json::json!({"trust_list_version_at_least": v, "status_lists": "closed"}),
        &format!("Every status list is closed and the next trust list will be version {} or later.\nBefore publishing: revoke again any key and any card revoked after the copy was made (the next publish would otherwise undo it at the gates).", v + 1),
    )
}

/// `audit`: the newest `limit` audit entries, oldest first.
async fn audit<S: Store>(cli: &Cli, iss: &Issuer<S>, limit: u32) -> anyhow::Result<()> {
    let rows = iss.audit_log(limit).await?;
    if cli.json {
        return Ok(out(&serde_json::to_string(&rows)?)?);
    }
    let mut s = String::new();
    for r in rows.iter().rev() {
        s.push_str(&format!(
            "{}  {}/{}  {}  {}\n",
            format_rfc3339(r.at),
            tuaton_cli::one_line(&r.office),
            tuaton_cli::one_line(&r.officer),
            r.action,
            tuaton_cli::one_line(&r.detail)
        ));
    }
    Ok(out(s.trim_end())?)
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
