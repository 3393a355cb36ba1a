//! `tuaton-verifier`: the gate's command line, a thin shell over `tuaton_verifier`.
//! Exit codes: 0 valid / success, 1 presentation rejected, 2 error.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tuaton_cli::{out, Outcome};
use tuaton_common::model::format_rfc3339;
use tuaton_common::verify::{Requirement, Verdict};
use tuaton_verifier::live::LiveGate;
use tuaton_verifier::station::Scan;
use tuaton_verifier::tui;
use tuaton_verifier::SessionFailure;
use tuaton_verifier::{decode_image, demo, Gate, GateError, Loaded, StatusReport, SyncOptions};

#[derive(Parser)]
#[command(
    name = "tuaton-verifier",
    version,
    about = "Offline gate verifier for tuaton ID presentations (QR and BLE).",
    after_help = "Exit codes: 0 valid or success, 1 presentation rejected (malformed included), 2 error.\nWith no subcommand, runs the gate TUI."
)]
struct Cli {
    /// State directory [default: $XDG_DATA_HOME/tuaton/verifier or ~/.local/share/tuaton/verifier]
    #[arg(long, global = true, value_name = "DIR")]
    home: Option<PathBuf>,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    json: bool,
    /// Act as of this time (RFC 3339) instead of now (audits, tests).
    #[arg(long, global = true, value_name = "RFC3339", value_parser = tuaton_cli::parse_at)]
    at: Option<i64>,
    /// Let an engagement QR make the gate connect to a non-loopback socket address.
    #[arg(long, global = true)]
    allow_remote_socket: bool,
    /// Refuse every presentation once the trust bundle has been expired this many days
    /// (default: never refuse, only warn `trust_stale`).
    #[arg(long, global = true, value_name = "DAYS")]
    refuse_stale_after: Option<u32>,
    /// What a presentation must disclose: `flight` (names, citizen ID, birth date; an
    /// airport gate), `age` (age_over_20, true) or `full` (everything a QR carries).
    #[arg(long, global = true, value_name = "POLICY", default_value = "flight", value_parser = clap::value_parser!(Requirement))]
    require: Requirement,
    /// How old a QR may be, in seconds (a photographed QR passes elsewhere until then).
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = tuaton_common::verify::DEFAULT_MAX_AGE,
          value_parser = clap::value_parser!(i64).range(10..=600))]
    max_age: i64,
    /// An ID alone is REJECTED (`boarding_pass_required`) until a boarding pass is paired
    /// with it: for a gate that admits passengers to a flight.
    #[arg(long, global = true)]
    require_boarding_pass: bool,
    /// The airport this gate is at (IATA code, e.g. BKK): a boarding pass shown with an
    /// ID must depart from it.
    #[arg(long, global = true, value_name = "IATA", value_parser = parse_airport)]
    airport: Option<String>,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Sync the trust bundle from a directory or an http(s) URL.
    Sync {
        /// Bundle directory or URL.
        source: String,
        /// The issuer's root fingerprint (64 hex digits, from `tuaton-issuer keys`), obtained
        /// out of band. Required on the first sync unless --trust-on-first-use.
        #[arg(long, value_name = "FINGERPRINT", value_parser = tuaton_cli::parse_fingerprint)]
        expect_root: Option<[u8; 32]>,
        /// Trust whatever root the first bundle starts with (lab setups only: whoever
        /// serves that bundle decides which cards this gate accepts).
        #[arg(long)]
        trust_on_first_use: bool,
    },
    /// Verify one presentation: the payload, `-` or nothing for stdin, or --image.
    Check {
        /// QR payload text (TT1:...), or `-` for standard input.
        payload: Option<String>,
        /// Decode the QR code in this PNG image instead.
        #[arg(long, value_name = "PNG")]
        image: Option<PathBuf>,
        /// The boarding pass shown with the ID (its BCBP text, as a scanner reads the
        /// barcode): valid only when the ID is valid and the pass is the holder's, today,
        /// and (with --airport) from this airport.
        #[arg(long, value_name = "BCBP")]
        boarding_pass: Option<String>,
    },
    /// Bundle versions, age, expiry, keys and status lists.
    Status,
    /// The gate TUI. `sync` from another shell (cron, a timer) works while it runs, and
    /// the next scan uses the new bundle.
    Gate {
        /// Also sync from this directory or URL in the background (with --sync-every).
        #[arg(long, value_name = "DIR-or-URL", requires = "sync_every")]
        source: Option<String>,
        /// Minutes between background syncs.
        #[arg(long, value_name = "MINUTES", requires = "source", value_parser = clap::value_parser!(u64).range(1..=1440))]
        sync_every: Option<u64>,
    },
    /// The gate TUI fed by a built-in scenario (no setup needed).
    Demo {
        /// Print the scenario's verdicts instead of opening the TUI.
        #[arg(long)]
        plain: bool,
    },
    /// Print this gate's ISO 18013-5 reader key (made on first use), for the airport
    /// authority's `tuaton-issuer reader-cert --public-key`.
    ReaderKey {
        /// Make a new key (the installed reader certificate is dropped with the old one).
        #[arg(long)]
        new: bool,
    },
    /// Install the reader certificate issued for this gate's reader key (PEM): checked
    /// against the synced trust list's reader CAs. Every mdoc request is signed with it.
    ReaderCert {
        /// The certificate file (PEM).
        file: PathBuf,
    },
    /// Print the audit log (or change whether it keeps personal data).
    Audit {
        /// Keep names and citizen IDs in new audit records (`on`), or not (`off`, the default).
        #[arg(long, value_parser = ["on", "off"])]
        personal_data: Option<String>,
    },
}

/// `--airport`: three letters, as IATA writes airport codes.
fn parse_airport(s: &str) -> Result<String, String> {
    if s.len() == 3 && s.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(s.to_ascii_uppercase())
    } else {
        Err(format!(
            "`{}` is not an IATA airport code (three letters, e.g. BKK)",
            s.escape_debug()
        ))
    }
}

fn home(cli: &Cli) -> PathBuf {
    tuaton_cli::home(cli.home.as_deref(), "verifier")
}

/// Checks QR text, or runs the session an engagement QR asks for: the verdict and, for a
/// session that gave no answer, why.
fn check_text(
    gate: &Gate,
    loaded: &Loaded,
    text: &str,
    now: i64,
    real: bool,
    allow_remote: bool,
    cancel: &Arc<AtomicBool>,
) -> Result<(Verdict, Option<SessionFailure>), GateError> {
    match Scan::of(text) {
        Some(Scan::Engagement(t)) => {
            gate.check_engagement(loaded, t, now, real, allow_remote, cancel)
        }
        _ => Ok((gate.check(loaded, text, now, real)?, None)),
    }
}

/// `demo --plain`: each step of the scenario on a line (or, with `--json`, one JSON
/// array): the verdict with every reason (a boarding pass's included), or a boarding pass
/// read and waiting for its ID.
fn demo_plain(json: bool, now: i64) -> anyhow::Result<()> {
    let rows = demo::run_plain(now);
    if json {
        let a: Vec<serde_json::Value> = rows
            .iter()
            .map(|(label, row)| match row {
                demo::PlainRow::Verdict(v) => serde_json::json!({"label": label, "verdict": v.to_json()}),
                demo::PlainRow::PassWaiting(p) => {
                    serde_json::json!({"label": label, "boarding_pass": p.to_json(), "waiting_for_id": true})
                }
            })
            .collect();
        out(&serde_json::Value::Array(a).to_string())?;
        return Ok(());
    }
    for (label, row) in rows {
        let what = match row {
            demo::PlainRow::Verdict(v) if v.is_valid() => "VALID".to_owned(),
            demo::PlainRow::Verdict(v) => format!("REJECTED {}", v.reason_codes().join(",")),
            demo::PlainRow::PassWaiting(_) => "BOARDING PASS READ, waiting for the ID".to_owned(),
        };
        out(&format!("{label:<64} {what}"))?;
    }
    Ok(())
}

/// Opens the gate store; commands that only read it (`check`, `status`, `audit`) never
/// create a home that is not there.
fn open_gate(cli: &Cli, home: &std::path::Path, create: bool) -> Result<Gate, GateError> {
    if !create && !home.exists() {
        return Err(GateError::NoBundle);
    }
    let mut g = Gate::open(home)?;
    g.policy.refuse_stale_after = cli.refuse_stale_after.map(|d| i64::from(d) * 86_400);
    g.policy.require = cli.require;
    g.policy.require_boarding_pass = cli.require_boarding_pass;
    g.policy.max_age = cli.max_age;
    g.airport = cli.airport.clone();
    Ok(g)
}

fn run(cli: &Cli) -> anyhow::Result<Outcome> {
    let home = home(cli);
    let now = tuaton_cli::now_or(cli.at);
    let no_cmd = Cmd::Gate {
        source: None,
        sync_every: None,
    };
    match cli.cmd.as_ref().unwrap_or(&no_cmd) {
        Cmd::Demo { plain } => {
            if *plain || cli.json || !std::io::stdout().is_terminal() {
                demo_plain(cli.json, now)?;
            } else {
                tui::run(&mut demo::Scenario::new(now), true)?;
            }
            Ok(Outcome::Done)
        }
        Cmd::Sync {
            source,
            expect_root,
            trust_on_first_use,
        } => {
            let opts = SyncOptions {
                expect_root: *expect_root,
                trust_on_first_use: *trust_on_first_use,
            };
            sync(cli, &home, now, source, opts)
        }
        Cmd::Check {
            payload,
            image,
            boarding_pass,
        } => check(
            cli,
            &home,
            now,
            payload.as_deref(),
            image.as_deref(),
            boarding_pass.as_deref(),
        ),
        Cmd::Status => {
            let gate = open_gate(cli, &home, false)?;
            let loaded = gate.load()?;
            let report = StatusReport::new(&gate, &loaded, now)?;
            if cli.json {
                out(&serde_json::to_string(&report)?)?;
            } else {
                out(&report.to_text())?;
            }
            Ok(Outcome::Done)
        }
        Cmd::Gate { source, sync_every } => {
            if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
                anyhow::bail!(GateError::NoTerminal);
            }
            let policy = open_gate(cli, &home, true)?.policy;
            let mut live = LiveGate::new(home.clone(), policy, cli.at, cli.allow_remote_socket)?;
            live.airport = cli.airport.clone();
            if let (Some(src), Some(m)) = (source, sync_every) {
                live.sync_every(src.clone(), *m);
            }
            tui::run(&mut live, false)?;
            Ok(Outcome::Done)
        }
        Cmd::Audit { personal_data } => audit(cli, &home, personal_data.as_deref()),
        Cmd::ReaderKey { new } => {
            let gate = open_gate(cli, &home, true)?;
            let key = hex::encode(gate.reader_key(*new)?);
            if cli.json {
                out(&serde_json::json!({ "public_key": key }).to_string())?;
            } else {
                out(&key)?;
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stderr(),
                    "This gate's reader key. The airport authority certifies it with `tuaton-issuer reader-cert --public-key {key} ...`; install the certificate with `tuaton-verifier reader-cert FILE`."
                );
            }
            Ok(Outcome::Done)
        }
        Cmd::ReaderCert { file } => {
            let gate = open_gate(cli, &home, false)?;
            let loaded = gate.load()?;
            let pem = tuaton_cli::read_bounded(file, tuaton_verifier::MAX_READER_CERT)
                .map_err(|source| GateError::Io {
                    path: file.display().to_string(),
                    source,
                })?
                .ok_or_else(|| GateError::TooLarge {
                    what: file.display().to_string(),
                    max: tuaton_verifier::MAX_READER_CERT,
                })?;
            let c =
                gate.install_reader_certificate(&String::from_utf8_lossy(&pem), &loaded, now)?;

            let allowed: Vec<String> = c
                .allowed
                .iter()
                .flat_map(|(ns, ids)| ids.iter().map(move |id| format!("{ns}/{id}")))
                .collect();
            if cli.json {
                out(&serde_json::json!({
                    "subject": c.subject,
                    "not_after": format_rfc3339(c.not_after),
                    "allowed": allowed,
                })
                .to_string())?;
            } else {
                out(&format!(
                    "Reader certificate installed: \"{}\", valid until {}; it may request {} elements.",
                    tuaton_common::text::for_display(&c.subject),
                    format_rfc3339(c.not_after),
                    allowed.len()
                ))?;
            }
            // After the result: a warning that cannot be written (a full disk behind
            // standard error) changes nothing about what was installed.
            let missing = tuaton_verifier::not_allowed(&c, cli.require);
            if !missing.is_empty() {
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stderr(),
                    "warning: this certificate does not allow {}, which a gate with --require {} asks for: such a gate starts no mdoc session until it has one that does",
                    missing.join(", "),
                    cli.require.code()
                );
            }
            Ok(Outcome::Done)
        }
    }
}

/// `sync SOURCE`: fetch, verify and store a bundle from a directory or a URL.
fn sync(
    cli: &Cli,
    home: &std::path::Path,
    now: i64,
    source: &str,
    opts: SyncOptions,
) -> anyhow::Result<Outcome> {
    let gate = open_gate(cli, home, true)?;
    let r = gate.sync(tuaton_verifier::bundle_source(source)?.as_ref(), now, opts)?;
    if cli.json {
        out(&serde_json::to_string(&r)?)?;
    } else {
        out(&format!(
            "Synced: root version {} (fingerprint {}), trust list version {}, {} status list(s) with {} revoked; stale after {}.",
            r.root_version, r.root_fingerprint, r.trust_list_version, r.status_lists, r.revoked, format_rfc3339(r.expires)
        ))?;
    }
    Ok(Outcome::Done)
}

/// What `check` reads: the payload argument, a picture (with perhaps a boarding pass
/// beside the QR), or standard input.
fn check_input(
    payload: Option<&str>,
    image: Option<&std::path::Path>,
) -> anyhow::Result<(String, Option<String>)> {
    Ok(match (payload, image) {
        (Some(_), Some(_)) => anyhow::bail!(GateError::Usage(
            "give a payload or --image, not both".into()
        )),
        (None, Some(p)) => {
            let found = decode_image(p)?;
            let text = found
                .presentation
                .ok_or_else(|| GateError::NoQr(p.display().to_string()))?;
            (text, found.boarding_pass)
        }
        (Some(t), None) if t != "-" => (t.to_owned(), None),
        _ => {
            let mut b = Vec::new();
            std::io::stdin()
                .take(1 << 20)
                .read_to_end(&mut b)
                .map_err(|source| GateError::Io {
                    path: "standard input".into(),
                    source,
                })?;
            // Bytes that are not UTF-8 are a malformed presentation (exit 1, and
            // audited), not an error of the gate: no QR text has them.
            let text = String::from_utf8(b)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
            (text, None)
        }
    })
}

/// `check`: one presentation (or a session), with the boarding pass given or pictured.
fn check(
    cli: &Cli,
    home: &std::path::Path,
    now: i64,
    payload: Option<&str>,
    image: Option<&std::path::Path>,
    boarding_pass: Option<&str>,
) -> anyhow::Result<Outcome> {
    let (text, pass_in_image) = check_input(payload, image)?;
    let gate = open_gate(cli, home, false)?;
    let loaded = gate.load()?;
    let (mut v, failure) = check_text(
        &gate,
        &loaded,
        &text,
        now,
        cli.at.is_none(),
        cli.allow_remote_socket,
        &Arc::new(AtomicBool::new(false)),
    )?;
    if let Some(bp) = boarding_pass.or(pass_in_image.as_deref()) {
        gate.pair(&mut v, bp, now)?;
    }
    if cli.json {
        out(&v.to_json().to_string())?;
    } else {
        out(&tuaton_verifier::verdict_text(&v))?;
        if let Some(f) = failure {
            let detail = f
                .detail()
                .map(|d| format!(" ({})", tuaton_cli::one_line(d)));
            out(&format!(
                "session: {}{}",
                f.describe().0,
                detail.unwrap_or_default()
            ))?;
        }
    }
    Ok(if v.is_valid() {
        Outcome::Done
    } else {
        Outcome::Rejected
    })
}

/// `audit`: the log, or (with `--personal-data`) whether records keep names and IDs.
fn audit(
    cli: &Cli,
    home: &std::path::Path,
    personal_data: Option<&str>,
) -> anyhow::Result<Outcome> {
    match personal_data {
        Some(p) => {
            let gate = open_gate(cli, home, true)?;
            gate.set_log_personal_data(p == "on")?;
            out(&format!(
                "Audit records from now on {} personal data.",
                if p == "on" { "include" } else { "exclude" }
            ))?;
        }
        None => {
            let gate = open_gate(cli, home, false)?;
            for r in gate.audit_log()? {
                out(&r.to_string())?;
            }
        }
    }
    Ok(Outcome::Done)
}

fn main() -> ExitCode {
    tuaton_cli::private_umask();
    let cli = Cli::parse();
    let home = home(&cli);
    tuaton_store::exit_cleanly_on_io_panic(&home);
    tuaton_cli::finish::<GateError>(run(&cli), &home)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
