//! The reference way, rebuilt faithfully (`scripts/baseline_reference.py`:
//! ffmpeg CLI to JPEG files, a per-frame Python loop over the same
//! TorchScript model, ffmpeg CLI back), run on the same clip and device.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use stylize_models::torch::DeviceChoice;

/// What the baseline script reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reference {
    pub fps: f64,
    pub frames: u64,
    pub total_secs: f64,
    pub phases: serde_json::Value,
}

fn python() -> PathBuf {
    if let Some(venv) = std::env::var_os("STYLIZE_VENV") {
        return PathBuf::from(venv).join("bin/python");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    home.join(".cache/stylize/venv/bin/python")
}

/// Run the baseline; `None` (with a note on stderr) when it cannot run.
pub fn run(clip: &Path, device: DeviceChoice, threads: Option<u16>, scratch: &Path) -> Option<Reference> {
    // Beside the sources it was built from, unless said otherwise (a
    // binary carried to another machine: scripts/gpu-check.sh).
    let script = std::env::var_os("STYLIZE_REFERENCE_SCRIPT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/baseline_reference.py"));
    if !script.is_file() {
        eprintln!("bench: {} missing: reference way skipped", script.display());
        return None;
    }
    let out = scratch.join("reference.mp4");
    let mut cmd = Command::new(python());
    cmd.arg(&script).arg(clip).arg(&out).args(["--style-index", "17", "--json", "--device"]);
    cmd.arg(if matches!(device, DeviceChoice::Cuda(_)) { "cuda" } else { "cpu" });
    if let Some(n) = threads {
        cmd.args(["--threads", &n.to_string()]);
    }
    let output = match cmd.output() {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            eprintln!("bench: reference way failed: {}", String::from_utf8_lossy(&o.stderr).trim());
            return None;
        }
        Err(e) => {
            eprintln!("bench: cannot run {}: {e}", python().display());
            return None;
        }
    };
    serde_json::from_slice(&output.stdout).map_err(|e| eprintln!("bench: reference output unreadable: {e}")).ok()
}
