//! dts_fill: decode times for the first packets of a stream that has none
//! there. Matroska stores times from zero up: a file that starts before
//! zero (`-output_ts_offset -0.5`, an edit moved earlier) comes back from
//! libavformat with its first packets untimed, though players show them.
//! Where every packet from some point on has a decode time, and the rate
//! is constant, the ones before it are a frame apart each, back from the
//! first that has one; the frames are then taken by count, in the order
//! the decoder shows them (`VideoInfo::times_by_count`).

use serde::{Deserialize, Serialize};

/// Where the given decode times start, so the probe and the scatter give
/// untimed packets the same times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DtsFill {
    /// Decode-order index (from the file's start) of the first packet
    /// with a decode time.
    pub first_index: u64,
    /// That packet's decode time.
    pub first_dts: i64,
    /// A frame's duration in the stream's time base.
    pub step: i64,
}

impl DtsFill {
    /// The decode time of packet `k` (decode order from the file's start),
    /// one of those before `first_index`.
    pub fn at(&self, k: u64) -> i64 {
        self.first_dts - (self.first_index.saturating_sub(k) as i64) * self.step
    }

    /// Decode times for `dts` (decode order from the file's start): `None`
    /// unless the untimed packets all come before the first timed one.
    pub fn fill(dts: &[Option<i64>], step: i64) -> Option<(Vec<i64>, DtsFill)> {
        let first = dts.iter().position(Option::is_some)?;
        if dts[first..].iter().any(Option::is_none) || step <= 0 {
            return None;
        }
        let fill = DtsFill { first_index: first as u64, first_dts: dts[first]?, step };
        let all = dts.iter().enumerate().map(|(k, d)| d.unwrap_or_else(|| fill.at(k as u64))).collect();
        Some((all, fill))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untimed_packets_lead_a_frame_apart() {
        let dts = [None, None, None, Some(20), Some(60), Some(100)];
        let (all, fill) = DtsFill::fill(&dts, 40).unwrap();
        assert_eq!(all, vec![-100, -60, -20, 20, 60, 100]);
        assert_eq!(fill.at(0), -100);
        // An untimed packet after a timed one: not this case.
        assert!(DtsFill::fill(&[Some(0), None, Some(80)], 40).is_none());
        assert!(DtsFill::fill(&[None, None], 40).is_none());
    }
}
