//! The GPU check stays ready for the day a GPU is lent: the bundle's
//! recipe (`scripts/gpu-bundle.sh --dry-run`, from this machine's builds)
//! and `scripts/gpu-check.sh` itself, run on the CPU with short clips. A
//! renamed file, test target or flag fails here, not on the lent machine
//! with its 15 minutes.

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use util::*;

/// The CUDA test binary `cargo test` built beside this one.
fn cuda_tests() -> Option<PathBuf> {
    let deps = std::env::current_exe().ok()?.parent()?.to_path_buf();
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(deps)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            name.starts_with("cuda-") && p.extension().is_none()
        })
        .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
        .collect();
    found.sort();
    found.pop().map(|(_, p)| p)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_gpu_check_runs_on_the_cpu_from_a_dry_bundle() {
    let Some(cuda) = cuda_tests() else {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI: the CUDA test binary was not built");
        skipped("tests/gpu_check.rs", "no CUDA test build (cargo test --release -p stylize-models --test cuda)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("dry");
    let made = Command::new("bash")
        .arg("scripts/gpu-bundle.sh")
        .arg("--dry-run")
        .arg(&bundle)
        .env("STYLIZE_DRY_STYLIZE", env!("CARGO_BIN_EXE_stylize"))
        .env("STYLIZE_DRY_CUDA_TESTS", &cuda)
        .output()
        .unwrap();
    assert!(made.status.success(), "gpu-bundle.sh --dry-run: {}", String::from_utf8_lossy(&made.stderr));
    for f in ["stylize", "cuda-tests", "ffmpeg", "ffprobe", "models/multistyle26.pt", "models/test/identity.pt"] {
        assert!(bundle.join("bundle").join(f).is_file(), "the bundle lacks {f}");
    }

    // As on the lent machine, but on the CPU: `python3` is one with torch
    // (the venv's), libtorch is its own.
    let venv = PathBuf::from(std::env::var("STYLIZE_VENV").expect("STYLIZE_VENV (scripts/env.sh)"));
    let torch_lib = PathBuf::from(std::env::var("LIBTORCH").expect("LIBTORCH (scripts/env.sh)")).join("lib");
    let out = dir.path().join("out");
    let path = format!("{}:{}", venv.join("bin").display(), std::env::var("PATH").unwrap_or_default());
    let check = Command::new("bash")
        .arg("scripts/gpu-check.sh")
        .env("OUT", &out)
        .env("PATH", path)
        .env("STYLIZE_GPU_BUNDLE", bundle.join("bundle"))
        .env("STYLIZE_GPU_CHECK_DEVICES", "cpu")
        .env("STYLIZE_GPU_CHECK_QUICK", "1")
        .env("STYLIZE_GPU_CHECK_TORCH_LIB", &torch_lib)
        .env("STYLIZE_GPU_CHECK_CACHE", dir.path().join("cache"))
        .env("STYLIZE_THREADS", "2")
        .env_remove("STYLIZE_SKIP_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let done = wait_bounded(check, Duration::from_secs(480));
    let log = read(&out.join("check.log"));
    assert!(done.status.success(), "gpu-check.sh failed:\n{log}\n{}", String::from_utf8_lossy(&done.stdout));
    for line in ["CUDA tests: exit 0", "bench 640x360: exit 0", "bench 1920x1080: exit 0", "done"] {
        assert!(log.contains(line), "check.log lacks '{line}':\n{log}");
    }
    let tests = read(&out.join("cuda-tests.log"));
    assert!(tests.contains("test result: ok") && !tests.contains(" 0 passed"), "{tests}");
    for size in ["640x360", "1920x1080"] {
        let json: serde_json::Value = serde_json::from_str(&read(&out.join(format!("{size}-bench.json")))).unwrap();
        let run = &json["runs"][0];
        assert_eq!((run["device"].as_str(), run["size"].as_str()), (Some("cpu"), Some(size)), "{json}");
        assert!(!run["end_to_end"].as_array().unwrap().is_empty(), "{json}");
        assert!(out.join(format!("{size}-bench.png")).is_file());
    }
}
