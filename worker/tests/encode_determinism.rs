//! The encoder gives the same bytes for the same frames, whatever the pace
//! at which they arrive: output identity across ranks rests on it.

use std::sync::mpsc::sync_channel;
use std::time::Duration;

use stylize_engine::Shard;
use stylize_engine::{Ratio, VideoParams};
use stylize_worker::encode::{encode, EncodeSettings};
use stylize_worker::frame::{Rgb, StyledFrame};

fn frames(w: u32, h: u32, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|k| {
            (0..(w * h) as usize)
                .flat_map(|i| {
                    let (x, y) = (i % w as usize, i / w as usize);
                    [((x * 3 + k * 5) % 256) as u8, ((y * 2 + x / 7) % 256) as u8, (((x ^ y) + k) % 256) as u8]
                })
                .collect()
        })
        .collect()
}

fn run(pace: Option<Duration>) -> Vec<u8> {
    stylize_engine::init();
    let (w, h, n) = (320, 180, 12);
    let shard = Shard {
        index: 0,
        start: 0,
        pts: (0..n as i64).map(|i| i * 512).collect(),
        end_pts: n as i64 * 512,
        warmup: vec![],
        key_pts: 0,
        by_count_skip: None,
        dts_offset: 0,
    };
    let format = VideoParams {
        width: w,
        height: h,
        time_base: Ratio { num: 1, den: 12800 },
        frame_rate: Ratio { num: 25, den: 1 },
        picture: Default::default(),
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("seg.mp4");
    let (tx, rx) = sync_channel(2);
    let all = frames(w, h, n);
    let sender = std::thread::spawn(move || {
        for (index, rgb) in all.into_iter().enumerate() {
            if let Some(p) = pace {
                std::thread::sleep(p);
            }
            tx.send(StyledFrame { index, rgb: Rgb::Bytes(rgb), guide: None }).unwrap();
        }
    });
    encode(&out, &shard, format, &EncodeSettings::default(), &rx, None).unwrap();
    sender.join().unwrap();
    std::fs::read(&out).unwrap()
}

#[test]
fn same_frames_same_bytes_at_any_pace() {
    let fast = run(None);
    let again = run(None);
    if std::env::var_os("DUMP").is_some() {
        std::fs::write("/tmp/enc_a.mp4", &fast).unwrap();
        std::fs::write("/tmp/enc_b.mp4", &again).unwrap();
    }
    assert!(again == fast, "two fast runs differ");
    assert!(run(Some(Duration::from_millis(30))) == fast, "slow arrival changed the bytes");
}
