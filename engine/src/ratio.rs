//! ratio: exact rationals (frame rates, time bases), a plain type that
//! probe, picture and the task messages share.

use ffmpeg_next as ff;
use serde::{Deserialize, Serialize};

/// An exact rational number (frame rates, time bases): 30000/1001 must stay
/// 30000/1001, not 29.97.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ratio {
    /// Numerator.
    pub num: i32,
    /// Denominator.
    pub den: i32,
}

impl Ratio {
    /// The value as a float, for display and for ordering timestamps.
    pub fn as_f64(self) -> f64 {
        if self.den == 0 {
            0.0
        } else {
            f64::from(self.num) / f64::from(self.den)
        }
    }

    /// In lowest terms (a 0/x or x/0 stays as it is).
    pub fn reduced(self) -> Ratio {
        let (mut a, mut b) = (self.num.unsigned_abs(), self.den.unsigned_abs());
        while b != 0 {
            (a, b) = (b, a % b);
        }
        match a {
            0 | 1 => self,
            g => Ratio { num: self.num / g as i32, den: self.den / g as i32 },
        }
    }
}

impl From<ff::Rational> for Ratio {
    fn from(r: ff::Rational) -> Self {
        Ratio { num: r.numerator(), den: r.denominator() }
    }
}

impl From<Ratio> for ff::Rational {
    fn from(r: Ratio) -> Self {
        ff::Rational::new(r.num, r.den)
    }
}

impl std::fmt::Display for Ratio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}
