//! styles: the 26 built-in styles of the multi-style network, by name, and
//! blends of them. The network (Dumoulin et al., conditional instance
//! norm) takes a weight per style, so any convex mix of styles is one
//! forward pass: `starry:0.7,mosaic:0.3`.

use crate::error::ModelError;

/// How many styles the built-in network knows.
pub const NUM_STYLES: usize = 26;

/// Readable names of the built-in styles, by index. Named after what each
/// looks like (see `stylize styles preview`); the index is an alias.
pub const STYLE_NAMES: [&str; NUM_STYLES] = [
    "amber",
    "bold-ink",
    "charcoal",
    "vortex",
    "ember",
    "fauve",
    "midnight",
    "swirl",
    "pastel",
    "tapestry",
    "sepia",
    "parchment",
    "lilac",
    "emerald",
    "frost",
    "stained-glass",
    "starry",
    "mosaic",
    "sandstone",
    "pointillist",
    "crimson",
    "cartoon",
    "dusk",
    "noir",
    "porcelain",
    "weave",
];

/// A normalised weight per built-in style (they sum to 1).
#[derive(Debug, Clone, PartialEq)]
pub struct StyleBlend {
    weights: [f32; NUM_STYLES],
}

impl StyleBlend {
    /// Parse a style spec: a name (`mosaic`), an index (`17`), or a blend
    /// of either with weights (`starry:0.7,mosaic:0.3`; weights are
    /// normalised, so `starry:7,mosaic:3` is the same blend).
    ///
    /// ```
    /// use stylize_models::styles::StyleBlend;
    /// let blend = StyleBlend::parse("starry:0.7,mosaic:0.3").unwrap();
    /// assert!((blend.weights()[16] - 0.7).abs() < 1e-6);
    /// assert_eq!(StyleBlend::parse("17").unwrap(), StyleBlend::parse("mosaic").unwrap());
    /// assert!(StyleBlend::parse("no-such-style").is_err());
    /// ```
    pub fn parse(spec: &str) -> Result<Self, ModelError> {
        let err = |reason: String| ModelError::Style { spec: spec.to_string(), reason };
        let mut weights = [0f32; NUM_STYLES];
        if spec.trim().is_empty() {
            return Err(err("empty style".into()));
        }
        for part in spec.split(',') {
            let (name, weight) = match part.split_once(':') {
                Some((n, w)) => {
                    let w: f32 = w.trim().parse().map_err(|_| err(format!("weight '{w}' is not a number")))?;
                    (n.trim(), w)
                }
                None => (part.trim(), 1.0),
            };
            if !(weight.is_finite() && weight >= 0.0) {
                return Err(err(format!("weight of '{name}' must be a number >= 0")));
            }
            let index =
                style_index(name).ok_or_else(|| err(format!("unknown style '{name}' (see `stylize styles list`)")))?;
            weights[index] += weight;
        }
        let total: f32 = weights.iter().sum();
        if total <= 0.0 {
            return Err(err("the weights add up to zero".into()));
        }
        weights.iter_mut().for_each(|w| *w /= total);
        Ok(StyleBlend { weights })
    }

    /// One built-in style alone.
    pub fn single(index: usize) -> Self {
        let mut weights = [0f32; NUM_STYLES];
        weights[index] = 1.0;
        StyleBlend { weights }
    }

    /// The weights, one per built-in style.
    pub fn weights(&self) -> &[f32; NUM_STYLES] {
        &self.weights
    }

    /// A short canonical label, e.g. `starry` or `starry-70+mosaic-30`,
    /// used in output file names.
    pub fn label(&self) -> String {
        let parts: Vec<(usize, f32)> = self.weights.iter().copied().enumerate().filter(|(_, w)| *w > 0.0).collect();
        if let [(i, _)] = parts.as_slice() {
            return STYLE_NAMES[*i].to_string();
        }
        parts
            .iter()
            .map(|(i, w)| format!("{}-{}", STYLE_NAMES[*i], (w * 100.0).round() as u32))
            .collect::<Vec<_>>()
            .join("+")
    }
}

/// A style spec resolved: built-in styles (one network) or styles saved
/// from paintings (the other); one blend cannot mix the two networks.
#[derive(Debug, Clone, PartialEq)]
pub enum Style {
    /// Built-in styles, blended.
    Builtin(StyleBlend),
    /// A style learned for the built-in network (`stylize styles learn`).
    Learned {
        /// Its rows of the network's norm tables.
        style: crate::learn::LearnedStyle,
        /// A label for output names.
        label: String,
    },
    /// Saved image styles, blended into one vector.
    Image {
        /// The vector.
        vector: crate::arbitrary::StyleVector,
        /// A label for output names.
        label: String,
    },
}

/// Resolve a style spec whose names may also be styles saved in `dir`
/// (`NAME.json`, see `stylize styles add`).
///
/// ```
/// use stylize_models::styles::{resolve, Style};
/// let dir = std::env::temp_dir();
/// assert!(matches!(resolve("mosaic", &dir).unwrap(), Style::Builtin(_)));
/// assert!(resolve("no-such-style-anywhere", &dir).is_err());
/// ```
pub fn resolve(spec: &str, dir: &std::path::Path) -> Result<Style, ModelError> {
    let err = |reason: String| ModelError::Style { spec: spec.to_string(), reason };
    let parts: Vec<(&str, f32)> = spec
        .split(',')
        .map(|part| match part.split_once(':') {
            Some((n, w)) => {
                w.trim().parse::<f32>().map(|w| (n.trim(), w)).map_err(|_| err(format!("weight '{w}' is not a number")))
            }
            None => Ok((part.trim(), 1.0)),
        })
        .collect::<Result<_, _>>()?;
    let saved: Vec<bool> =
        parts.iter().map(|(n, _)| style_index(n).is_none() && dir.join(format!("{n}.json")).is_file()).collect();
    if !saved.iter().any(|s| *s) {
        return StyleBlend::parse(spec).map(Style::Builtin);
    }
    if let Some((n, _)) = parts.iter().zip(&saved).find(|(_, s)| !**s).map(|(p, _)| p) {
        return Err(err(if style_index(n).is_some() {
            format!("cannot blend built-in style '{n}' with styles saved from paintings (another network)")
        } else {
            format!("unknown style '{n}' (see `stylize styles list`)")
        }));
    }
    // A learned style lives in the built-in network: it runs alone.
    let is_learned = |name: &str| {
        std::fs::read(dir.join(format!("{name}.json")))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v["model"] == crate::learn::LEARNED_MODEL)
    };
    if parts.iter().any(|(n, _)| is_learned(n)) {
        if parts.len() > 1 {
            return Err(err("a learned style cannot be blended".into()));
        }
        let style = crate::learn::LearnedStyle::load(&dir.join(format!("{}.json", parts[0].0)))?;
        return Ok(Style::Learned { style, label: parts[0].0.to_string() });
    }
    let mut vectors = Vec::new();
    for (name, weight) in &parts {
        if !(weight.is_finite() && *weight >= 0.0) {
            return Err(err(format!("weight of '{name}' must be a number >= 0")));
        }
        vectors.push((crate::arbitrary::StyleVector::load(&dir.join(format!("{name}.json")))?, *weight));
    }
    if vectors.iter().map(|v| v.1).sum::<f32>() <= 0.0 {
        return Err(err("the weights add up to zero".into()));
    }
    let label = parts.iter().map(|(n, _)| *n).collect::<Vec<_>>().join("+");
    Ok(Style::Image { vector: crate::arbitrary::StyleVector::blend(&vectors), label })
}

/// The index of a style given by name or by number.
pub fn style_index(name: &str) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    STYLE_NAMES.iter().position(|n| *n == lower).or_else(|| lower.parse::<usize>().ok().filter(|i| *i < NUM_STYLES))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blends_normalise_and_accumulate() {
        let b = StyleBlend::parse("starry:7, mosaic:3").unwrap();
        assert!((b.weights()[16] - 0.7).abs() < 1e-6 && (b.weights()[17] - 0.3).abs() < 1e-6);
        assert_eq!(b.label(), "starry-70+mosaic-30");
        let same = StyleBlend::parse("16:1,16:1").unwrap();
        assert_eq!(same, StyleBlend::single(16));
        assert_eq!(same.label(), "starry");
    }

    #[test]
    fn bad_specs_are_refused_with_the_reason() {
        for (spec, why) in [
            ("nope", "unknown style 'nope'"),
            ("26", "unknown style '26'"),
            ("mosaic:x", "not a number"),
            ("mosaic:-1", ">= 0"),
            ("mosaic:0", "add up to zero"),
            ("", "empty"),
        ] {
            let e = StyleBlend::parse(spec).unwrap_err().to_string();
            assert!(e.contains(why), "{spec}: {e}");
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names = STYLE_NAMES.to_vec();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), NUM_STYLES);
    }
}
