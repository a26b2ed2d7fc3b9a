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
        let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).chain([HEAD[i].len()]).max().unwrap_or(0);
        let widths = [width(0), width(1), width(2)];
        let line = |cells: [&str; 4]| {
            format!(
                "{:w0$}  {:w1$}  {:w2$}  {}",
                cells[0],
                cells[1],
                cells[2],
                cells[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2]
            )
            .trim_end()
            .to_owned()
        };
        let mut out = line(HEAD) + "\n";
        for r in &rows {
            out += &line([&r[0], &r[1], &r[2], &r[3]]);
            out.push('\n');
        }
        out.push('\n');
        for f in &self.findings {
            if !f.note.is_empty() {
                out += &format!("{} [{}]: {}\n", f.requirement, f.verdict.as_str(), f.note);
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
}
