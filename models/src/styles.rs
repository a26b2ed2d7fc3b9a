//! styles: a style spec resolved to a style of one network: built-in
//! styles and their blends (`catalog`), or styles saved from paintings
//! and learned ones (`saved`).

pub use crate::catalog::{
    is_strong, style_index, StyleBlend, CONTENT_KEPT, DEFAULT_STYLE, NUM_STYLES, STRONG_BELOW, STYLE_NAMES,
};
use crate::error::ModelError;

/// A style spec resolved: built-in styles (one network) or styles saved
/// from paintings (the other); one blend cannot mix the two networks.
#[derive(Debug, Clone, PartialEq)]
pub enum Style {
    /// Built-in styles, blended.
    Builtin(StyleBlend),
    /// A style learned for the built-in network (`stylize styles learn`),
    /// alone or blended with built-in styles (the same network).
    Learned {
        /// Its rows of the network's norm tables, in a slot no built-in
        /// style of the blend uses.
        style: crate::learn::LearnedStyle,
        /// The blend's weights, the learned style's at its slot.
        blend: StyleBlend,
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
    let err = |reason: String| ModelError::StyleSpec { spec: spec.to_string(), reason };
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
    // A learned style lives in the built-in network: it blends with
    // built-in styles (not with paintings' styles: another network).
    let is_learned = |name: &str| {
        std::fs::read(dir.join(format!("{name}.json")))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v["model"] == crate::learn::LEARNED_MODEL)
    };
    let learned: Vec<usize> = (0..parts.len()).filter(|&i| saved[i] && is_learned(parts[i].0)).collect();
    if let Some(&k) = learned.first() {
        if learned.len() > 1 {
            return Err(err("one learned style per blend (each needs the network's one free slot)".into()));
        }
        if let Some((n, _)) = parts.iter().zip(&saved).find(|(p, s)| **s && !is_learned(p.0)).map(|(p, _)| p) {
            return Err(err(format!(
                "cannot blend learned style '{}' with '{n}', saved from a painting (another network)",
                parts[k].0
            )));
        }
        let mut style = crate::learn::LearnedStyle::load(&dir.join(format!("{}.json", parts[k].0)))?;
        // Its rows go in a slot no built-in part of the blend uses.
        let used: Vec<usize> = parts.iter().filter_map(|(n, _)| style_index(n)).collect();
        if used.contains(&style.slot) {
            style.slot = (0..NUM_STYLES)
                .find(|i| !used.contains(i))
                .ok_or_else(|| err("no free slot for the learned style".into()))?;
        }
        let slots: Vec<String> = parts
            .iter()
            .enumerate()
            .map(|(i, (n, w))| format!("{}:{w}", if i == k { style.slot } else { style_index(n).expect("built-in") }))
            .collect();
        let blend = StyleBlend::parse(&slots.join(",")).map_err(|e| err(e.to_string()))?;
        let label = if parts.len() == 1 {
            parts[0].0.to_string()
        } else {
            parts
                .iter()
                .map(|(n, w)| format!("{n}-{}", (w / parts.iter().map(|p| p.1).sum::<f32>() * 100.0).round() as u32))
                .collect::<Vec<_>>()
                .join("+")
        };
        return Ok(Style::Learned { style, blend, label });
    }
    if let Some((n, _)) = parts.iter().zip(&saved).find(|(_, s)| !**s).map(|(p, _)| p) {
        return Err(if style_index(n).is_some() {
            err(format!("cannot blend built-in style '{n}' with styles saved from paintings (another network)"))
        } else {
            ModelError::UnknownStyle { spec: spec.to_string(), reason: crate::catalog::unknown(n) }
        });
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
            ("mosiac", "did you mean 'mosaic'?"),
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
