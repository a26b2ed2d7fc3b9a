//! The crate's one error type.
//!
//! Every variant names the file it is about, because the user passes up to
//! five JSON files and "expected value at line 1" alone does not say which.
//! Display is a single line so the CLI can print it as is.

use std::path::PathBuf;

/// Why `stylize network check` could not produce a report.
///
/// A failed requirement is not an error: it is a verdict in the
/// [`Report`](crate::Report). Errors are for inputs that cannot be judged.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The file could not be read at all.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file given on the command line.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{}: malformed JSON: {source}", path.display())]
    Json {
        /// The file given on the command line.
        path: PathBuf,
        /// Where the parser stopped and why.
        source: serde_json::Error,
    },
    /// The file is JSON, but `az` printed it for another kind of resource
    /// (say, a storage account given as `--nsg`).
    #[error("{}: not {expected}: {found}", path.display())]
    WrongKind {
        /// The file given on the command line.
        path: PathBuf,
        /// What the flag expects, with the `az` command that prints it.
        expected: &'static str,
        /// What the file looks like instead.
        found: String,
    },
    /// The file is the right kind but a field has a shape or value the
    /// checker cannot judge (a priority that is not a number, a bad CIDR).
    #[error("{}: {cause}", path.display())]
    Invalid {
        /// The file given on the command line.
        path: PathBuf,
        /// The field and what is wrong with it.
        cause: String,
    },
    /// A flag that only makes sense with another one.
    #[error("{flag} needs {needs}")]
    Usage {
        /// The flag given.
        flag: &'static str,
        /// The flag it depends on.
        needs: &'static str,
    },
}
