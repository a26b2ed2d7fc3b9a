//! `stylize bench --quick` as a user runs it: a table, `bench.json` with
//! every figure, a chart, and a word on what it did not measure here.
//! Figures are not judged (timings belong to the bench, not to tests):
//! only that each is there, measured, and labelled.

mod util;

use util::*;

/// Whether this CPU computes bf16 (the flags the bench reads).
fn cpu_bf16() -> bool {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("flags"))
        .is_some_and(|l| l.split_whitespace().any(|f| f == "avx512_bf16" || f == "amx_bf16"))
}

#[test]
fn quick_bench_writes_every_figure_a_chart_and_what_it_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let out = stylize()
        .args(["bench", "--quick", "--devices", "cpu", "--sizes", "160x90", "-o"])
        .arg(dir.path())
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    let bench: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("bench.json")).unwrap()).unwrap();
    assert_eq!(bench["date"].as_str().unwrap().len(), 10);
    // The machine is named with the flags that decide what is fast on it.
    let machine = bench["machine"].as_str().unwrap();
    assert!(machine.contains("cores"), "{machine}");
    assert_eq!(machine.contains("avx512_bf16") || machine.contains("amx_bf16"), cpu_bf16(), "{machine}");
    let run = &bench["runs"][0];
    assert_eq!(
        (run["device"].as_str(), run["size"].as_str(), run["frames"].as_u64()),
        (Some("cpu"), Some("160x90"), Some(16))
    );

    // bf16 is measured where the CPU computes it, else said to be skipped.
    let precisions: std::collections::BTreeSet<&str> =
        run["model_only"].as_array().unwrap().iter().map(|m| m["precision"].as_str().unwrap()).collect();
    let skipped: Vec<&str> = bench["skipped"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    if cpu_bf16() {
        assert_eq!(precisions, ["bf16", "fp32"].into(), "{run}");
    } else {
        assert_eq!(precisions, ["fp32"].into(), "{run}");
        assert!(skipped.iter().any(|s| s.contains("bf16 not measured")), "{skipped:?}");
        assert!(stderr.contains("bf16 not measured"), "said as it starts: {stderr}");
    }
    assert!(skipped.iter().any(|s| s.starts_with("--quick")), "{skipped:?}");
    // Each figure in frames/s and in CPU time a frame: a frame's CPU time
    // at most the cores' time a frame took (a figure per frame, not the
    // run's total).
    let cores = std::thread::available_parallelism().unwrap().get() as f64;
    let per_frame = |x: &serde_json::Value| {
        let (fps, cpu_ms) = (x["fps"].as_f64().unwrap(), x["cpu_ms"].as_f64().unwrap());
        fps > 0.0 && cpu_ms > 0.0 && cpu_ms * fps <= 1100.0 * cores
    };
    for m in run["model_only"].as_array().unwrap() {
        assert!(per_frame(m) && m["rounds"].as_array().unwrap().len() == 1, "{m}");
    }
    let variants: Vec<&str> =
        run["end_to_end"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert!(variants.contains(&"fp32") && variants.last() == Some(&"default"), "{variants:?}");
    for v in run["end_to_end"].as_array().unwrap() {
        assert!(per_frame(v), "{v}");
    }
    assert_eq!(run["cpu_over_model"].as_array().unwrap().len(), variants.len());
    let with_extras = run["end_to_end"].as_array().unwrap().iter().filter(|v| v["deflicker"] != "off").count();
    assert_eq!(run["extras_cpu_cost"].as_array().unwrap().len(), with_extras, "{run}");
    let default = run["default_precision"].as_str().unwrap();
    assert!(precisions.contains(default), "auto chose {default}, which was not measured");
    // The reference way ran (setup installs its venv), and each variant
    // is compared with it and with the model alone.
    assert!(run["reference"]["fps"].as_f64().unwrap() > 0.0, "{run}");
    assert_eq!(run["speedup_vs_reference"].as_array().unwrap().len(), variants.len());
    assert_eq!(run["efficiency"].as_array().unwrap().len(), variants.len());
    // Quick measures no memory, ceiling or painting styles.
    assert!(bench["memory"].is_null() && bench["ceiling"].is_null() && bench["styles"].is_null());

    // The table says the same, and labels each CPU variant the export
    // tried (int8 and the like) shipped or not.
    assert!(stdout.contains(&format!("engine default ({default})")), "{stdout}");
    assert!(stdout.contains("reference way") && stdout.contains("skipped: --quick"), "{stdout}");
    let tried = bench["cpu_variants"]["variants"].as_array().cloned().unwrap_or_default();
    assert!(
        bench["cpu_variants"]["tried"] == true && tried.len() >= 4,
        "the export measured no CPU variants (scikit-video missing?): {}",
        bench["cpu_variants"]
    );
    for v in &tried {
        let label = if v["shipped"] == true { "shipped".to_string() } else { "not shipped".to_string() };
        let line = format!("cpu variant (model export): {}:", v["name"].as_str().unwrap());
        assert!(stdout.lines().any(|l| l.starts_with(&line) && l.contains(&label)), "{line} … {label}\n{stdout}");
    }
    // The chart is a PNG with a bar per figure (40 px each): the model
    // alone at its best batch per precision, each variant, the reference
    // way, each CPU variant the export tried.
    let png = std::fs::read(dir.path().join("bench.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    let bars = precisions.len() + variants.len() + 1 + tried.len();
    assert_eq!(height, 150 + 40 * bars as u32, "{height} px for {bars} bars");
}
