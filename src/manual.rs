//! `stylize man`: manual pages from the command line's own declaration,
//! with the sections a man page reader looks for and clap does not make:
//! EXAMPLES (each command's `after_help`, also shown by `--help`), EXIT
//! STATUS and ENVIRONMENT (every `STYLIZE_…` variable a flag falls back
//! to, and the few read directly).

use std::path::Path;

use clap::CommandFactory;
use clap_mangen::Man;

use crate::cli::Cli;

/// What the exit codes mean, for every command.
const EXIT_STATUS: [(&str, &str); 4] = [
    ("0", "Done (or nothing to do: the job was already committed)."),
    ("1", "Failed: one line on stderr names the file or URL and the cause; nothing half-written is left."),
    ("2", "A mistake in the command line: an unknown flag or style, a bad value, conflicting options."),
    ("130", "Interrupted (Ctrl-C, SIGTERM): finished shards are kept, the same command resumes."),
];

/// Variables read directly, not as a flag's fallback.
const MORE_ENVIRONMENT: [(&str, &str); 7] = [
    ("STYLIZE_CACHE", "Models, the Python venv, Azurite and the state of `-o FILE` jobs (default ~/.cache/stylize)."),
    ("STYLIZE_MODELS", "Where the models are (default $STYLIZE_CACHE/models)."),
    ("STYLIZE_RANK_TIMEOUT", "Seconds an MPI rank may be silent before rank 0 ends the job (default 10)."),
    ("NO_COLOR", "Set: no colour in messages (as --color never)."),
    ("RUST_LOG", "Log filter (tracing's syntax); overrides -v."),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "Default collector for --otlp."),
    ("OMPI_COMM_WORLD_RANK", "Set by mpirun: the process is one rank of an MPI job."),
];

/// `stylize man [COMMAND…]`: one page on stdout; `--dir`: every page.
pub fn run(path: &[String], dir: Option<&Path>) -> anyhow::Result<()> {
    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
        let written = write_all(&root, dir)?;
        outln!("wrote {written} manual pages into {}", dir.display());
        return Ok(());
    }
    let mut cmd = &root;
    for name in path {
        cmd = cmd
            .find_subcommand(name)
            .ok_or_else(|| crate::Usage::error(format!("stylize man {}: no such command", path.join(" "))))?;
    }
    out!("{}", String::from_utf8_lossy(&page(cmd)?));
    Ok(())
}

fn write_all(cmd: &clap::Command, dir: &Path) -> anyhow::Result<usize> {
    let mut written = 0;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        written += write_all(sub, dir)?;
    }
    let file = dir.join(Man::new(cmd.clone()).get_filename());
    std::fs::write(&file, page(cmd)?).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    Ok(written + 1)
}

/// One command's page: clap's sections, then EXAMPLES, EXIT STATUS,
/// ENVIRONMENT and SEE ALSO.
fn page(cmd: &clap::Command) -> anyhow::Result<Vec<u8>> {
    let man = Man::new(cmd.clone());
    let mut w = Vec::new();
    man.render_title(&mut w)?;
    man.render_name_section(&mut w)?;
    man.render_synopsis_section(&mut w)?;
    man.render_description_section(&mut w)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut w)?;
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(&mut w)?;
    }
    if let Some(examples) = cmd.get_after_help() {
        section(&mut w, "EXAMPLES");
        let text = examples.to_string();
        w.extend(b".nf\n");
        for line in text.lines().filter(|l| !l.trim_start().starts_with("Examples")) {
            w.extend(escape(line).as_bytes());
            w.push(b'\n');
        }
        w.extend(b".fi\n");
    }
    section(&mut w, "EXIT STATUS");
    for (code, meaning) in EXIT_STATUS {
        item(&mut w, code, meaning);
    }
    let mut vars = Vec::new();
    environment(cmd, &mut vars);
    vars.sort();
    vars.dedup();
    section(&mut w, "ENVIRONMENT");
    for (name, flag) in &vars {
        item(&mut w, name, &format!("The default of {flag}."));
    }
    for (name, meaning) in MORE_ENVIRONMENT {
        item(&mut w, name, meaning);
    }
    section(&mut w, "SEE ALSO");
    let pages: Vec<String> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| format!("{}(1)", s.get_display_name().unwrap_or(s.get_name())))
        .collect();
    let also = if pages.is_empty() { "stylize(1)".to_string() } else { pages.join(", ") };
    w.extend(format!("{}; the README in the source tree.\n", escape(&also)).as_bytes());
    if cmd.get_version().is_some() {
        man.render_version_section(&mut w)?;
    }
    Ok(w)
}

/// Every `(variable, --flag)` of `cmd`'s arguments and its subcommands'.
fn environment(cmd: &clap::Command, out: &mut Vec<(String, String)>) {
    for arg in cmd.get_arguments() {
        if let (Some(env), Some(long)) = (arg.get_env(), arg.get_long()) {
            out.push((env.to_string_lossy().into_owned(), format!("--{long}")));
        }
    }
    for sub in cmd.get_subcommands() {
        environment(sub, out);
    }
}

fn section(w: &mut Vec<u8>, title: &str) {
    w.extend(format!(".SH \"{title}\"\n").as_bytes());
}

fn item(w: &mut Vec<u8>, tag: &str, text: &str) {
    w.extend(format!(".TP\n\\fB{}\\fR\n{}\n", escape(tag), escape(text)).as_bytes());
}

/// Text safe in roff: backslashes and hyphens escaped, and no line may
/// start with a control character.
fn escape(text: &str) -> String {
    let s = text.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}
