//! plan: the types of a job's plan. A plan cuts the video into shards of
//! whole GOPs; it depends on the video and the parameters only, never on the
//! number of workers, which is what makes the output the same for 1 or 64
//! ranks and what makes a resume possible. The cutting rule itself belongs
//! to the pipeline (`stylize-pipelines`).

use serde::{Deserialize, Serialize};

/// A run of consecutive frames that starts on a keyframe: the unit of work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// Position of the shard in the plan (0-based).
    pub index: u32,
    /// Index of the shard's first frame in the whole video.
    pub start: u64,
    /// Presentation timestamps of the shard's frames, in the video stream's
    /// time base. Carrying them makes a shard self-contained: a worker on
    /// another node needs nothing else to give its frames their timestamps.
    pub pts: Vec<i64>,
    /// Timestamp at which the shard's last frame ends (the next shard's
    /// first timestamp, or the end of the video).
    pub end_pts: i64,
    /// Timestamps of the frames just before the shard that a worker decodes
    /// and processes, but does not output, to prime stateful stages
    /// (deflicker) the same way whichever rank runs the shard.
    #[serde(default)]
    pub warmup: Vec<i64>,
    /// Timestamp of the keyframe the shard's segment starts on: the one at
    /// or before its first (warm-up) frame. Decoding starts there.
    pub key_pts: i64,
    /// Set when the video's times cannot be trusted to order its frames
    /// (see `VideoInfo::times_by_count`): the worker drops this many
    /// decoded frames after the keyframe, then takes each next one as the
    /// next of [`Shard::all_pts`], by count.
    #[serde(default)]
    pub by_count_skip: Option<u64>,
    /// Added to a packet's decode time to find it in the plan, where times
    /// go by count (`VideoInfo::dts_offset`).
    #[serde(default)]
    pub dts_offset: i64,
}

impl Shard {
    /// Number of frames.
    pub fn len(&self) -> u64 {
        self.pts.len() as u64
    }

    /// True for a shard with no frames (never produced by a plan).
    pub fn is_empty(&self) -> bool {
        self.pts.is_empty()
    }

    /// Warm-up frames then the shard's own: what a worker decodes, in order.
    pub fn all_pts(&self) -> Vec<i64> {
        self.warmup.iter().chain(&self.pts).copied().collect()
    }

    /// How long frame `i` of the shard lasts, in the time base.
    pub fn frame_duration(&self, i: usize) -> i64 {
        self.pts.get(i + 1).copied().unwrap_or(self.end_pts) - self.pts[i]
    }
}

/// The whole job's shards, in order; together they hold every frame once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The shard length the plan aimed at, in frames.
    pub target_len: u64,
    /// The shards, in frame order.
    pub shards: Vec<Shard>,
}

impl Plan {
    /// Total number of frames over all shards.
    pub fn frames(&self) -> u64 {
        self.shards.iter().map(Shard::len).sum()
    }
}

/// `shards` as `runs` contiguous runs taken in turn (0, m, 1, m+1, … for
/// two), so that workers taking shards in this order each go down a run.
pub(crate) fn in_runs<T>(shards: std::collections::VecDeque<T>, runs: usize) -> std::collections::VecDeque<T> {
    if runs < 2 {
        return shards;
    }
    let per = shards.len().div_ceil(runs);
    let mut items: Vec<Option<T>> = shards.into_iter().map(Some).collect();
    (0..per).flat_map(|i| (0..runs).map(move |r| r * per + i)).filter_map(|k| items.get_mut(k)?.take()).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs_are_taken_in_turn() {
        let order: Vec<u32> = super::in_runs((0..7).collect(), 2).into_iter().collect();
        assert_eq!(order, vec![0, 4, 1, 5, 2, 6, 3]);
        let one: Vec<u32> = super::in_runs((0..3).collect(), 1).into_iter().collect();
        assert_eq!(one, vec![0, 1, 2]);
    }
}
