//! saved: styles saved as small JSON files (vectors from paintings,
//! learned norm rows), read and written by one pair of functions.

use crate::error::ModelError;

/// Read a saved style (`NAME.json`) of network `model`: a file that does
/// not parse, or belongs to another network, is refused naming the file.
pub(crate) fn read_saved<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
    model: &str,
    model_of: impl Fn(&T) -> &str,
) -> Result<T, ModelError> {
    let bad = |reason: String| ModelError::Style { spec: path.display().to_string(), reason };
    let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot read ({e})")))?;
    let value: T = serde_json::from_slice(&bytes).map_err(|e| bad(format!("not a saved style ({e})")))?;
    if model_of(&value) != model {
        return Err(bad(format!("a style of another model ({}), not {model}", model_of(&value))));
    }
    Ok(value)
}

/// Write a saved style atomically (temp file + rename).
pub(crate) fn write_saved<T: serde::Serialize>(value: &T, path: &std::path::Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(value).expect("serialisable"))?;
    std::fs::rename(tmp, path)
}
