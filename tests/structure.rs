//! The shape of the code, kept by a test as the design says it: the
//! engine and the worker know no backend (no Azure SDK, no MPI, no tokio
//! in their dependency trees), no crate has an import circle between its
//! modules, and the binary reaches only the pipelines, the bench, the
//! network checker and the adapters it wires together.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The workspace's library crates and the binary, by source folder.
const CRATES: [&str; 9] = [
    "engine/src",
    "azure/src",
    "mpi/src",
    "worker/src",
    "models/src",
    "pipelines/src",
    "network/src",
    "benches/src",
    "src",
];

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
}

/// The code of a file without comments and without its unit tests.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines().map(without_comment).collect::<Vec<_>>().join("\n")
}

/// A line up to its `//` comment (a URL's `://` is not one).
fn without_comment(line: &str) -> &str {
    let mut from = 0;
    while let Some(i) = line[from..].find("//") {
        let at = from + i;
        if at == 0 || !line[..at].ends_with(':') {
            return &line[..at];
        }
        from = at + 2;
    }
    line
}

/// The module names that follow `prefix` in `text` (`crate::store::…`).
fn names_after(text: &str, prefix: &str) -> BTreeSet<String> {
    text.match_indices(prefix)
        .map(|(i, _)| {
            text[i + prefix.len()..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect::<String>()
        })
        .filter(|n| !n.is_empty())
        .collect()
}

/// Top-level module → the top-level modules it uses.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(src) {
        let rel = file.strip_prefix(src).unwrap().with_extension("");
        let parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        let top = parts[0].clone();
        if parts.len() == 1 && ["lib", "main"].contains(&top.as_str()) {
            continue;
        }
        let text = code(&file);
        let mut used = names_after(&text, "crate::");
        // In a top-level module's own file, `super::` is the crate root.
        if parts.len() == 1 {
            used.extend(names_after(&text, "super::"));
        }
        used.remove(&top);
        graph.entry(top).or_default().extend(used);
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    graph.values_mut().for_each(|uses| uses.retain(|m| modules.contains(m)));
    graph
}

/// A module from which `start` can be reached again, as a path.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![vec![start.to_string()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        for next in &graph[path.last().unwrap()] {
            let mut longer = path.clone();
            longer.push(next.clone());
            if next == start {
                return Some(longer);
            }
            if seen.insert(next.clone()) {
                stack.push(longer);
            }
        }
    }
    None
}

#[test]
fn no_crate_has_an_import_circle() {
    let mut circles = Vec::new();
    for src in CRATES {
        let graph = module_graph(&Path::new(ROOT).join(src));
        assert!(graph.len() >= 2 || src == "mpi/src", "{src}: modules found: {graph:?}");
        for module in graph.keys() {
            if let Some(path) = circle(&graph, module) {
                circles.push(format!("{src}: {}", path.join(" -> ")));
            }
        }
    }
    assert!(circles.is_empty(), "import circles:\n{}", circles.join("\n"));
}

#[test]
fn the_circle_finder_finds_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lib.rs"), "mod a; mod b; mod c;").unwrap();
    std::fs::write(dir.path().join("a.rs"), "use crate::b::B;").unwrap();
    std::fs::write(dir.path().join("b.rs"), "// crate::c is only named here\nuse super::c::C;").unwrap();
    std::fs::write(dir.path().join("c.rs"), "pub struct C(crate::a::A);").unwrap();
    let graph = module_graph(dir.path());
    assert_eq!(circle(&graph, "a"), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    std::fs::write(dir.path().join("c.rs"), "pub struct C; // crate::a::A").unwrap();
    assert_eq!(circle(&module_graph(dir.path()), "a"), None);
}

#[test]
fn the_engine_and_the_worker_know_no_backend() {
    for package in ["stylize-engine", "stylize-worker"] {
        let out = Command::new(env!("CARGO"))
            .args(["tree", "--offline", "-e", "normal", "--prefix", "none", "-p", package])
            .current_dir(ROOT)
            .output()
            .unwrap();
        assert!(out.status.success(), "cargo tree: {}", String::from_utf8_lossy(&out.stderr));
        let tree = String::from_utf8_lossy(&out.stdout);
        assert!(tree.lines().count() > 10, "{package}: a real tree: {tree}");
        let backends: Vec<&str> =
            tree.lines().filter(|l| ["azure_", "mpi ", "mpi-sys", "tokio "].iter().any(|b| l.starts_with(b))).collect();
        assert!(backends.is_empty(), "{package} depends on {backends:?}");
    }
}

#[test]
fn the_binary_reaches_only_pipelines_bench_network_and_adapters() {
    // The timeline draws a job's state for `jobs report`: a view, like the bench.
    let allowed =
        ["stylize_pipelines", "stylize_bench", "stylize_network", "stylize_azure", "stylize_mpi", "stylize_timeline"];
    let mut reached = BTreeSet::new();
    for file in rust_files(&Path::new(ROOT).join("src")) {
        reached.extend(names_after(&code(&file), "stylize_").into_iter().map(|n| format!("stylize_{n}")));
    }
    assert!(reached.contains("stylize_pipelines"), "{reached:?}");
    let other: Vec<_> = reached.iter().filter(|c| !allowed.contains(&c.as_str())).collect();
    assert!(other.is_empty(), "src/ reaches {other:?}");
}
