//! The verdicts, as a table for people and as JSON for machines.
//!
//! One row per requirement, always in the same order, so that two runs can
//! be diffed and a script can pick a row by its stable `id`.

use serde::Serialize;

/// How a requirement fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// Met.
    #[serde(rename = "ok")]
    Ok,
    /// Nothing grants what is needed.
    #[serde(rename = "missing")]
    Missing,
    /// Granted, but to more than it should be (the internet, every port).
    #[serde(rename = "too open")]
    TooOpen,
    /// An allow exists, but a deny with a lower priority number wins.
    #[serde(rename = "shadowed")]
    Shadowed,
    /// The subnet has fewer free addresses than the cluster's maximum size.
    #[serde(rename = "too small")]
    TooSmall,
}

impl Verdict {
    /// As the table prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Missing => "missing",
            Verdict::TooOpen => "too open",
            Verdict::Shadowed => "shadowed",
            Verdict::TooSmall => "too small",
        }
    }
}

/// One requirement and what the checker found.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Stable key, e.g. `nsg.batch-inbound`, for scripts and tests.
    pub id: &'static str,
    /// What Azure needs, in words.
    pub requirement: String,
    /// How it fared.
    pub verdict: Verdict,
    /// The rule or setting that decided it (`DenyAllInBound (65500)`,
    /// `networkRuleSet.defaultAction`), when there is one.
    pub rule: Option<String>,
    /// Why, in a sentence.
    pub note: String,
    /// The `az` command that would fix it; `None` when the verdict is ok.
    pub fix: Option<String>,
}

impl Finding {
    /// A met requirement.
    pub fn ok(
        id: &'static str,
        requirement: impl Into<String>,
        rule: Option<String>,
        note: impl Into<String>,
    ) -> Finding {
        Finding { id, requirement: requirement.into(), verdict: Verdict::Ok, rule, note: note.into(), fix: None }
    }

    /// A failed requirement with its fix.
    pub fn fail(
        id: &'static str,
        requirement: impl Into<String>,
        verdict: Verdict,
        rule: Option<String>,
        note: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding { id, requirement: requirement.into(), verdict, rule, note: note.into(), fix: Some(fix.into()) }
    }
}

/// Everything `stylize network check` found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    passed: bool,
    region: Option<String>,
    findings: Vec<Finding>,
}

impl Report {
    /// Builds the report; `passed` is computed here so the JSON carries it.
    pub fn new(region: Option<String>, findings: Vec<Finding>) -> Report {
        Report { passed: findings.iter().all(|f| f.verdict == Verdict::Ok), region, findings }
    }

    /// True when every requirement checked is met: the CLI exits 0.
    pub fn passed(&self) -> bool {
        self.passed
    }

    /// The region the service tags were checked for.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// All rows, in report order.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// The row with this `id`, e.g. `storage.default-action`.
    pub fn finding(&self, id: &str) -> Option<&Finding> {
        self.findings.iter().find(|f| f.id == id)
    }

    /// The rows that failed.
    pub fn failures(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.verdict != Verdict::Ok)
    }

    /// A plain-text table: requirement, verdict, deciding rule, fix; then
    /// one line of explanation per row and a summary.
    pub fn to_table(&self) -> String {
        self.to_table_fitting(usize::MAX)
    }

    /// As [`Report::to_table`], fitted to `columns` (a terminal's width):
    /// the table when its rows fit, else a block per row (requirement and
    /// verdict, then the deciding rule and the fix, each wrapped at
    /// spaces); the explanations wrap too. A word longer than the line (an
    /// `az` argument) is not cut.
    pub fn to_table_fitting(&self, columns: usize) -> String {
        const HEAD: [&str; 4] = ["REQUIREMENT", "VERDICT", "DECIDED BY", "FIX"];
        let rows: Vec<[String; 4]> = self
            .findings
            .iter()
            .map(|f| {
                [
                    f.requirement.clone(),
                    f.verdict.as_str().to_owned(),
                    f.rule.clone().unwrap_or_else(|| "-".into()),
                    f.fix.clone().unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        let natural = |i: usize| rows.iter().map(|r| r[i].chars().count()).chain([HEAD[i].len()]).max().unwrap_or(0);
        let (w0, w1, w2) = (natural(0), natural(1), natural(2));
        let line = |cells: [&str; 4], w2: usize| {
            format!("{:w0$}  {:w1$}  {:w2$}  {}", cells[0], cells[1], cells[2], cells[3]).trim_end().to_owned()
        };
        if w0 + w1 + w2 + natural(3) + 6 <= columns {
            let mut out = line(HEAD, w2) + "\n";
            for r in &rows {
                out += &line([&r[0], &r[1], &r[2], &r[3]], w2);
                out.push('\n');
            }
            return out + &self.notes(columns);
        }
        // Too wide for the terminal: a block per row, each part wrapped
        // (continuations indented under it).
        let width = columns.max(40);
        let mut out = String::new();
        for r in &rows {
            let mut part = |indent: &str, label: &str, text: &str| {
                let first = format!("{indent}{label}");
                let pad = " ".repeat(first.chars().count());
                let body = wrap(text, width.saturating_sub(pad.len()).max(20));
                out += &format!("{first}{}\n", body.join(&format!("\n{pad}")));
            };
            part("", "", &format!("{}: {}", r[0], r[1]));
            if r[2] != "-" {
                part("    ", "decided by: ", &r[2]);
            }
            if r[3] != "-" {
                part("    ", "fix: ", &r[3]);
            }
        }
        out + &self.notes(columns)
    }

    /// One line of explanation per row (wrapped to `columns`), and the
    /// summary.
    fn notes(&self, columns: usize) -> String {
        let mut out = String::new();
        out.push('\n');
        for f in &self.findings {
            if !f.note.is_empty() {
                let text = format!("{} [{}]: {}", f.requirement, f.verdict.as_str(), f.note);
                out += &wrap(&text, columns.saturating_sub(2).max(40)).join("\n  ");
                out.push('\n');
            }
        }
        let failed = self.failures().count();
        out += &format!(
            "\n{} of {} requirements met{}\n",
            self.findings.len() - failed,
            self.findings.len(),
            if failed == 0 { "" } else { "; run the fixes above, then check again" }
        );
        out
    }
}

/// `text` in lines of at most `width` characters, broken at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let last = lines.last_mut().expect("one line at least");
        if last.is_empty() {
            last.push_str(word);
        } else if last.chars().count() + 1 + word.chars().count() <= width {
            last.push(' ');
            last.push_str(word);
        } else {
            lines.push(word.to_string());
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_failure_fails_the_report_and_shows_in_both_outputs() {
        let r = Report::new(
            Some("eastus".into()),
            vec![
                Finding::ok("a", "first", Some("R (100)".into()), ""),
                Finding::fail("b", "second", Verdict::TooOpen, None, "why", "az fix"),
            ],
        );
        assert!(!r.passed());
        let t = r.to_table();
        assert!(t.lines().next().unwrap().starts_with("REQUIREMENT"));
        assert!(t.contains("second       too open  -           az fix"), "{t}");
        assert!(t.contains("1 of 2 requirements met"));
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["passed"], false);
        assert_eq!(j["findings"][1]["verdict"], "too open");
    }

    #[test]
    fn a_narrow_terminal_wraps_the_rule_and_the_fix() {
        let fix = "az network nsg rule create --resource-group rg --nsg-name nsg --name deny-internet \
                   --priority 4000 --direction Outbound --access Deny --destination-address-prefixes Internet";
        let r = Report::new(
            None,
            vec![Finding::fail(
                "nsg.outbound-internet",
                "no outbound internet",
                Verdict::TooOpen,
                Some("AllowInternetOutBound (65001, default)".into()),
                "the default rule lets every node reach the internet, which the secured subnet forbids",
                fix,
            )],
        );
        let wide = r.to_table();
        assert!(wide.lines().any(|l| l.chars().count() > 150), "{wide}");
        let narrow = r.to_table_fitting(80);
        for l in narrow.lines() {
            assert!(l.chars().count() <= 80, "{} columns: {l}\n{narrow}", l.chars().count());
        }
        // Nothing lost: every word of the fix and the note is there.
        let words = |t: &str| t.split_whitespace().map(str::to_string).collect::<std::collections::BTreeSet<_>>();
        assert!(words(fix).is_subset(&words(&narrow)), "{narrow}");
        assert!(narrow.contains("forbids"), "{narrow}");
    }
}
