//! What the three tuaton command lines share, so each exists once: the state directory,
//! `--at`, writing output, exit codes, the two-line error, and PIN and passphrase prompts.
//!
//! Every error a user sees goes through [`finish`]: one line saying what went wrong (with
//! anything the user typed escaped, so it stays one line), one line saying what to do.
//! Library errors supply the second line through [`Hint`].

#[cfg(feature = "ble")]
pub mod ble;
pub mod net;
pub mod picture;
pub mod qr;
pub mod socket;

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// How a command ended when it did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Success (exit 0).
    Done,
    /// A presentation was checked and rejected (exit 1).
    Rejected,
}

/// Exit code of a rejected presentation (malformed input included).
pub const EXIT_REJECTED: u8 = 1;
/// Exit code of an error: unreadable file, wrong PIN, bad record, no bundle...
pub const EXIT_ERROR: u8 = 2;

/// A library error that knows what the user should do about it.
pub trait Hint: std::error::Error + Send + Sync + 'static {
    /// The second line of the error: what to do.
    fn hint(&self) -> &'static str;
    /// Whether this error is the disk holding the store filling up (the message then
    /// names the directory the user gave, which the store's own error cannot know).
    fn disk_full(&self) -> bool {
        false
    }
}

/// Errors of the command-line plumbing itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// `--pin-stdin` or `--passphrase-stdin` ran out of lines.
    #[error("standard input ended before the {0} was given")]
    InputEnded(&'static str),
    /// A prompt needs a terminal and there is none.
    #[error("the {0} prompt needs a terminal, and there is none")]
    NoTerminal(&'static str),
    /// Reading a prompt's answer failed.
    #[error("reading the {what}: {reason}")]
    Prompt {
        /// PIN or passphrase.
        what: &'static str,
        /// The OS's words.
        reason: String,
    },
    /// Standard input is not UTF-8 where text was expected.
    #[error("standard input is not UTF-8 text")]
    NotText,
    /// A server could not be reached, or did not answer as HTTP.
    #[error("{url} could not be reached: {reason}")]
    Unreachable {
        /// What was asked for.
        url: String,
        /// The whole cause.
        reason: String,
    },
    /// A server answered a GET with a status other than 2xx.
    #[error("{url} answered HTTP {status}")]
    HttpStatus {
        /// What was asked for.
        url: String,
        /// The status.
        status: u16,
    },
    /// A server took longer than the command's deadline.
    #[error("{url} did not answer in time (the whole exchange may take {secs} s)")]
    TimedOut {
        /// What was asked for.
        url: String,
        /// The deadline.
        secs: u64,
    },
    /// A server's answer is larger than what is read of it.
    #[error("{url} answered with more than {max} bytes")]
    TooLarge {
        /// What was asked for.
        url: String,
        /// The cap.
        max: u64,
    },
    /// A picture could not be read or decoded.
    #[error("the picture {path} cannot be read: {reason}")]
    Picture {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

impl Hint for CliError {
    fn hint(&self) -> &'static str {
        match self {
            CliError::InputEnded(_) => {
                "give one line per prompt on standard input (or drop the -stdin option and type it)"
            }
            CliError::NoTerminal(_) => {
                "run it in a terminal, or feed the answer with --pin-stdin / --passphrase-stdin"
            }
            CliError::Prompt { .. } => "run it again in a terminal",
            CliError::NotText => "give the payload text as a scanner reads it",
            CliError::Unreachable { .. }
            | CliError::TimedOut { .. }
            | CliError::HttpStatus { .. } => "check the address and the network, then try again",
            CliError::TooLarge { .. } => "check the address: it does not serve what was asked for",
            CliError::Picture { .. } => {
                "give a PNG or JPEG picture of the code (a screenshot or a photo)"
            }
        }
    }
}

/// The state directory: `--home` if given, else `$XDG_DATA_HOME/tuaton/APP`, else
/// `~/.local/share/tuaton/APP`.
pub fn home(given: Option<&Path>, app: &str) -> PathBuf {
    given.map(Path::to_path_buf).unwrap_or_else(|| {
        tuaton_common::model::data_home(
            app,
            std::env::var_os("XDG_DATA_HOME"),
            std::env::var_os("HOME"),
        )
    })
}

/// clap value parser of `--at`: an RFC 3339 time, as Unix seconds. A bad value is a
/// usage error reported by clap, never a failure of whatever the command then does.
pub fn parse_at(s: &str) -> Result<i64, String> {
    tuaton_common::model::parse_rfc3339(s).map_err(|_| {
        format!(
            "`{}` is not an RFC 3339 time like 2026-11-27T09:30:00+07:00",
            s.escape_debug()
        )
    })
}

/// clap value parser of `--expect-root`: a root fingerprint, 64 hex digits (spaces,
/// colons and hyphens between them allowed, as people copy them). Checked by clap, so a
/// bad one is reported before any prompt.
pub fn parse_fingerprint(s: &str) -> Result<[u8; 32], String> {
    tuaton_common::trust::parse_fingerprint(s).map_err(|_| {
        format!(
            "`{}` is not a root fingerprint: give the 64 hex digits `tuaton-issuer keys` prints",
            one_line(s)
        )
    })
}

/// `--at` if given, else the real clock. The one place the binaries read the time.
pub fn now_or(at: Option<i64>) -> i64 {
    at.unwrap_or_else(real_now)
}

/// The real clock, Unix seconds.
pub fn real_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Writes one line to standard output and flushes it (a closed pipe is an error the
/// caller's [`finish`] treats as success).
pub fn out(s: &str) -> std::io::Result<()> {
    let mut o = std::io::stdout().lock();
    o.write_all(s.as_bytes())?;
    o.write_all(b"\n")?;
    o.flush()
}

/// Makes everything this process creates private (files 0600, directories 0700): stores,
/// keys and cards hold personal data, whatever the caller's umask.
pub fn private_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// `s` as one line: control characters (newlines, escapes, bidi controls...) escaped, so
/// text a user or a file supplied cannot add lines to an error or repaint the terminal.
pub fn one_line(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if tuaton_common::text::forbidden(c) {
            o.extend(c.escape_unicode());
        } else {
            o.push(c);
        }
    }
    o
}

/// True when the error, or anything it was caused by, is a closed output pipe
/// (`tuaton-verifier audit | head`): not a failure of the command.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The two lines of an error: what went wrong, then what to do. `E` is the binary's own
/// library error; the plumbing's and the store's errors are known here.
pub fn describe<E: Hint>(e: &anyhow::Error, home: &Path) -> (String, &'static str) {
    let lib = e.chain().find_map(|c| c.downcast_ref::<E>());
    if lib.is_some_and(Hint::disk_full) {
        return (
            format!("the disk holding {} is full", home.display()),
            "free some space on that disk, then run the command again; nothing was lost",
        );
    }
    let hint = lib
        .map(Hint::hint)
        .or_else(|| {
            e.chain()
                .find_map(|c| c.downcast_ref::<CliError>())
                .map(Hint::hint)
        })
        .or_else(|| {
            e.chain()
                .find_map(|c| c.downcast_ref::<tuaton_store::StoreError>())
                .map(tuaton_store::StoreError::hint)
        })
        .unwrap_or("check the command line with --help");
    (one_line(&e.to_string()), hint)
}

/// Turns what `run` returned into the exit code, printing the two-line error on failure.
pub fn finish<E: Hint>(r: anyhow::Result<Outcome>, home: &Path) -> ExitCode {
    match r {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Rejected) => ExitCode::from(EXIT_REJECTED),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let (what, hint) = describe::<E>(&e, home);
            // Never panics on a broken or full stderr (the error still sets the exit code);
            // printed once, whatever a sled thread's panic does meanwhile.
            tuaton_store::report_error_once(|e| {
                let _ = writeln!(e, "error: {what}\nhint: {hint}");
            });
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Reads a file given on the command line (a record, a request, a bundle file): only a
/// regular file (a FIFO or `/dev/zero` would never end), never holding more than `max + 1`
/// bytes. `Ok(None)` when it holds more than `max`.
pub fn read_bounded(path: &Path, max: u64) -> std::io::Result<Option<Vec<u8>>> {
    let f = std::fs::File::open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(f, max.saturating_add(1)), &mut out)?;
    Ok((out.len() as u64 <= max).then_some(out))
}

/// Where PINs and passphrases come from: the terminal (not echoed), or one line of
/// standard input per prompt (`--pin-stdin`, `--passphrase-stdin`).
pub struct Prompter {
    from_stdin: bool,
    what: &'static str,
    lines: Option<std::io::Lines<std::io::StdinLock<'static>>>,
}

impl Prompter {
    /// A prompter for `what` ("PIN", "passphrase"), reading standard input if `from_stdin`.
    pub fn new(what: &'static str, from_stdin: bool) -> Self {
        Prompter {
            from_stdin,
            what,
            lines: None,
        }
    }

    /// Asks once; the answer without its line ending.
    pub fn ask(&mut self, prompt: &str) -> Result<String, CliError> {
        let what = self.what;
        let failed = |e: std::io::Error| {
            if e.kind() == std::io::ErrorKind::InvalidData {
                CliError::NotText
            } else {
                CliError::Prompt {
                    what,
                    reason: e.kind().to_string(),
                }
            }
        };
        if self.from_stdin {
            let lines = self
                .lines
                .get_or_insert_with(|| std::io::stdin().lock().lines());
            return match lines.next() {
                Some(l) => Ok(l.map_err(failed)?.trim_end_matches('\r').to_owned()),
                None => Err(CliError::InputEnded(what)),
            };
        }
        // rpassword reads /dev/tty; without a terminal it fails with a raw OS error
        // ("No such device or address"), so say what is missing instead.
        if !std::io::stdin().is_terminal() && std::fs::File::open("/dev/tty").is_err() {
            return Err(CliError::NoTerminal(what));
        }
        rpassword::prompt_password(format!("{prompt}: ")).map_err(|e| {
            if e.raw_os_error() == Some(6) || e.kind() == std::io::ErrorKind::NotFound {
                CliError::NoTerminal(what)
            } else {
                failed(e)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_escapes_every_line_break_and_control() {
        let s = one_line("a\nb\r\u{1b}[31mc\u{202e}d\u{85}e");
        assert!(!s.contains('\n') && !s.contains('\r') && !s.contains('\u{1b}'));
        assert!(!s.contains('\u{202e}') && !s.contains('\u{85}'));
        assert!(s.starts_with('a') && s.ends_with('e'));
        assert_eq!(one_line("ธนากร"), "ธนากร");
    }

    #[test]
    fn broken_pipe_is_found_under_context() {
        let e = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            .context("writing the audit log");
        assert!(is_broken_pipe(&e));
        let e = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::NotFound));
        assert!(!is_broken_pipe(&e));
    }

    #[test]
    fn at_is_a_usage_error_naming_the_value() {
        assert_eq!(parse_at("2026-11-27T09:30:00+07:00"), Ok(1_795_746_600));
        let e = parse_at("yesterday").unwrap_err();
        assert!(e.contains("`yesterday`") && e.contains("RFC 3339"), "{e}");
    }
}
