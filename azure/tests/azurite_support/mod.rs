//! The one Azurite harness of every test (the engine's tests and the CLI's
//! `tests/`, which include this file): a private Azurite per test, spawned
//! on free loopback ports with its own temporary `--location`, killed on
//! drop, restartable on the same location and ports (to test what survives
//! a crash), freezable (SIGSTOP, an outage without data loss).
//!
//! A missing Azurite fails the test (never a silent pass): `scripts/setup.sh`
//! installs it.

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use stylize_azure::{account_sas, AccountKey, SasProtocol};

/// Azurite's well-known development account.
pub const ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known development key (public, not a secret of ours,
/// but treated as one: it must not appear in any message).
pub const KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A running (or stopped) Azurite.
pub struct Azurite {
    // One Azurite at a time per test binary: started side by side on this
    // small machine, they starve each other's start-up.
    _turn: std::sync::MutexGuard<'static, ()>,
    child: Option<Child>,
    /// Its data directory (`--location`), removed on drop.
    pub dir: tempfile::TempDir,
    /// Blob service port.
    pub blob_port: u16,
    /// Queue service port.
    pub queue_port: u16,
    listen: Listen,
}

/// Where an Azurite listens: on loopback here (the default), or inside
/// another network namespace on an address of its own, over TLS (plain
/// http only reaches loopback).
#[derive(Clone, Default)]
pub struct Listen {
    /// The command that runs Azurite there (`ip netns exec NODE`), if any.
    pub wrapper: Vec<String>,
    /// The address clients use; loopback when `None`.
    pub address: Option<String>,
    /// PEM certificate and key: https instead of http.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// Where the Azurite binary is installed, if it is (`STYLIZE_AZURITE`
/// overrides).
pub fn binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("STYLIZE_AZURITE") {
        return Some(PathBuf::from(p));
    }
    let cache = std::env::var_os("STYLIZE_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/stylize")))?;
    let bin = cache.join("azurite/node_modules/.bin/azurite");
    bin.exists().then_some(bin)
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn answers(host: &str, port: u16) -> bool {
    let Ok(ip) = host.parse::<std::net::IpAddr>() else { return false };
    TcpStream::connect_timeout(&(ip, port).into(), Duration::from_millis(200)).is_ok()
}

impl Azurite {
    /// Start one; the test fails when Azurite is not installed.
    pub fn start() -> Self {
        Self::start_at(Listen::default())
    }

    /// Start one where `listen` says.
    pub fn start_at(listen: Listen) -> Self {
        static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        assert!(
            binary().is_some(),
            "azurite is not installed: scripts/setup.sh installs it into ~/.cache/stylize/azurite"
        );
        let dir = tempfile::tempdir().unwrap();
        let mut a = Azurite { _turn: turn, child: None, dir, blob_port: 0, queue_port: 0, listen };
        // Free ports can be taken by a parallel test before Azurite binds
        // them: then it exits, and we try other ports.
        for attempt in 1..=3 {
            a.blob_port = free_port();
            a.queue_port = free_port();
            while a.queue_port == a.blob_port {
                a.queue_port = free_port();
            }
            match a.spawn() {
                Ok(()) => return a,
                Err(e) if attempt < 3 => eprintln!("azurite start failed ({e}); retrying on other ports"),
                Err(e) => panic!("{e}"),
            }
        }
        unreachable!()
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut cmd = match self.listen.wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(binary().unwrap());
                c
            }
            None => Command::new(binary().unwrap()),
        };
        let bind = if self.listen.address.is_some() { "0.0.0.0" } else { "127.0.0.1" };
        if let Some((cert, key)) = &self.listen.tls {
            cmd.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        let child = cmd
            .args(["--silent", "--disableTelemetry", "--skipApiVersionCheck", "--loose"])
            .arg("--location")
            .arg(self.dir.path())
            .args(["--blobHost", bind, "--queueHost", bind])
            .args(["--blobPort", &self.blob_port.to_string(), "--queuePort", &self.queue_port.to_string()])
            // Azurite also serves tables, by default on the fixed port
            // 10002, which parallel instances would fight over.
            .args(["--tableHost", bind, "--tablePort", &free_port().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(self.log_file())
            .spawn()
            .expect("spawning azurite");
        self.child = Some(child);
        // 15 s on an idle machine; more while tests and builds share 2 cores.
        let deadline = Instant::now() + Duration::from_secs(45);
        let host = self.host();
        while !(answers(&host, self.blob_port) && answers(&host, self.queue_port)) {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                let log = std::fs::read_to_string(self.dir.path().join("azurite-stderr.log")).unwrap_or_default();
                let tail: String = log.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
                return Err(format!("azurite exited with {status}: {tail}"));
            }
            if Instant::now() > deadline {
                self.kill();
                return Err("azurite did not answer within 45 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // A clash on a port shows as an exit right after the others answer.
        std::thread::sleep(Duration::from_millis(300));
        if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
            self.child = None;
            return Err(format!("azurite exited with {status} after starting"));
        }
        Ok(())
    }

    /// Azurite's stderr, appended to `<location>.log` beside the data.
    fn log_file(&self) -> Stdio {
        let path = self.dir.path().join("azurite-stderr.log");
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map(Stdio::from)
            .unwrap_or_else(|_| Stdio::null())
    }

    /// Kill it hard (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start again on the same location and ports.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn().unwrap();
    }

    /// Kill the emulator, keeping its files (Azurite saves its metadata
    /// every few seconds: the last seconds of writes may be lost).
    pub fn stop(&mut self) {
        self.kill();
    }

    /// Freeze the emulator (SIGSTOP): requests hang, as in a network
    /// outage, and no data is lost.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaw it (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill").args([sig, &c.id().to_string()]).status();
        }
    }

    /// An account SAS for blobs and queues with `permissions`.
    pub fn account_sas(&self, permissions: &str) -> String {
        account_sas(ACCOUNT, &key(), "bq", "sco", permissions, in_an_hour(), SasProtocol::HttpsAndHttp).unwrap()
    }

    /// A service SAS for one container.
    pub fn container_sas(&self, container: &str, permissions: &str) -> String {
        stylize_azure::container_sas(ACCOUNT, &key(), container, permissions, in_an_hour(), SasProtocol::HttpsAndHttp)
            .unwrap()
    }

    /// `http://127.0.0.1:P/devstoreaccount1/<container>` (no SAS).
    pub fn container(&self, name: &str) -> String {
        format!("{}/{name}", self.blob_endpoint())
    }

    /// `http://127.0.0.1:Q/devstoreaccount1/<queue>` (no SAS).
    pub fn queue(&self, name: &str) -> String {
        format!("{}/{name}", self.queue_endpoint())
    }

    /// The signature value of a SAS query string (to grep for leaks).
    pub fn signature(sas: &str) -> String {
        sas.split('&').find_map(|kv| kv.strip_prefix("sig=")).unwrap_or_default().to_string()
    }

    fn host(&self) -> String {
        self.listen.address.clone().unwrap_or_else(|| "127.0.0.1".into())
    }

    fn scheme(&self) -> &'static str {
        if self.listen.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// `http://127.0.0.1:<blob port>/devstoreaccount1` (or where it listens)
    pub fn blob_endpoint(&self) -> String {
        format!("{}://{}:{}/{ACCOUNT}", self.scheme(), self.host(), self.blob_port)
    }

    /// `http://127.0.0.1:<queue port>/devstoreaccount1` (or where it listens)
    pub fn queue_endpoint(&self) -> String {
        format!("{}://{}:{}/{ACCOUNT}", self.scheme(), self.host(), self.queue_port)
    }

    /// Total bytes under the data directory (to see an upload progress).
    pub fn data_bytes(&self) -> u64 {
        fn walk(p: &std::path::Path) -> u64 {
            let Ok(rd) = std::fs::read_dir(p) else { return 0 };
            rd.flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => walk(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        }
        walk(self.dir.path())
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        self.resume();
        self.kill();
    }
}

/// The dev key.
pub fn key() -> AccountKey {
    AccountKey::from_base64(KEY).unwrap()
}

/// An hour from now.
pub fn in_an_hour() -> SystemTime {
    SystemTime::now() + Duration::from_secs(3600)
}

/// A full-power account SAS over blobs and queues (the "admin" token).
pub fn admin_sas() -> String {
    account_sas(ACCOUNT, &key(), "bq", "sco", "rwdlacup", in_an_hour(), SasProtocol::HttpsAndHttp).unwrap()
}

/// The `sig` value of a SAS query, raw and percent-decoded.
pub fn sig_of(sas: &str) -> Vec<String> {
    let raw = sas.split('&').find_map(|p| p.strip_prefix("sig=")).unwrap().to_string();
    let decoded = url::form_urlencoded::parse(sas.as_bytes()).find(|(k, _)| k == "sig").unwrap().1.into_owned();
    vec![raw, decoded]
}

/// Collects every message a test shows, and checks none holds a secret.
#[derive(Default)]
pub struct Shown {
    texts: Vec<String>,
    secrets: Vec<String>,
}

impl Shown {
    /// Remember the secrets of `sas`.
    pub fn secret_sas(&mut self, sas: &str) {
        self.secrets.extend(sig_of(sas));
    }

    /// Remember a message.
    pub fn add(&mut self, text: impl Into<String>) {
        self.texts.push(text.into());
    }

    /// No message holds a signature, the account key, or a `sig=` value.
    pub fn check(&self) {
        assert!(!self.texts.is_empty());
        for t in &self.texts {
            eprintln!("shown: {t}");
            assert!(!t.contains(KEY) && !t.contains(&KEY[..20]), "account key in {t:?}");
            for s in &self.secrets {
                assert!(!t.contains(s.as_str()), "signature in {t:?}");
            }
            for (i, _) in t.match_indices("sig=") {
                assert!(t[i + 4..].starts_with("REDACTED"), "unredacted sig= in {t:?}");
            }
        }
    }
}
