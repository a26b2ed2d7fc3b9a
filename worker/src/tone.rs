//! tone: HDR pictures to the model's SDR and back. The networks were
//! trained on SDR photographs and paintings; an HDR master (PQ or HLG) is
//! shown to them as an SDR display would show a good conversion of it, and
//! their output is taken back to the source's transfer and primaries, so
//! the output is HDR, tagged and mastered as the source.
//!
//! The way there, per pixel, in linear light relative to HDR reference
//! white (203 cd/m², BT.2408; SDR white is 1.0):
//!
//! ```text
//! PQ:  E' → ST 2084 EOTF → cd/m² / 203
//! HLG: E' → inverse OETF → OOTF (γ 1.2 on luminance, 1000 cd/m² display) / 203
//! → BT.2020 to BT.709 primaries (colours outside BT.709 clip)
//! → tone curve, per channel: x up to K = 0.75 unchanged; above it a
//!   rational shoulder K + (1 − K)·s(t)/s(tp), s(t) = t/(1 + t),
//!   t = (x − K)/(1 − K), that reaches SDR white exactly at the source's
//!   peak (tp): for PQ the mastering display's, else MaxCLL, else
//!   1000 cd/m² (400 at least); for HLG 1000 cd/m², its nominal display
//! → BT.1886 (gamma 2.4) → 16 bits for the model
//! ```
//!
//! and the exact inverse of every step on the way back (the curve is
//! invertible in closed form, and nothing past the peak is made). Below
//! 152 cd/m² the picture is the source's, only requantised; highlights
//! keep their order and reach the peak again. What is lost: colours
//! outside BT.709 (clipped on the way in; counted, and the job says so
//! when they are many). The SDR side has 16 bits (the
//! model takes floats): at 8, the shoulder put 130 cd/m² between the two
//! top codes of a 1000 cd/m² master.

use stylize_engine::picture::{Picture, TRANSFER_HLG, TRANSFER_PQ};

/// HDR reference white (BT.2408), the SDR white of the model's pictures.
const REFERENCE_WHITE: f32 = 203.0;
/// Where the shoulder starts, in SDR linear light.
const KNEE: f32 = 0.75;
/// The HLG display the OOTF assumes (BT.2100's nominal), and its gamma.
const HLG_PEAK: f32 = 1000.0;
const HLG_GAMMA: f32 = 1.2;
/// The SDR display: BT.1886 with a zero black level.
const SDR_GAMMA: f32 = 2.4;

/// BT.2020 to BT.709 primaries, linear light (BT.2087).
const BT2020_TO_709: [[f32; 3]; 3] = [
    [1.660_491, -0.587_641_1, -0.072_849_86],
    [-0.124_550_5, 1.132_899_9, -0.008_349_42],
    [-0.018_150_76, -0.100_578_9, 1.118_729_7],
];
/// BT.709 to BT.2020 primaries, linear light.
const BT709_TO_2020: [[f32; 3]; 3] = [
    [0.627_403_9, 0.329_283_04, 0.043_313_07],
    [0.069_097_29, 0.919_540_4, 0.011_362_31],
    [0.016_391_44, 0.088_013_31, 0.895_595_3],
];
/// Luminance weights of the HDR side's primaries (for HLG's OOTF).
const Y2020: [f32; 3] = [0.2627, 0.6780, 0.0593];
const Y709: [f32; 3] = [0.2126, 0.7152, 0.0722];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Curve {
    Pq,
    Hlg,
}

/// The tone curve: linear up to the knee, then the rational shoulder that
/// reaches SDR white at `peak` (relative to reference white).
#[derive(Debug, Clone, Copy)]
struct Shoulder {
    peak: f32,
    /// s(tp), with s(t) = t / (1 + t).
    s_peak: f32,
}

impl Shoulder {
    fn new(peak: f32) -> Self {
        let tp = (peak - KNEE) / (1.0 - KNEE);
        Shoulder { peak, s_peak: tp / (1.0 + tp) }
    }

    /// Relative display light to SDR linear light.
    fn compress(&self, x: f32) -> f32 {
        if x <= KNEE {
            return x.max(0.0);
        }
        let t = ((x - KNEE) / (1.0 - KNEE)).min((self.peak - KNEE) / (1.0 - KNEE));
        (KNEE + (1.0 - KNEE) * (t / (1.0 + t)) / self.s_peak).min(1.0)
    }

    /// Its inverse.
    fn expand(&self, y: f32) -> f32 {
        if y <= KNEE {
            return y;
        }
        let u = ((y - KNEE) / (1.0 - KNEE) * self.s_peak).min(self.s_peak);
        KNEE + (1.0 - KNEE) * u / (1.0 - u)
    }
}

/// The conversions of one source, tables made once a shard.
pub struct ToneMap {
    curve: Curve,
    /// The HDR side's primaries are BT.2020 (else BT.709: some HLG cameras).
    wide: bool,
    /// The tone curve (in the tables; kept for the tests).
    #[cfg(test)]
    shoulder: Shoulder,
    /// A 16-bit code of the HDR side to linear light: relative display
    /// light for PQ, scene light (0..1) for HLG.
    to_linear: Vec<f32>,
    /// A 16-bit SDR code to relative display light, through the inverse
    /// curve.
    from_sdr: Vec<f32>,
    /// Relative display light (BT.709) to a 16-bit SDR code: the curve
    /// and BT.1886 in one table.
    sdr_code: LogTable,
    /// Relative display light (the source's primaries) to a 16-bit code of
    /// the HDR signal (HLG: scene light, after the inverse OOTF).
    hdr_code: LogTable,
    /// HLG's OOTF: scene luminance to its gain, and display luminance
    /// (relative to the display's peak) to Ys^(γ−1) on the way back.
    ootf_gain: LogTable,
    inverse_gain: LogTable,
}

impl ToneMap {
    /// The tone map of an HDR picture; `None` for SDR.
    pub fn new(picture: &Picture) -> Option<ToneMap> {
        let curve = match picture.transfer {
            TRANSFER_PQ => Curve::Pq,
            TRANSFER_HLG => Curve::Hlg,
            _ => return None,
        };
        let wide = picture.primaries != 1;
        let shoulder = Shoulder::new((picture.peak_nits() as f32 / REFERENCE_WHITE).max(1.5));
        let peak = shoulder.peak;
        let to_linear = (0..=u16::MAX)
            .map(|code| {
                let e = f32::from(code) / 65535.0;
                match curve {
                    Curve::Pq => pq_eotf(e) / REFERENCE_WHITE,
                    Curve::Hlg => hlg_inverse_oetf(e),
                }
            })
            .collect();
        let from_sdr = (0..=u16::MAX).map(|c| shoulder.expand((f32::from(c) / 65535.0).powf(SDR_GAMMA))).collect();
        let sdr_code =
            LogTable::new(peak, |v| f64::from(shoulder.compress(v as f32)).powf(1.0 / f64::from(SDR_GAMMA)) * 65535.0);
        let hdr_code = match curve {
            Curve::Pq => LogTable::new(peak, |v| f64::from(pq_inverse_eotf(v as f32 * REFERENCE_WHITE)) * 65535.0),
            Curve::Hlg => LogTable::new(1.0, |v| f64::from(hlg_oetf(v as f32)) * 65535.0),
        };
        let gamma = f64::from(HLG_GAMMA);
        Some(ToneMap {
            curve,
            wide,
            #[cfg(test)]
            shoulder,
            to_linear,
            from_sdr,
            sdr_code,
            hdr_code,
            ootf_gain: LogTable::new(1.0, |ys| ys.powf(gamma - 1.0)),
            inverse_gain: LogTable::new(2.0, |yd| yd.powf((gamma - 1.0) / gamma)),
        })
    }

    /// One row of RGB48LE HDR pixels (`src`, 6 bytes a pixel) to SDR RGB
    /// of 16-bit samples; returns how many had a colour outside BT.709
    /// (clipped to it: the job says so when they are many).
    pub fn to_sdr(&self, src: &[u8], dst: &mut [u16]) -> u32 {
        let mut outside = 0;
        for (px, out) in src.chunks_exact(6).zip(dst.chunks_exact_mut(3)) {
            let code = |i: usize| usize::from(u16::from_le_bytes([px[i], px[i + 1]]));
            let mut rgb = [self.to_linear[code(0)], self.to_linear[code(2)], self.to_linear[code(4)]];
            if self.curve == Curve::Hlg {
                let w = if self.wide { Y2020 } else { Y709 };
                let gain =
                    HLG_PEAK / REFERENCE_WHITE * self.ootf_gain.at(w[0] * rgb[0] + w[1] * rgb[1] + w[2] * rgb[2]);
                rgb = rgb.map(|v| v * gain);
            }
            let rgb = if self.wide { apply(&BT2020_TO_709, rgb) } else { rgb };
            let top = rgb[0].max(rgb[1]).max(rgb[2]);
            outside += u32::from(rgb.iter().any(|v| *v < -GAMUT_SLACK - 0.05 * top));
            // Below zero is clipped by the table (to its value at zero).
            for (o, v) in out.iter_mut().zip(rgb) {
                *o = (self.sdr_code.at(v) + 0.5) as u16;
            }
        }
        outside
    }

    /// One row of SDR pixels (16-bit samples) back to RGB48LE HDR (`dst`,
    /// 6 bytes a pixel).
    pub fn from_sdr(&self, src: &[u16], dst: &mut [u8]) {
        for (px, out) in src.chunks_exact(3).zip(dst.chunks_exact_mut(6)) {
            let rgb = [
                self.from_sdr[usize::from(px[0])],
                self.from_sdr[usize::from(px[1])],
                self.from_sdr[usize::from(px[2])],
            ];
            let mut rgb = if self.wide { apply(&BT709_TO_2020, rgb) } else { rgb };
            if self.curve == Curve::Hlg {
                // Display luminance Yd = L·Ys^γ: E = F / (L·Ys^(γ−1)), in
                // display light relative to reference white.
                let w = if self.wide { Y2020 } else { Y709 };
                let yd = (w[0] * rgb[0] + w[1] * rgb[1] + w[2] * rgb[2]) * REFERENCE_WHITE / HLG_PEAK;
                let gain = HLG_PEAK / REFERENCE_WHITE * self.inverse_gain.at(yd);
                rgb = if gain > 0.0 { rgb.map(|v| v / gain) } else { [0.0; 3] };
            }
            for (k, v) in rgb.into_iter().enumerate() {
                let code = (self.hdr_code.at(v).clamp(0.0, 65535.0) + 0.5) as u16;
                out[k * 2..k * 2 + 2].copy_from_slice(&code.to_le_bytes());
            }
        }
    }
}

/// A curve over `0..=hi` at a lookup's cost, not a `powf`'s (a 1080p
/// frame took 180 ms each way with `powf`): 256 straight pieces an octave
/// from 2^-48 up, indexed by the float's own bits (exponent and top
/// mantissa bits, which are linear in the value within an octave), and a
/// straight piece from f(0) below. Every curve here is smooth on a log
/// scale, so the pieces stay within a 16-bit code of it.
struct LogTable {
    lo_bits: u32,
    lo: f32,
    hi: f32,
    f0: f32,
    table: Vec<f32>,
}

/// Mantissa bits below a piece's index.
const SHIFT: u32 = 23 - 8;

impl LogTable {
    fn new(hi: f32, f: impl Fn(f64) -> f64) -> Self {
        let lo = 2f32.powi(-48);
        let lo_bits = lo.to_bits();
        let n = ((hi.to_bits() - lo_bits) >> SHIFT) as usize + 2;
        let table = (0..n as u32).map(|i| f(f64::from(f32::from_bits(lo_bits + (i << SHIFT)))) as f32).collect();
        LogTable { lo_bits, lo, hi, f0: f(0.0) as f32, table }
    }

    #[inline]
    fn at(&self, v: f32) -> f32 {
        // NaN and what is at or below 2^-48 (`max` turns NaN into 0).
        if v.is_nan() || v <= self.lo {
            return self.f0 + (self.table[0] - self.f0) * (v.max(0.0) / self.lo);
        }
        let d = v.min(self.hi).to_bits() - self.lo_bits;
        let i = (d >> SHIFT) as usize;
        let frac = (d & ((1 << SHIFT) - 1)) as f32 * (1.0 / (1u32 << SHIFT) as f32);
        let a = self.table[i];
        a + (self.table[i + 1] - a) * frac
    }
}

/// How far below zero (relative light, 1 = 203 cd/m²) a BT.709 channel
/// may come before the colour counts as outside BT.709: 1 cd/m².
const GAMUT_SLACK: f32 = 0.005;

/// A 3x3 matrix on a colour, unclamped (BT.2020 to BT.709 gives negative
/// values to colours outside BT.709).
fn apply(m: &[[f32; 3]; 3], v: [f32; 3]) -> [f32; 3] {
    let row = |r: &[f32; 3]| r[0] * v[0] + r[1] * v[1] + r[2] * v[2];
    [row(&m[0]), row(&m[1]), row(&m[2])]
}

// SMPTE ST 2084.
const M1: f32 = 2610.0 / 16384.0;
const M2: f32 = 2523.0 / 4096.0 * 128.0;
const C1: f32 = 3424.0 / 4096.0;
const C2: f32 = 2413.0 / 4096.0 * 32.0;
const C3: f32 = 2392.0 / 4096.0 * 32.0;

/// PQ signal (0..1) to cd/m².
fn pq_eotf(e: f32) -> f32 {
    let p = e.powf(1.0 / M2);
    10_000.0 * ((p - C1).max(0.0) / (C2 - C3 * p)).powf(1.0 / M1)
}

/// cd/m² to PQ signal.
fn pq_inverse_eotf(nits: f32) -> f32 {
    let y = (nits / 10_000.0).powf(M1);
    ((C1 + C2 * y) / (1.0 + C3 * y)).powf(M2)
}

// ARIB STD-B67 / BT.2100 HLG.
const HLG_A: f32 = 0.178_832_77;
const HLG_B: f32 = 0.284_668_92;
const HLG_C: f32 = 0.559_910_7;

/// HLG signal to scene light (0..1).
fn hlg_inverse_oetf(e: f32) -> f32 {
    if e <= 0.5 {
        e * e / 3.0
    } else {
        (((e - HLG_C) / HLG_A).exp() + HLG_B) / 12.0
    }
}

/// Scene light to HLG signal.
fn hlg_oetf(l: f32) -> f32 {
    let l = l.clamp(0.0, 1.0);
    if l <= 1.0 / 12.0 {
        (3.0 * l).sqrt()
    } else {
        HLG_A * (12.0 * l - HLG_B).ln() + HLG_C
    }
}

/// Scene light to display light relative to reference white: the OOTF
/// scales each pixel by its luminance to the power γ − 1 (the tables'
/// reference).
#[cfg(test)]
fn hlg_ootf(rgb: [f32; 3], weights: [f32; 3]) -> [f32; 3] {
    let ys = weights[0] * rgb[0] + weights[1] * rgb[1] + weights[2] * rgb[2];
    let gain = if ys > 0.0 { HLG_PEAK * ys.powf(HLG_GAMMA - 1.0) / REFERENCE_WHITE } else { 0.0 };
    rgb.map(|v| v * gain)
}

/// Its inverse: display luminance Yd = L·Ys^γ gives Ys, then the gain
/// (the tables' reference).
#[cfg(test)]
fn hlg_inverse_ootf(rgb: [f32; 3], weights: [f32; 3]) -> [f32; 3] {
    let yd = (weights[0] * rgb[0] + weights[1] * rgb[1] + weights[2] * rgb[2]) * REFERENCE_WHITE / HLG_PEAK;
    if yd <= 0.0 {
        return [0.0; 3];
    }
    let ys = yd.powf(1.0 / HLG_GAMMA);
    let gain = HLG_PEAK * ys.powf(HLG_GAMMA - 1.0) / REFERENCE_WHITE;
    rgb.map(|v| v / gain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(transfer: i32) -> ToneMap {
        let picture = Picture { transfer, primaries: 9, matrix: 9, bit_depth: 10, ..Picture::default() };
        ToneMap::new(&picture).expect("HDR")
    }

    fn round_trip(map: &ToneMap, rgb: [u16; 3]) -> [u16; 3] {
        let src: Vec<u8> = rgb.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut sdr = [0u16; 3];
        map.to_sdr(&src, &mut sdr);
        let mut back = [0u8; 6];
        map.from_sdr(&sdr, &mut back);
        [0, 2, 4].map(|i| u16::from_le_bytes([back[i], back[i + 1]]))
    }

    #[test]
    fn curves_invert() {
        for e in [0.0f32, 0.1, 0.3, 0.5, 0.58, 0.75, 0.9, 1.0] {
            assert!((pq_inverse_eotf(pq_eotf(e)) - e).abs() < 1e-4, "PQ {e}");
            assert!((hlg_oetf(hlg_inverse_oetf(e)) - e).abs() < 1e-4, "HLG {e}");
        }
        // BT.2408: 203 cd/m² is PQ 58%, and HLG 75% on a 1000 cd/m² display.
        assert!((pq_inverse_eotf(203.0) - 0.58).abs() < 0.005);
        let white = hlg_ootf([hlg_inverse_oetf(0.75); 3], Y2020);
        assert!((white[0] - 1.0).abs() < 0.02, "{white:?}");
        let map = hdr(TRANSFER_PQ);
        for x in [0.0f32, 0.2, 0.75, 0.8, 1.0, 2.0, 4.9] {
            assert!((map.shoulder.expand(map.shoulder.compress(x)) - x).abs() < 1e-3 * x.max(1.0), "curve {x}");
        }
        assert!((map.shoulder.compress(map.shoulder.peak) - 1.0).abs() < 1e-6);
    }

    /// The tables stay within half a 16-bit code of the curves they stand
    /// for, from black to past the peak.
    #[test]
    fn tables_follow_the_curves() {
        for transfer in [TRANSFER_PQ, TRANSFER_HLG] {
            let map = hdr(transfer);
            let mut v = 1e-9f32;
            while v < 8.0 {
                let sdr = f64::from(map.shoulder.compress(v)).powf(1.0 / 2.4) * 65535.0;
                assert!((f64::from(map.sdr_code.at(v)) - sdr).abs() < 0.5, "{transfer}: SDR of {v}");
                let (hdr, top) = match transfer {
                    TRANSFER_PQ => (pq_inverse_eotf(v.min(map.shoulder.peak) * REFERENCE_WHITE), map.shoulder.peak),
                    _ => (hlg_oetf(v), 1.0),
                };
                let got = map.hdr_code.at(v.min(top));
                assert!((f64::from(got) - f64::from(hdr) * 65535.0).abs() < 0.5, "{transfer}: HDR of {v}");
                v *= 1.013;
            }
            let rgb = [0.3f32, 0.5, 0.1];
            let exact = hlg_inverse_ootf(rgb, Y2020);
            let yd = (Y2020[0] * 0.3 + Y2020[1] * 0.5 + Y2020[2] * 0.1) * REFERENCE_WHITE / HLG_PEAK;
            let gain = HLG_PEAK / REFERENCE_WHITE * map.inverse_gain.at(yd);
            assert!((exact[1] - 0.5 / gain).abs() < 1e-5, "{exact:?}");
        }
    }

    #[test]
    fn sdr_range_greys_come_back_within_a_few_codes() {
        for transfer in [TRANSFER_PQ, TRANSFER_HLG] {
            let map = hdr(transfer);
            // Greys from black to the knee (152 cd/m², PQ 55%, HLG 69%), in
            // 16-bit codes: within a 10-bit code.
            let knee = if transfer == TRANSFER_PQ { 36_000 } else { 45_000 };
            let mut worst = 0;
            for code in (0..=knee).step_by(250) {
                let back = round_trip(&map, [code; 3]);
                let diff = back.iter().map(|b| (i32::from(*b) - i32::from(code)).abs()).max().unwrap();
                worst = worst.max(diff);
            }
            eprintln!("{transfer}: worst {worst} (16-bit), {} 10-bit codes", worst >> 6);
            assert!(worst >> 6 <= 1, "{transfer}: {worst}");
            // A BT.709 red stays red.
            let red = round_trip(&map, [40_000, 20_000, 18_000]);
            assert!(red[0] > red[1] && red[0] > red[2], "{red:?}");
        }
    }

    #[test]
    fn highlights_keep_their_order_and_the_peak() {
        let map = hdr(TRANSFER_PQ);
        let peak = (pq_inverse_eotf(1000.0) * 65535.0) as u16;
        let mut last = 0;
        for code in (40_000..=peak).step_by(500) {
            let back = round_trip(&map, [code; 3])[0];
            assert!(back >= last, "{code}: {back} < {last}");
            // 16 bits on the SDR side: within a 10-bit code up to the peak.
            assert!((i32::from(back) - i32::from(code)).abs() < 64, "{code} came back as {back}");
            last = back;
        }
        let top = round_trip(&map, [peak; 3])[0];
        assert!((i32::from(top) - i32::from(peak)).abs() < 64, "peak {peak} came back as {top}");
        // Nothing comes back brighter than the peak.
        assert!(round_trip(&map, [65_535; 3])[0] <= peak + 64);
    }
}
