//! The README's commands work as written: each `stylize` line of its
//! shell blocks parses (run with `--help` after it: clap checks every
//! subcommand, flag and value up to there, and runs nothing), and the MPI
//! lines that say they run on this machine do, for real.

mod util;

use std::path::Path;

use util::*;

/// Programs the README pipes `stylize` into.
const PIPED_TO: [&str; 3] = ["man", "jq", "less"];

/// The lines of the README's ```sh blocks, comments cut.
fn shell_lines() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let mut lines = Vec::new();
    let mut inside = false;
    // Continued lines (`\` at the end) joined into one.
    let joined = readme.replace("\\\n", " ");
    for line in joined.lines() {
        match line.trim() {
            "```sh" => inside = true,
            "```" => inside = false,
            // The command alone: no comment, no shell redirection or pipe
            // into another program (` | ` between subcommands shows
            // alternatives).
            l if inside && !l.is_empty() => {
                let mut l = l.split(" #").next().unwrap().split(" > ").next().unwrap();
                for program in PIPED_TO {
                    l = l.split(&format!(" | {program} ")).next().unwrap();
                }
                lines.push(l.trim().to_string())
            }
            _ => {}
        }
    }
    lines
}

/// `stylize A B | C D [--e]` → the argument lists `A B`, `A C D --e`: the
/// alternatives a line shows, each after the first keeping its
/// subcommand.
fn alternatives(words: &str) -> Vec<Vec<String>> {
    let words = words.replace(['[', ']'], "");
    let split = |s: &str| shlex::split(s).unwrap_or_else(|| panic!("README: cannot split `{s}`"));
    let mut parts = words.split(" | ");
    let first = split(parts.next().unwrap());
    let command = first[0].clone();
    let mut out = vec![first];
    for alt in parts {
        out.push(std::iter::once(command.clone()).chain(split(alt)).collect());
    }
    out
}

#[test]
fn every_stylize_command_shown_parses() {
    let lines = shell_lines();
    let commands: Vec<&String> = lines.iter().filter(|l| l.contains("stylize ")).collect();
    assert!(commands.len() > 20, "the README's blocks: {lines:?}");
    let mut checked = 0;
    for line in commands {
        let words = &line[line.find("stylize ").unwrap() + "stylize ".len()..];
        for args in alternatives(words) {
            // `...` stands for the rest of a command shown before.
            let args: Vec<&str> = args.iter().map(String::as_str).filter(|a| *a != "...").collect();
            let out = stylize().args(&args).arg("--help").env_remove("STYLIZE_OUTPUT").output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && (text.contains("Usage:") || args == ["--version"]),
                "README: `stylize {}` does not parse: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
            checked += 1;
        }
    }
    assert!(checked > 25, "{checked}");
}

#[test]
fn the_mpi_lines_for_this_machine_run_as_written() {
    let lines = shell_lines();
    let here: Vec<&String> = lines.iter().filter(|l| l.starts_with("mpirun -n ")).collect();
    assert_eq!(here.len(), 3, "{here:?}");
    let clip = tempfile::tempdir().unwrap();
    let clip = make_clip(clip.path(), "clip.mp4", &ClipSpec { frames: 24, gop: 12, ..ClipSpec::default() });
    // As the README says: as root, Open MPI wants this flag too.
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    let mut digests = std::collections::BTreeSet::new();
    for line in here {
        // Each in a folder of its own: the same job would be found done.
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(&clip, dir.path().join("clip.mp4")).unwrap();
        let mut words: Vec<&str> = line.split_whitespace().collect();
        if root {
            words.insert(1, "--allow-run-as-root");
        }
        // The binary under test, by the name the README uses.
        let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_stylize"));
        let mut cmd = std::process::Command::new(words[0]);
        cmd.args(words[1..].iter().map(|w| if *w == "stylize" { bin.as_os_str() } else { std::ffi::OsStr::new(w) }));
        let out = cmd.current_dir(dir.path()).env_remove("STYLIZE_OUTPUT").output().unwrap();
        assert!(out.status.success(), "`{line}`: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let wrote = stdout.lines().find_map(|l| l.strip_prefix("wrote ")).unwrap_or_else(|| panic!("{stdout}"));
        digests.insert((line.contains("mosaic"), digest(&dir.path().join(wrote))));
    }
    // Same style, same bytes, whatever the rank count.
    assert_eq!(digests.iter().filter(|(mosaic, _)| !mosaic).count(), 1, "{digests:?}");
}
