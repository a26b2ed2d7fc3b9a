//! catalog: the 26 built-in styles of the multi-style network, by name,
//! and blends of them. The network (Dumoulin et al., conditional instance
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

/// The style `submit` and `watch` use unless told: bold colour on a
/// picture that stays recognisable (`mosaic`, the default before, turned
/// bikes and a bus into a woven rug).
pub const DEFAULT_STYLE: &str = "fauve";

/// How much of the picture's structure each built-in style keeps, by
/// index: the correlation of the input's and the output's edge maps
/// (gradient magnitude of luma, 4x4 means), averaged over three photos
/// (the test photos of the `jpeg-decoder` and `image` crates, 480 px wide).
/// `scripts/style_strength.py` measures it on any photos.
pub const CONTENT_KEPT: [f32; NUM_STYLES] = [
    0.531, 0.216, 0.481, 0.175, 0.458, 0.528, 0.476, 0.469, 0.324, 0.205, 0.504, 0.351, 0.579, 0.329, 0.623, 0.172,
    0.448, 0.064, 0.317, 0.261, 0.456, 0.287, 0.434, 0.534, 0.434, 0.396,
];

/// Below this share of the picture's edges kept, a style's own pattern
/// takes over the picture (mosaic, stained-glass, vortex, tapestry,
/// bold-ink): `styles list` calls these strong.
pub const STRONG_BELOW: f32 = 0.25;

/// Whether built-in style `index` is strong (see [`STRONG_BELOW`]).
pub fn is_strong(index: usize) -> bool {
    CONTENT_KEPT.get(index).is_some_and(|k| *k < STRONG_BELOW)
}

/// A normalised weight per built-in style (they sum to 1).
#[derive(Debug, Clone, PartialEq)]
pub struct StyleBlend {
    weights: [f32; NUM_STYLES],
}

impl StyleBlend {
    /// Parse a style spec: a name (`mosaic`), an index (`17`), or a blend
    /// of either with weights (`starry:0.7,mosaic:0.3`; weights are
    /// normalised, so `starry:7,mosaic:3` is the same blend). Styles
    /// without a weight share what the weighted ones leave of 1, as a
    /// reader of `starry:0.7,mosaic` expects (70/30, not 41/59); with no
    /// weight at all they share it equally.
    ///
    /// ```
    /// use stylize_models::styles::StyleBlend;
    /// let blend = StyleBlend::parse("starry:0.7,mosaic:0.3").unwrap();
    /// assert!((blend.weights()[16] - 0.7).abs() < 1e-6);
    /// assert_eq!(StyleBlend::parse("starry:0.7,mosaic").unwrap(), blend);
    /// assert_eq!(StyleBlend::parse("17").unwrap(), StyleBlend::parse("mosaic").unwrap());
    /// assert!(StyleBlend::parse("no-such-style").is_err());
    /// assert!(StyleBlend::parse("starry:1.5,mosaic").is_err());
    /// ```
    pub fn parse(spec: &str) -> Result<Self, ModelError> {
        let err = |reason: String| ModelError::StyleSpec { spec: spec.to_string(), reason };
        let mut weights = [0f32; NUM_STYLES];
        if spec.trim().is_empty() {
            return Err(err("empty style".into()));
        }
        let mut unweighted: Vec<usize> = Vec::new();
        let mut given = 0f32;
        for part in spec.split(',') {
            let (name, weight) = match part.split_once(':') {
                Some((n, w)) => {
                    let w: f32 = w.trim().parse().map_err(|_| err(format!("weight '{w}' is not a number")))?;
                    (n.trim(), Some(w))
                }
                None => (part.trim(), None),
            };
            if weight.is_some_and(|w| !(w.is_finite() && w >= 0.0)) {
                return Err(err(format!("weight of '{name}' must be a number >= 0")));
            }
            let index = style_index(name)
                .ok_or_else(|| ModelError::UnknownStyle { spec: spec.to_string(), reason: unknown(name) })?;
            match weight {
                Some(w) => {
                    weights[index] += w;
                    given += w;
                }
                None => unweighted.push(index),
            }
        }
        if !unweighted.is_empty() {
            let rest = if given == 0.0 { 1.0 } else { 1.0 - given };
            if rest <= 0.0 {
                return Err(err(format!(
                    "the weights given add up to {given}, leaving nothing for the styles without one: \
                     give every style a weight, or weights under 1"
                )));
            }
            let share = rest / unweighted.len() as f32;
            unweighted.iter().for_each(|i| weights[*i] += share);
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

    /// A blend from its weights as a job's parameters carry them (one per
    /// built-in style); `None` for another count.
    pub fn from_weights(weights: &[f32]) -> Option<Self> {
        Some(StyleBlend { weights: weights.try_into().ok()? })
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

/// The index of a style given by name or by number.
pub fn style_index(name: &str) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    STYLE_NAMES.iter().position(|n| *n == lower).or_else(|| lower.parse::<usize>().ok().filter(|i| *i < NUM_STYLES))
}

/// "unknown style", with the closest built-in name when one is near (a
/// typo such as `mosiac`).
pub(crate) fn unknown(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let closest = STYLE_NAMES.iter().map(|n| (edit_distance(&lower, n), *n)).min();
    match closest {
        Some((d, n)) if d <= 2 => format!("unknown style '{name}': did you mean '{n}'? (see `stylize styles list`)"),
        _ => format!("unknown style '{name}' (see `stylize styles list`)"),
    }
}

/// Levenshtein distance: insertions, deletions and substitutions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
