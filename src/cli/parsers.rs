//! Value parsers of the command line that clap does not have.

/// `--style`: any text (a name, an index, a blend; checked when the job
/// is built, where saved styles are known), offering the built-in names
/// to shell completion.
#[derive(Debug, Clone, Copy)]
pub struct StyleSpecParser;

impl clap::builder::TypedValueParser for StyleSpecParser {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        clap::builder::StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(stylize_pipelines::styles::builtin_names().iter().map(clap::builder::PossibleValue::new)))
    }
}

/// `--poll`: a tenth of a second to ten minutes.
pub fn poll_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.1..=600.0).contains(&v) => Ok(v),
        Ok(_) => Err("must be between 0.1 and 600 seconds".into()),
        Err(_) => Err(format!("{s:?} is not a number of seconds")),
    }
}
