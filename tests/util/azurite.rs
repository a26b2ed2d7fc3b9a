//! Azurite (Microsoft's Storage emulator) for the tests: started on free
//! loopback ports with its own data directory, killed when dropped.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use stylize_engine::azure::{account_sas, AccountKey, SasProtocol};

/// Azurite's well-known development account.
pub const ACCOUNT: &str = "devstoreaccount1";
/// Its well-known key (public, documented by Microsoft).
pub const KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

pub struct Azurite {
    child: Child,
    bin: PathBuf,
    pub table_port: u16,
    // One Azurite at a time: started side by side on this small machine,
    // they starve each other's start-up.
    _turn: std::sync::MutexGuard<'static, ()>,
    _dir: tempfile::TempDir,
    pub blob_port: u16,
    pub queue_port: u16,
}

fn binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("STYLIZE_AZURITE") {
        return Some(PathBuf::from(p));
    }
    let home = PathBuf::from(std::env::var_os("HOME")?);
    let p = home.join(".cache/stylize/azurite/node_modules/.bin/azurite");
    p.is_file().then_some(p)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Azurite {
    /// Start Azurite; panics (the test fails) when it is not installed:
    /// `scripts/setup.sh` installs it.
    pub fn start() -> Self {
        static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        let bin = binary().expect("azurite is not installed: run scripts/setup.sh");
        let dir = tempfile::tempdir().unwrap();
        let (blob_port, queue_port, table_port) = (free_port(), free_port(), free_port());
        let child = spawn(&bin, dir.path(), blob_port, queue_port, table_port);
        wait_ready(dir.path(), blob_port, queue_port);
        Azurite { child, bin, table_port, _turn: turn, _dir: dir, blob_port, queue_port }
    }

    /// Freeze the emulator (SIGSTOP): requests hang, as in a network
    /// outage, and no data is lost.
    pub fn pause(&self) {
        let _ = Command::new("kill").args(["-STOP", &self.child.id().to_string()]).status();
    }

    /// Thaw it (SIGCONT).
    pub fn resume(&self) {
        let _ = Command::new("kill").args(["-CONT", &self.child.id().to_string()]).status();
    }

    /// Kill the emulator, keeping its files. Azurite saves its metadata
    /// every few seconds, so the last seconds of writes may be lost.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Start it again on the same data and ports.
    pub fn restart(&mut self) {
        self.child = spawn(&self.bin, self._dir.path(), self.blob_port, self.queue_port, self.table_port);
        wait_ready(self._dir.path(), self.blob_port, self.queue_port);
    }

    /// An account SAS for blobs and queues with every permission.
    pub fn account_sas(&self, permissions: &str) -> String {
        let key = AccountKey::from_base64(KEY).unwrap();
        account_sas(
            ACCOUNT,
            &key,
            "bq",
            "sco",
            permissions,
            SystemTime::now() + Duration::from_secs(3600),
            SasProtocol::HttpsAndHttp,
        )
        .unwrap()
    }

    /// A service SAS for one container.
    pub fn container_sas(&self, container: &str, permissions: &str) -> String {
        let key = AccountKey::from_base64(KEY).unwrap();
        stylize_engine::azure::container_sas(
            ACCOUNT,
            &key,
            container,
            permissions,
            SystemTime::now() + Duration::from_secs(3600),
            SasProtocol::HttpsAndHttp,
        )
        .unwrap()
    }

    /// `http://127.0.0.1:P/devstoreaccount1/<container>` (no SAS).
    pub fn container(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}/{name}", self.blob_port)
    }

    /// `http://127.0.0.1:Q/devstoreaccount1/<queue>` (no SAS).
    pub fn queue(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}/{name}", self.queue_port)
    }

    /// The signature value of a SAS query string (to grep for leaks).
    pub fn signature(sas: &str) -> String {
        sas.split('&').find_map(|kv| kv.strip_prefix("sig=")).unwrap_or_default().to_string()
    }
}

fn spawn(bin: &std::path::Path, dir: &std::path::Path, blob_port: u16, queue_port: u16, table_port: u16) -> Child {
    Command::new(bin)
        .args(["--silent", "--disableTelemetry", "--skipApiVersionCheck", "--loose", "--location"])
        .arg(dir)
        .args([
            "--blobHost",
            "127.0.0.1",
            "--queueHost",
            "127.0.0.1",
            "--blobPort",
            &blob_port.to_string(),
            "--queuePort",
            &queue_port.to_string(),
        ])
        // Azurite also serves tables, on a fixed port unless told: two
        // instances (another test binary, a developer's) would clash.
        .args(["--tableHost", "127.0.0.1", "--tablePort", &table_port.to_string()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("stderr.txt")).unwrap())
        .spawn()
        .expect("azurite starts")
}

fn wait_ready(dir: &std::path::Path, blob_port: u16, queue_port: u16) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", queue_port)).is_err()
        || std::net::TcpStream::connect(("127.0.0.1", blob_port)).is_err()
    {
        if start.elapsed() > Duration::from_secs(60) {
            let err = std::fs::read_to_string(dir.join("stderr.txt")).unwrap_or_default();
            panic!("azurite did not start: {err}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        self.resume();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
