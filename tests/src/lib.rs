//! Helpers for end-to-end tests: a scratch world with an issuer, a wallet and a gate,
//! each driven through its real binary.
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The PIN every test wallet uses (passes the policy).
pub const PIN: &str = "27183945";
/// The issuer passphrase every test uses.
pub const PASSPHRASE: &str = "correct horse battery staple";

/// Path of a workspace binary. `cargo test --workspace` builds every package's binaries
/// (each binary package has integration tests) before any test runs.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} not built: run `cargo test --workspace` (or `cargo build --bins`) first",
        p.display()
    );
    p
}

/// What a command did.
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Asserts success and returns stdout.
    pub fn ok(self) -> String {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self.stdout
    }
}

/// Runs `bin` with `args`, feeding `stdin`.
pub fn run(bin_name: &str, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Run {
    let mut c = Command::new(bin(bin_name));
    c.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Loopback test servers must be reached directly, whatever proxy the machine sets.
    c.env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .ok();
    let r: Run = child.wait_with_output().expect("wait").into();
    conforms_to_the_published_schemas(bin_name, args, &r);
    r
}

/// Every `check --json` and `engage --json` output and every index a `publish` writes, in
/// every test, is checked against the JSON Schemas in docs/schemas: an output that drifts
/// from what integrators were promised fails whichever test produced it.
fn conforms_to_the_published_schemas(bin_name: &str, args: &[&str], r: &Run) {
    let has = |word: &str| args.contains(&word);
    if bin_name == "tuaton-verifier" && (has("check") || has("engage")) && has("--json") {
        for line in r.stdout.lines().filter(|l| l.starts_with('{')) {
            let v: serde_json::Value = serde_json::from_str(line).expect("check --json is JSON");
            assert_schema("check", &v);
        }
    }
    if bin_name == "tuaton-issuer" && has("publish") && r.code == 0 {
        if let Some(out) = args.iter().position(|a| *a == "--out").map(|i| args[i + 1]) {
            let dir = std::path::Path::new(out);
            let mut indexes = vec![dir.join("index.json")];
            if let Ok(rd) = std::fs::read_dir(dir.join("index")) {
                indexes.extend(rd.flatten().map(|e| e.path()));
            }
            for p in indexes {
                let v: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(&p).expect("index")).expect("index JSON");
                assert_schema("index", &v);
            }
        }
    }
}

/// Asserts that `v` is valid by `docs/schemas/<name>.schema.json`.
pub fn assert_schema(name: &str, v: &serde_json::Value) {
    let path = format!(
        "{}/../docs/schemas/{name}.schema.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    let idx = compiler
        .compile(&path, &mut schemas)
        .unwrap_or_else(|e| panic!("{path}: {e:#}"));
    if let Err(e) = schemas.validate(v, idx) {
        panic!("not valid by {name}.schema.json: {e}\n{v}");
    }
}

/// A scratch world: issuer, wallet and gate homes, a record and portrait, a bundle dir.
pub struct World {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
    presented: std::cell::Cell<i64>,
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl World {
    /// An empty world.
    pub fn new() -> Self {
        World {
            dir: tempfile::tempdir().expect("tempdir"),
            presented: std::cell::Cell::new(0),
        }
    }
    /// An issuer ("DOPA Bangkok") and a wallet "wallet" holding sample citizen 0's card,
    /// imported against a freshly published bundle.
    pub fn enrolled() -> Self {
        let w = World::new();
        w.issuer(&["init", "--name", "DOPA Bangkok"]).ok();
        let v: serde_json::Value =
            serde_json::from_str(tuaton_common::sample::RECORDS[0]).expect("sample record");
        let rec = w.record("somchai", &v, tuaton_common::sample::PORTRAIT_A);
        w.enroll("wallet", &rec);
        w
    }

    /// A path inside it.
    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    /// A path inside it, as text.
    pub fn p(&self, p: &str) -> String {
        self.path(p).display().to_string()
    }
    /// Runs the issuer with the test passphrase.
    pub fn issuer(&self, args: &[&str]) -> Run {
        self.issuer_at("issuer", args)
    }
    /// Runs the issuer whose home is `name` in this world, with the test passphrase.
    pub fn issuer_at(&self, name: &str, args: &[&str]) -> Run {
        let home = self.p(name);
        let mut a = vec!["--home", home.as_str()];
        a.extend_from_slice(args);
        run(
            "tuaton-issuer",
            &a,
            "",
            &[("TUATON_ISSUER_PASSPHRASE", PASSPHRASE)],
        )
    }
    /// Runs a wallet (by name) with PIN lines on stdin.
    pub fn wallet(&self, name: &str, args: &[&str], pins: &str) -> Run {
        let home = self.p(name);
        let mut a = vec!["--home", home.as_str(), "--pin-stdin"];
        a.extend_from_slice(args);
        run("tuaton-wallet", &a, pins, &[])
    }
    /// Runs the verifier.
    pub fn gate(&self, args: &[&str]) -> Run {
        let home = self.p("gate");
        let mut a = vec!["--home", home.as_str()];
        a.extend_from_slice(args);
        run("tuaton-verifier", &a, "", &[])
    }
    /// The gate's reader key certified by this issuer (the airport authority), allowing
    /// what a flight gate asks, as `NAME.pem` here; the certificate's path.
    pub fn certify_gate(&self, name: &str) -> String {
        let key = self.gate(&["reader-key"]).ok();
        let out = self.p(&format!("{name}.pem"));
        let r = self.issuer(&[
            "reader-cert",
            "--public-key",
            key.trim(),
            "--name",
            name,
            "--allow",
            &reader_allow(tuaton_common::verify::Requirement::Flight),
            "--days",
            "7",
            "--out",
            &out,
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        out
    }
    /// Writes citizen record `json` (with its portrait) under `name`, returns its path.
    pub fn record(&self, name: &str, json: &serde_json::Value, portrait: &[u8]) -> String {
        std::fs::write(self.path(&format!("{name}.jpg")), portrait).expect("write portrait");
        let mut j = json.clone();
        j["portrait"] = format!("{name}.jpg").into();
        std::fs::write(self.path(&format!("{name}.json")), j.to_string()).expect("write record");
        self.p(&format!("{name}.json"))
    }
    /// init + request for wallet `name`; returns the request text.
    pub fn new_wallet(&self, name: &str) -> String {
        self.new_wallet_with(name, &[])
    }
    /// [`World::new_wallet`] with more `init` arguments (`--key-type p256`).
    pub fn new_wallet_with(&self, name: &str, init: &[&str]) -> String {
        let mut args = vec!["init"];
        args.extend_from_slice(init);
        self.wallet(name, &args, &format!("{PIN}\n{PIN}\n")).ok();
        self.wallet(name, &["request"], &format!("{PIN}\n"))
            .ok()
            .trim()
            .to_owned()
    }
    /// Issues to wallet `name` from record `record` and imports it (checked against a
    /// fresh publish). Returns the credential id.
    pub fn enroll(&self, name: &str, record: &str) -> String {
        self.enroll_with(name, record, &[])
    }
    /// [`World::enroll`] of a wallet made with more `init` arguments.
    pub fn enroll_with(&self, name: &str, record: &str, init: &[&str]) -> String {
        let req = self.new_wallet_with(name, init);
        let pkg = self.p(&format!("{name}.pkg.json"));
        self.issuer(&[
            "issue",
            "--record",
            record,
            "--request",
            &req,
            "--out",
            &pkg,
        ])
        .ok();
        self.publish();
        let fp = self.fingerprint();
        self.wallet(
            name,
            &[
                "import",
                &pkg,
                "--bundle",
                &self.p("bundle"),
                "--expect-root",
                &fp,
            ],
            &format!("{PIN}\n"),
        )
        .ok();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&pkg).expect("package")).expect("json");
        v["credential_id"].as_str().expect("id").to_owned()
    }
    /// The issuer's current root fingerprint, as `tuaton-issuer keys --json` gives it.
    pub fn fingerprint(&self) -> String {
        let v: serde_json::Value =
            serde_json::from_str(&self.issuer(&["keys", "--json"]).ok()).expect("keys json");
        v["root_fingerprint"]
            .as_str()
            .expect("root_fingerprint")
            .to_owned()
    }
    /// `sync` of the gate from `source` (the bundle directory when `None`), pinned to the
    /// issuer's root fingerprint as a provisioned gate would be.
    pub fn sync(&self, source: Option<&str>) -> Run {
        let src = source.map_or_else(|| self.p("bundle"), str::to_owned);
        let fp = self.fingerprint();
        self.gate(&["sync", &src, "--expect-root", &fp])
    }
    /// The path of a file the current `bundle/index.json` names: `"trust_list"`, or
    /// `"status"` (its first status list).
    pub fn bundle_file(&self, which: &str) -> PathBuf {
        let i: serde_json::Value =
            serde_json::from_slice(&std::fs::read(self.path("bundle/index.json")).expect("index"))
                .expect("index json");
        let rel = match &i[which] {
            serde_json::Value::Array(a) => a[0].as_str(),
            v => v.as_str(),
        }
        .expect("index names it");
        self.path("bundle").join(rel)
    }
    /// Publishes the bundle to `bundle/`.
    pub fn publish(&self) {
        self.issuer(&["publish", "--out", &self.p("bundle")]).ok();
    }
    /// The flight QR text of wallet `name`, made now. Each carries a fresh salt, so two
    /// made in the same second differ and neither is taken for a replay.
    pub fn present(&self, name: &str) -> String {
        self.presented.set(self.presented.get() + 1);
        self.wallet(name, &["present", "--text"], &format!("{PIN}\n"))
            .ok()
            .trim()
            .to_owned()
    }
    /// Starts wallet `name`'s `engage` over a loopback socket, `consent` on its standard
    /// input (the PIN); returns the running wallet and its engagement text.
    pub fn engage(&self, name: &str, consent: &str) -> (std::process::Child, String) {
        use std::io::{BufRead, Write};
        let mut c = Command::new(bin("tuaton-wallet"))
            .args([
                "--home",
                &self.p(name),
                "--pin-stdin",
                "engage",
                "--transport",
                "socket:127.0.0.1:0",
                "--text",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tuaton-wallet engage");
        c.stdin
            .take()
            .expect("stdin")
            .write_all(consent.as_bytes())
            .expect("write the consent");
        let mut line = String::new();
        std::io::BufReader::new(c.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the engagement line");
        assert!(line.starts_with("TTB1:"), "{line}");
        (c, line.trim().to_owned())
    }
    /// `check --json` of `payload`: (exit code, verdict JSON).
    pub fn check(&self, payload: &str) -> (i32, serde_json::Value) {
        let r = self.gate(&["check", "--json", payload]);
        let v = serde_json::from_str(r.stdout.trim()).unwrap_or(serde_json::Value::Null);
        (r.code, v)
    }
}

/// Unix seconds as RFC 3339 UTC (the format `--at` takes).
pub fn rfc3339(t: i64) -> String {
    tuaton_common::model::format_rfc3339(t)
}

/// Runs tmux on its own server socket `sock` (tests drive the real TUI this way).
pub fn tmux(sock: &str, args: &[&str]) -> String {
    let o = Command::new("tmux")
        .arg("-L")
        .arg(sock)
        .args(args)
        .output()
        .expect("tmux is installed (.ci/run installs it)");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A tmux server of its own running one window, `cols` x `rows`, with `cmd` in it. The
/// server is killed when this is dropped, so a failing assertion never leaves it (and the
/// program under test) running.
pub struct Tmux {
    sock: String,
    target: &'static str,
}

impl Tmux {
    /// Starts `cmd` in a new detached session named `target` on a server unique to `name`.
    pub fn start(name: &str, cols: u16, rows: u16, cmd: &str) -> Tmux {
        let t = Tmux {
            sock: format!("tuaton-{name}-{}", std::process::id()),
            target: "w",
        };
        let (x, y) = (cols.to_string(), rows.to_string());
        t.run(&["new-session", "-d", "-s", t.target, "-x", &x, "-y", &y, cmd]);
        t
    }
    /// Runs a tmux command against this server.
    pub fn run(&self, args: &[&str]) -> String {
        tmux(&self.sock, args)
    }
    /// Types `text` literally (as a keyboard-wedge scanner does).
    pub fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", self.target, "-l", text]);
    }
    /// Presses a key by tmux name (`Enter`, `F10`, `Escape`).
    pub fn key(&self, key: &str) {
        self.run(&["send-keys", "-t", self.target, key]);
    }
    /// Types `text` then Enter.
    pub fn scan(&self, text: &str) {
        self.type_text(text);
        self.key("Enter");
    }
    /// The screen once it shows `want` (or after 30 s).
    pub fn wait_for(&self, want: &str) -> String {
        wait_for_screen(&self.sock, self.target, want)
    }
    /// The screen now.
    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", self.target])
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.sock, "kill-server"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Captures pane `target` until it shows `want` (or 30 s pass); returns the screen.
pub fn wait_for_screen(sock: &str, target: &str, want: &str) -> String {
    let start = std::time::Instant::now();
    loop {
        let screen = tmux(sock, &["capture-pane", "-p", "-t", target]);
        if screen.contains(want) || start.elapsed() > std::time::Duration::from_secs(30) {
            return screen;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Today's day of the year in Thai time (UTC+7), as a boarding pass dates its flight.
pub fn thai_day_of_year_now() -> u16 {
    use chrono::Datelike;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64;
    tuaton_common::model::thai_date(now)
        .expect("in range")
        .ordinal() as u16
}

/// A one-leg boarding pass (BCBP) for `name` on TG 102 from BKK to CNX on day `day`.
pub fn boarding_pass(name: &str, day: u16) -> String {
    format!("M1{name:<20}EABC123 BKKCNXTG 0102 {day:03}Y032A0045 100")
}

/// The PostgreSQL server the issuance service's tests use: `TUATON_TEST_DATABASE` if it is
/// set (a URL whose role may create databases), otherwise a throwaway server this test
/// process starts once from the installed PostgreSQL (see `throwaway_postgres`). Tests need
/// one or the other: there is no silent skip.
pub fn test_database_server() -> String {
    if let Ok(url) = std::env::var("TUATON_TEST_DATABASE") {
        return url;
    }
    static SERVER: std::sync::OnceLock<Throwaway> = std::sync::OnceLock::new();
    SERVER.get_or_init(|| throwaway_postgres(false)).url.clone()
}

/// `reader-cert --allow` for every element a gate with `require` asks for.
pub fn reader_allow(require: tuaton_common::verify::Requirement) -> String {
    tuaton_common::mdoc_gate::request_for(require)
        .iter()
        .flat_map(|(ns, ids)| ids.iter().map(move |id| format!("{ns}/{id}")))
        .collect::<Vec<_>>()
        .join(",")
}

/// The user PIN of [`softhsm_token`]'s tokens.
pub const SOFTHSM_PIN: &str = "11223344";

/// A fresh SoftHSM token labelled `label` in a temporary directory (kept until the returned
/// directory is dropped), with its configuration file for `SOFTHSM2_CONF`; the user PIN is
/// [`SOFTHSM_PIN`]. `None` when softhsm2-util is missing or fails.
pub fn softhsm_token(label: &str) -> Option<(tempfile::TempDir, PathBuf)> {
    let dir = tempfile::tempdir().ok()?;
    std::fs::create_dir(dir.path().join("tokens")).ok()?;
    let conf = dir.path().join("softhsm2.conf");
    let tokens = dir.path().join("tokens");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\n",
            tokens.display()
        ),
    )
    .ok()?;
    let init = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", label])
        .args(["--so-pin", "55443322", "--pin", SOFTHSM_PIN])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .ok()?;
    init.status.success().then_some((dir, conf))
}

/// [`test_database_server`] for benchmarks: the throwaway server, if one is started,
/// keeps PostgreSQL's durable defaults (fsync on), so a commit costs what it costs in
/// production.
pub fn bench_database_server() -> String {
    if let Ok(url) = std::env::var("TUATON_TEST_DATABASE") {
        return url;
    }
    static SERVER: std::sync::OnceLock<Throwaway> = std::sync::OnceLock::new();
    SERVER.get_or_init(|| throwaway_postgres(true)).url.clone()
}

/// A PostgreSQL server in a temporary directory. Nothing ever drops it: the server goes
/// away with this process, whatever ends it (see [`throwaway_postgres`]).
struct Throwaway {
    url: String,
    /// The keeper's standard input: its write end closes only when this process ends.
    _lifeline: std::process::ChildStdin,
    _keeper: std::process::Child,
}

/// Starts a cluster of its own: `initdb` (superuser `tuaton`, password `tuaton`,
/// SCRAM over TCP only) in a fresh temporary directory, then `postgres` on a free loopback
/// port, under a small shell keeper. The keeper waits for end of file on a pipe from
/// this process; the kernel closes that pipe when the process exits by any path (a
/// panic, a kill -9), and the keeper then stops the server and deletes the directory.
/// As root, both run as the `postgres` user that Debian's package creates (the server
/// refuses to run as root). Unless `durable`, commits are not flushed to disk (fsync
/// off): the tests' servers die with them anyway.
fn throwaway_postgres(durable: bool) -> Throwaway {
    let bindir = postgres_bindir();
    let dir = tempfile::Builder::new()
        .prefix("tuaton-pg-")
        .tempdir()
        .expect("a temporary directory")
        .keep();
    let owner = if rustix::process::getuid().is_root() {
        let (uid, gid) = system_user("postgres").unwrap_or_else(|| {
            panic!("the tests run as root and need the `postgres` user: apt-get install postgresql")
        });
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown the server's directory");
        Some((uid, gid))
    } else {
        None
    };
    let as_owner = |c: &mut Command| {
        if let Some((uid, gid)) = owner {
            use std::os::unix::process::CommandExt;
            c.uid(uid).gid(gid);
        }
    };
    let pwfile = dir.join("password");
    std::fs::write(&pwfile, "tuaton\n").expect("write the password file");
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid)).expect("chown the password file");
    }
    let mut init = Command::new(bindir.join("initdb"));
    init.arg("-D")
        .arg(dir.join("data"))
        .args([
            "-U",
            "tuaton",
            "-A",
            "scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
        ])
        .args(["--no-sync", "--no-instructions"])
        .arg(format!("--pwfile={}", pwfile.display()))
        .current_dir(&dir);
    as_owner(&mut init);
    let out = init.output().expect("initdb runs");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let name = format!("tuaton-test-{:016x}", rand_u64());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    // $1 the server, $2 its directory, $3 the port, $4 on or off (fsync), $5 a name of
    // its own (so this process never takes another's server on a reused port for its
    // own). No Unix socket (-k ''): TCP only.
    const KEEPER: &str = r#"
"$1" -D "$2/data" -p "$3" -h 127.0.0.1 -k '' -c fsync="$4" -c max_connections=300 \
    -c full_page_writes="$4" -c cluster_name="$5" >"$2/log" 2>&1 &
pid=$!
cat >/dev/null
kill -INT "$pid"; wait "$pid"; rm -rf "$2"
"#;
    let mut keeper = Command::new("sh");
    keeper
        .args(["-c", KEEPER, "sh"])
        .arg(bindir.join("postgres"))
        .arg(&dir)
        .arg(port.to_string())
        .arg(if durable { "on" } else { "off" })
        .arg(&name)
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    as_owner(&mut keeper);
    // A group of its own: Ctrl-C at the terminal stops the tests, not the keeper, which
    // then stops the server and removes the directory when the tests are gone.
    std::os::unix::process::CommandExt::process_group(&mut keeper, 0);
    let mut keeper = keeper.spawn().expect("start the PostgreSQL keeper");
    let lifeline = keeper.stdin.take().expect("the keeper's stdin");
    let url = format!("postgres://tuaton:tuaton@127.0.0.1:{port}/postgres");
    let start = std::time::Instant::now();
    loop {
        let ours = postgres::Client::connect(&url, postgres::NoTls)
            .and_then(|mut c| c.query_one("SHOW cluster_name", &[]))
            .map(|r| r.get::<_, String>(0));
        match ours {
            Ok(n) if n == name => break,
            Ok(other) => panic!(
                "port {port} answers as PostgreSQL server {other:?}, not the throwaway one just started"
            ),
            Err(_) => {}
        }
        if start.elapsed() > std::time::Duration::from_secs(60) {
            panic!(
                "the throwaway PostgreSQL server did not start: {}",
                std::fs::read_to_string(dir.join("log")).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Throwaway {
        url,
        _lifeline: lifeline,
        _keeper: keeper,
    }
}

/// The directory of the newest installed PostgreSQL server (`initdb` and `postgres`):
/// Debian keeps them in /usr/lib/postgresql/VERSION/bin, off the PATH.
fn postgres_bindir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return bin;
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .find(|d| d.join("initdb").exists() && d.join("postgres").exists())
        .unwrap_or_else(|| {
            panic!(
                "no PostgreSQL server installed (initdb, postgres): apt-get install postgresql, \
                 or set TUATON_TEST_DATABASE to a server whose role may create databases"
            )
        })
}

/// A system user's uid and gid, from /etc/passwd.
fn system_user(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 3 && f[0] == name).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}

/// A fresh database for one test, dropped (with its connections) at the end.
pub struct TestDb {
    /// Its URL.
    pub url: String,
    name: String,
    admin: String,
}

impl TestDb {
    /// Creates `tuaton_test_<random>` on [`test_database_server`].
    pub fn new() -> TestDb {
        let admin = test_database_server();
        let name = format!("tuaton_test_{:016x}", rand_u64());
        let mut c = postgres::Client::connect(&admin, postgres::NoTls)
            .unwrap_or_else(|e| panic!("the issuance tests need PostgreSQL at {admin}: {e}"));
        c.batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create the test database");
        let url = match admin.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("the test database URL must end in /DBNAME"),
        };
        TestDb { url, name, admin }
    }
    /// Drops the database now, under whatever is using it (a server going away).
    pub fn drop_now(&self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .ok();
        }
    }
}

impl Default for TestDb {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        self.drop_now();
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.finish()
}

/// A running `tuaton-issuer serve`, killed when dropped. Its standard error goes to a
/// file (read by [`Service::terminate`]; printed if a test fails while it runs).
pub struct Service {
    /// Its base URL.
    pub url: String,
    child: std::process::Child,
    log: tempfile::NamedTempFile,
}

impl Service {
    /// Starts the service on a free loopback port with `extra` arguments and environment,
    /// and waits until it answers.
    pub fn start(db: &str, extra: &[&str], env: &[(&str, &str)]) -> Service {
        Self::start_serving(db, extra, &[], env)
    }

    /// [`Service::start`] with `serve_args` after `serve` (`--max-connections N`).
    pub fn start_serving(
        db: &str,
        extra: &[&str],
        serve_args: &[&str],
        env: &[(&str, &str)],
    ) -> Service {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let listen = format!("127.0.0.1:{port}");
        let mut c = Command::new(bin("tuaton-issuer"));
        c.args(["--database", db])
            .args(extra)
            .args(["serve", "--listen", &listen])
            .args(serve_args)
            .env("TUATON_ISSUER_PASSPHRASE", PASSPHRASE)
            .env("NO_PROXY", "127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let log = tempfile::NamedTempFile::new().expect("a log file");
        c.stderr(log.reopen().expect("the log file"));
        for (k, v) in env {
            c.env(k, v);
        }
        // Owned by the guard at once, so it is killed and reaped on every path.
        let svc = Service {
            url: format!("http://{listen}"),
            child: c.spawn().expect("spawn serve"),
            log,
        };
        for _ in 0..200 {
            if std::net::TcpStream::connect(&listen).is_ok() {
                return svc;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("tuaton-issuer serve did not start on {listen}");
    }
}

impl Service {
    /// Stops it as an init system does (SIGTERM) and waits up to 20 s: its exit code
    /// (`None` if a signal ended it) and everything it wrote to standard error.
    pub fn terminate(mut self) -> (Option<i32>, String) {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        for _ in 0..400 {
            if let Ok(Some(st)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self.log.path()).unwrap_or_default();
                return (st.code(), log);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("tuaton-issuer serve did not stop within 20 s of SIGTERM");
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
        if std::thread::panicking() {
            eprintln!(
                "--- tuaton-issuer serve said:\n{}",
                std::fs::read_to_string(self.log.path()).unwrap_or_default()
            );
        }
    }
}

/// One HTTP/1.1 request over a fresh connection to `base` (`http://host:port`), written
/// by hand so a test controls every header: (status, head as sent, body).
pub fn http(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("the service answers");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    write!(s, "{head}\r\n{body}").expect("the request is sent");
    let mut all = vec![];
    s.read_to_end(&mut all).expect("the answer is read");
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(all.len());
    let head = String::from_utf8_lossy(&all[..split]).into_owned();
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (
        status,
        head,
        all.get(split + 4..).unwrap_or_default().to_vec(),
    )
}
