//! The one way tuaton's binaries open and create their sled stores, so that no store ever
//! bricks:
//!
//! - sled 0.34 writes a snapshot (`snap.*.generating`, renamed to `snap.*` when complete) on
//!   the first open after a write. A process killed, or out of disk, while writing it leaves
//!   the partial file, and every later open then fails with "Read corrupted data" (upstream
//!   spacejam/sled 1527, 1533, 1509). The partial file holds nothing the log does not: it is
//!   removed before every open, which is what makes the store open again.
//! - A store is created whole or not at all: it is built under a temporary name beside its
//!   final place, flushed and closed, then renamed into place (one `rename`), so a crash
//!   during `init` leaves no store rather than half of one.
//! - Errors say which store and what to do: another process holds it (`InUse`), the disk is
//!   full (`DiskFull`, naming the directory), or it does not parse (`Damaged`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What can go wrong opening or writing a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Another process has the store open.
    #[error("{0} is in use by another tuaton process")]
    InUse(PathBuf),
    /// No space left on the device holding the store.
    #[error("the disk holding {0} is full")]
    DiskFull(PathBuf),
    /// The store's files do not parse.
    #[error("the store in {path} is damaged: {reason}")]
    Damaged {
        /// The store.
        path: PathBuf,
        /// What sled said.
        reason: String,
    },
    /// Any other I/O failure.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl StoreError {
    /// Classifies a sled error for the store at `path`.
    pub fn from_sled(path: &Path, e: sled::Error) -> StoreError {
        match e {
            sled::Error::Io(io) => Self::from_io(path, io),
            sled::Error::Corruption { .. } | sled::Error::Unsupported(_) => StoreError::Damaged {
                path: path.into(),
                reason: e.to_string(),
            },
            other => StoreError::Damaged {
                path: path.into(),
                reason: other.to_string(),
            },
        }
    }

    /// Classifies an I/O error for the store at `path`.
    pub fn from_io(path: &Path, io: std::io::Error) -> StoreError {
        if io.raw_os_error() == Some(28) || io.kind() == std::io::ErrorKind::StorageFull {
            StoreError::DiskFull(path.into())
        } else if io.kind() == std::io::ErrorKind::WouldBlock
            || io.raw_os_error() == Some(11)
            // sled wraps the lock failure in an error of its own kind, keeping the text.
            || io.to_string().contains("could not acquire lock")
        {
            StoreError::InUse(path.into())
        } else {
            StoreError::Io {
                path: path.into(),
                source: io,
            }
        }
    }

    /// What the user should do.
    pub fn hint(&self) -> &'static str {
        match self {
            StoreError::InUse(_) => "wait for the other command to finish, then try again",
            StoreError::DiskFull(_) => {
                "free space on that disk, then run the command again (nothing was half-written)"
            }
            StoreError::Damaged { .. } => {
                "restore the store from a backup, or move it aside and set it up again"
            }
            StoreError::Io { .. } => "check the directory exists and is writable",
        }
    }
}

/// Shorthand.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// How long [`open`] waits for another process to let go of a store.
pub const LOCK_WAIT: Duration = Duration::from_secs(5);

/// How long a flush may take before the store is taken to be stuck. A flush that works
/// takes milliseconds, even on a busy SD card.
pub const FLUSH_WAIT: Duration = Duration::from_secs(15);

/// `tree.flush()`, bounded in time. When a write on one of sled 0.34's I/O threads fails
/// (a full disk), a flush waiting for that write can wait for ever: seen about once in a
/// hundred runs of an ENOSPC at the second `pwrite64`, under load. The flush runs on a
/// thread of its own; past [`FLUSH_WAIT`] the caller gets an I/O error to report, and the
/// process can exit. What was flushed before is on disk, as after a crash, and the store
/// opens with it.
pub fn flush(tree: &sled::Tree) -> sled::Result<()> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let t = tree.clone();
    std::thread::Builder::new()
        .name("store-flush".into())
        .spawn(move || {
            // The receiver may have given up; nothing is left to tell then.
            let _ = tx.send(t.flush());
        })
        .map_err(sled::Error::Io)?;
    match rx.recv_timeout(FLUSH_WAIT) {
        Ok(r) => r.map(drop),
        Err(_) => Err(sled::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "the disk did not confirm the write within {} s (full or failing?)",
                FLUSH_WAIT.as_secs()
            ),
        ))),
    }
}

/// Removes the partial snapshots an interrupted sled leaves (`snap.*.generating`); the
/// complete snapshot and the log are untouched.
pub fn remove_partial_snapshots(dir: &Path) -> Result<usize> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    let mut n = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            std::fs::remove_file(e.path()).map_err(|io| StoreError::from_io(dir, io))?;
            n += 1;
        }
    }
    Ok(n)
}

fn config(path: &Path) -> sled::Config {
    // No background flusher: every write is flushed by the command itself, so a full disk
    // is an error the command sees (a failing flusher thread left `sync` waiting for ever).
    sled::Config::new().path(path).flush_every_ms(None)
}

/// Opens the existing store at `path`, waiting up to `wait` for another process that
/// holds it.
pub fn open(path: &Path, wait: Duration) -> Result<sled::Db> {
    let start = Instant::now();
    loop {
        remove_partial_snapshots(path)?;
        match config(path).open() {
            Ok(db) => return Ok(db),
            Err(e) => match StoreError::from_sled(path, e) {
                StoreError::InUse(_) if start.elapsed() < wait => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                other => return Err(other),
            },
        }
    }
}

/// Creates the store at `path` whole or not at all: `build` fills a fresh store under a
/// temporary name in the same directory; only when it returns Ok and the store is flushed
/// and closed is it renamed to `path`. Leftovers of an earlier interrupted creation are
/// removed first. Fails if `path` exists.
pub fn create<E: From<StoreError>>(
    path: &Path,
    build: impl FnOnce(&sled::Db) -> std::result::Result<(), E>,
) -> std::result::Result<sled::Db, E> {
    let parent = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    std::fs::create_dir_all(parent).map_err(|io| StoreError::from_io(parent, io))?;
    remove_leftovers(parent, &name)?;
    let tmp = parent.join(format!(".{name}.creating-{:016x}", rand::random::<u64>()));
    let built = (|| -> std::result::Result<(), E> {
        let db = config(&tmp)
            .open()
            .map_err(|e| StoreError::from_sled(&tmp, e))?;
        build(&db)?;
        flush(&db).map_err(|e| StoreError::from_sled(&tmp, e))?;
        drop(db);
        sync_dir(&tmp)?;
        Ok(())
    })();
    if let Err(e) = built {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if path.exists() {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(StoreError::Io {
            path: path.into(),
            source: std::io::Error::new(std::io::ErrorKind::AlreadyExists, "already exists"),
        }
        .into());
    }
    std::fs::rename(&tmp, path).map_err(|io| StoreError::from_io(path, io))?;
    sync_dir(parent)?;
    Ok(open(path, LOCK_WAIT)?)
}

/// Removes `.NAME.creating-*` directories an interrupted [`create`] left.
fn remove_leftovers(parent: &Path, name: &str) -> Result<()> {
    let prefix = format!(".{name}.creating-");
    if let Ok(entries) = std::fs::read_dir(parent) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                std::fs::remove_dir_all(e.path()).map_err(|io| StoreError::from_io(parent, io))?;
            }
        }
    }
    Ok(())
}

/// fsyncs a directory, so a rename or new file in it survives a power cut.
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|io| StoreError::from_io(dir, io))
}

/// Set once the process has printed its two-line error (see [`report_error_once`]).
static ERROR_REPORTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Prints the command's two-line error with `write`, unless one was printed already. A
/// sled panic on an I/O error (its log's `fsync` on a sled thread, on the same full disk)
/// may come at any moment around the command's own error: the check and the write happen
/// under standard error's lock, which the panic hook takes too, so exactly one error is
/// printed, whole, whichever comes first.
pub fn report_error_once(write: impl FnOnce(&mut std::io::StderrLock<'static>)) {
    let mut e = std::io::stderr().lock();
    if !ERROR_REPORTED.swap(true, std::sync::atomic::Ordering::SeqCst) {
        write(&mut e);
    }
}

/// sled 0.34 unwraps some I/O results (its log's final `fsync` on close, for one), so a
/// full or failing disk can surface as a panic after the command's own error handling.
/// This hook turns a panic that carries an OS error into the usual two-line error and
/// exit code 2; the store is then as a kill at that moment would leave it, which the fault
/// tests show it survives. Other panics keep the default report.
pub fn exit_cleanly_on_io_panic(home: &Path) {
    // Called once per process, before any store opens.
    let home = home.display().to_string();
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if !msg.contains("os error") && !msg.contains("Os {") {
            return default(info);
        }
        // Under standard error's lock (see `report_error_once`): the command's own error,
        // if it came first, is whole, and this one is not added to it.
        let mut e = std::io::stderr().lock();
        if ERROR_REPORTED.swap(true, std::sync::atomic::Ordering::SeqCst) {
            // The command already said what failed (the same full disk); a second error
            // about it would break the two-line rule. Same exit code.
            std::process::exit(2);
        }
        use std::io::Write;
        let full = msg.contains("code: 28") || msg.contains("os error 28");
        let _ = if full {
            writeln!(
                e,
                "error: the disk holding {home} is full\nhint: free space on that disk, then run the command again (nothing was half-written)"
            )
        } else {
            writeln!(
                e,
                "error: writing to {home} failed\nhint: check that disk; the store keeps what earlier commands committed"
            )
        };
        std::process::exit(2);
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_snapshot_no_longer_bricks_the_store() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.sled");
        {
            let db = create::<StoreError>(&p, |db| {
                db.insert("k", "v")
                    .map_err(|e| StoreError::from_sled(&p, e))?;
                Ok(())
            })
            .unwrap();
            db.insert("k2", "v2").unwrap();
            db.flush().unwrap();
        }
        // What a process killed while writing its startup snapshot leaves behind.
        std::fs::write(p.join("snap.0000000000000042.generating"), [0xAB; 100]).unwrap();
        let db = open(&p, LOCK_WAIT).unwrap();
        assert_eq!(db.get("k").unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(db.get("k2").unwrap().as_deref(), Some(&b"v2"[..]));
    }

    #[test]
    fn a_failed_creation_leaves_no_store_and_the_next_one_succeeds() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.sled");
        let r = create::<StoreError>(&p, |_| Err(StoreError::DiskFull(p.clone())));
        assert!(matches!(r, Err(StoreError::DiskFull(_))));
        assert!(!p.exists());
        assert_eq!(
            std::fs::read_dir(d.path()).unwrap().count(),
            0,
            "nothing left behind"
        );
        // A leftover of a killed creation is cleaned up by the next one.
        std::fs::create_dir(d.path().join(".s.sled.creating-00")).unwrap();
        create::<StoreError>(&p, |_| Ok(())).unwrap();
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn full_disk_and_lock_errors_are_named() {
        let p = Path::new("/x");
        let full = std::io::Error::from_raw_os_error(28);
        assert!(matches!(
            StoreError::from_io(p, full),
            StoreError::DiskFull(_)
        ));
        let busy = std::io::Error::new(std::io::ErrorKind::WouldBlock, "lock");
        assert!(matches!(StoreError::from_io(p, busy), StoreError::InUse(_)));
    }
}
