//! secret: blanking secrets in any text shown to a person. A signed URL's
//! signature and an account key are bearer secrets: whoever reads one can
//! use it. Every message, manifest and log line that may quote a location
//! goes through [`redact`], whatever backend the location belongs to.

/// What replaces a secret in any text shown to a person.
pub const REDACTED: &str = "REDACTED";

/// Blank every secret in `s`: the value of a `sig=` query parameter (also
/// percent-encoded as `sig%3D`) and of `AccountKey=` in a connection
/// string, with or without spaces around the `=`. Everything else is kept
/// so the message stays useful.
pub fn redact(s: &str) -> String {
    // (name, characters that end the secret's value). Neither a SAS
    // signature (base64, percent-encoded) nor a key holds any of them.
    const MARKERS: [(&str, &[char]); 2] = [
        ("sig", &['&', ' ', '"', '\'', ')', '>', '<', '\n', '\r', '\t', ';', ',', ':']),
        ("accountkey", &[';', ' ', '"', '\'', '\n', '\r', '\t', '&', ',']),
    ];
    let lower = s.to_ascii_lowercase();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    'outer: while i < s.len() {
        // Percent-encoded inside another URL: ends at `%26` (an encoded `&`).
        if lower[i..].starts_with("sig%3d") && is_param_start(&lower, i) {
            let value_start = i + "sig%3d".len();
            out.push_str(&s[i..value_start]);
            let rest = &s[value_start..];
            let stop = rest.find(|c: char| c != '%' && !c.is_ascii_alphanumeric()).unwrap_or(rest.len());
            let end = rest[..stop].to_ascii_lowercase().find("%26").unwrap_or(stop);
            out.push_str(REDACTED);
            i = value_start + end;
            continue;
        }
        for (name, ends) in MARKERS {
            if lower[i..].starts_with(name) && is_param_start(&lower, i) {
                if let Some(value_start) = after_equals(s, i + name.len()) {
                    out.push_str(&s[i..value_start]);
                    let rest = &s[value_start..];
                    out.push_str(REDACTED);
                    i = value_start + rest.find(ends).unwrap_or(rest.len());
                    continue 'outer;
                }
            }
        }
        let ch = s[i..].chars().next().expect("in bounds");
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// Where a value starts after `name` at `at`: `=`, with spaces or tabs
/// allowed around it (`AccountKey = …`); `None` when no `=` follows.
fn after_equals(s: &str, at: usize) -> Option<usize> {
    let rest = &s[at..];
    let eq = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    if !rest[eq..].starts_with('=') {
        return None;
    }
    let value = &rest[eq + 1..];
    Some(at + eq + 1 + (value.len() - value.trim_start_matches([' ', '\t']).len()))
}

/// A marker counts only at the start of a parameter (`xsig=` is not
/// `sig=`), also after a percent-encoded `?` or `&`.
fn is_param_start(lower: &str, i: usize) -> bool {
    let before = &lower[..i];
    before.ends_with("%26")
        || before.ends_with("%3f")
        || before.chars().next_back().is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
}
