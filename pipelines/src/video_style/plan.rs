//! plan: cut the video into shards of whole GOPs, about `target` frames
//! each. Only the video decides where the cuts fall, never the number of
//! workers: the output is then the same for any number of ranks.

use stylize_engine::{Plan, Shard, VideoInfo};

/// Shards start on keyframes and grow GOP by GOP until they hold at least
/// `target` frames; a GOP longer than `target` is one shard of its own.
/// Every frame lands in exactly one shard, whatever the count. Each shard
/// but the first gets the `warmup` frames before it as warm-up frames.
pub fn plan(video: &VideoInfo, target: u64, warmup: usize) -> Plan {
    let target = target.max(1);
    let frames = video.frames();
    let mut cuts: Vec<u64> = vec![0];
    for &k in &video.keyframes {
        if k > *cuts.last().expect("starts with 0") && k - cuts.last().expect("non-empty") >= target {
            cuts.push(k);
        }
    }
    cuts.push(frames);
    let shards = cuts
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            let (start, end) = (w[0] as usize, w[1] as usize);
            let end_pts = video.pts.get(end).copied().unwrap_or_else(|| video.pts[end - 1] + video.last_frame_duration);
            let first = start.saturating_sub(warmup);
            // In an open GOP the frames just before a keyframe are coded
            // after it and need the GOP before: decoding starts there.
            let decode_from = if video.open_gop { first.saturating_sub(1) } else { first };
            // Before the first shown keyframe: the hidden one of an edit
            // list's pre-roll.
            let key = video.keyframes.iter().rev().find(|&&k| k as usize <= decode_from).copied();
            let key_pts = match key {
                Some(k) => video.pts[k as usize],
                None => video.lead_key_pts.unwrap_or(video.pts[0]),
            };
            // A closed GOP shows its keyframe first: the frames before the
            // first wanted one, counted from the keyframe.
            let by_count_skip = video.times_by_count.then(|| first as u64 - key.unwrap_or(0));
            let warmup = video.pts[first..start].to_vec();
            Shard {
                index: i as u32,
                start: w[0],
                pts: video.pts[start..end].to_vec(),
                end_pts,
                warmup,
                key_pts,
                by_count_skip,
                dts_offset: video.dts_offset,
            }
        })
        .collect();
    Plan { target_len: target, shards }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stylize_engine::Ratio;

    fn video(frames: i64, gop: i64) -> VideoInfo {
        VideoInfo {
            stream_index: 0,
            codec: "h264".into(),
            width: 8,
            height: 8,
            frame_rate: Ratio { num: 25, den: 1 },
            time_base: Ratio { num: 1, den: 12800 },
            pts: (0..frames).map(|i| i * 512).collect(),
            keyframes: (0..frames).filter(|i| i % gop == 0).map(|i| i as u64).collect(),
            last_frame_duration: 512,
            rotation: None,
            variable_rate: false,
            picture: Default::default(),
            open_gop: false,
            lead_key_pts: None,
            undecodable_lead: 0,
            times_by_count: false,
            dts_offset: 0,
            dts_fill: None,
            alpha: false,
            segment_format: "nut".into(),
            program: None,
        }
    }

    #[test]
    fn every_frame_once_with_cuts_on_keyframes() {
        for (frames, gop, target) in [(101, 1, 24), (101, 10, 24), (300, 300, 24), (7, 1, 48), (1, 1, 4)] {
            let v = video(frames, gop);
            let p = plan(&v, target, 3);
            assert_eq!(p.frames(), frames as u64, "{frames} {gop} {target}");
            let all: Vec<i64> = p.shards.iter().flat_map(|s| s.pts.clone()).collect();
            assert_eq!(all, v.pts);
            for s in &p.shards {
                assert!(v.keyframes.contains(&s.start), "shard {} starts off a keyframe", s.index);
                assert_eq!(s.end_pts, s.pts.last().unwrap() + 512);
                let before = &v.pts[(s.start as usize).saturating_sub(3)..s.start as usize];
                assert_eq!(s.warmup, before, "warm-up frames are the ones just before");
                let key = v.pts.binary_search(&s.key_pts).unwrap() as u64;
                assert!(
                    v.keyframes.contains(&key) && key <= s.start.saturating_sub(3),
                    "decoding starts on a keyframe before the warm-up"
                );
            }
        }
    }

    #[test]
    fn shard_lengths_follow_the_target_and_the_gops() {
        let lens = |p: &Plan| p.shards.iter().map(|s| s.len()).collect::<Vec<_>>();
        assert_eq!(lens(&plan(&video(101, 1), 24, 0)), vec![24, 24, 24, 24, 5]);
        assert_eq!(lens(&plan(&video(101, 10), 24, 0)), vec![30, 30, 30, 11]);
        assert_eq!(lens(&plan(&video(300, 300), 24, 0)), vec![300]);
    }
}
