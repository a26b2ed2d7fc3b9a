//! The matrix each picture is read with and written back with, seen
//! through the negative model (`test/invert255.pt`): pure green in, so the
//! model must see (0, 255, 0) and give magenta. Read with the wrong matrix
//! the green is off by up to 20 levels before the model (BT.709 green read
//! as BT.601 is (20, 255, 8)), and written back with the wrong one the
//! magenta is off by as much again; an identity model would hide both, as
//! the two conversions cancel.

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;

use util::*;

/// Pure green `width`x`height`, coded with `matrix` in limited range,
/// then `args` (the tags, or none).
fn green(dir: &Path, name: &str, (width, height): (u32, u32), matrix: &str, pix_fmt: &str, args: &str) -> PathBuf {
    let path = dir.join(name);
    let vf = format!(
        "scale=out_color_matrix={matrix}:out_range=tv,format={pix_fmt}{}",
        if args.is_empty() {
            ",setparams=colorspace=unknown:color_primaries=unknown:color_trc=unknown:range=unknown"
        } else {
            ""
        }
    );
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", &format!("color=c=0x00FF00:s={width}x{height}:r=25:d=0.24")])
        .args(["-vf", &vf, "-g", "3"])
        .args(args.split_whitespace())
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success(), "making {name}");
    path
}

/// Frame `n` of `path` as RGB24, read with `matrix` whatever the file says.
fn frame_read_as(path: &Path, matrix: &str, n: u32) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-vf", &format!("select=eq(n\\,{n}),scale=in_color_matrix={matrix}:in_range=tv,format=rgb24")])
        .args(["-frames:v", "1", "-f", "rawvideo", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// The largest distance of any pixel's channel from `rgb`.
fn worst(frame: &[u8], rgb: [u8; 3]) -> u8 {
    frame.chunks(3).flat_map(|p| p.iter().zip(rgb).map(|(a, b)| a.abs_diff(b))).max().unwrap()
}

/// Through the negative model; the output and its probe.
fn negative(input: &Path, dir: &Path) -> (PathBuf, serde_json::Value) {
    let model = model_dir().join("test/invert255.pt");
    let args = ["--model", model.to_str().unwrap(), "--range", "0-255", "--crf", "8", "--deflicker", "off"];
    let output =
        submit_ok(input, &dir.join("out"), &[&args[..], &["--no-flicker-report", "--shard-frames", "3"]].concat());
    let p = probe(&output);
    (output, p)
}

/// Untagged pictures are read as players read them, and the output says
/// which matrix that was: HD (a long side from 1280, a short side from
/// 720: landscape and portrait) as BT.709, SD as BT.601, IMX's 720x608
/// (576 lines plus vertical blanking) and a 20x640 strip included.
#[test]
fn untagged_pictures_are_read_as_hd_or_sd_by_their_sides() {
    for (size, matrix, tag) in [
        ((1280, 720), "bt709", "bt709"),
        ((720, 1280), "bt709", "bt709"),
        ((720, 608), "bt601", "smpte170m"),
        ((640, 360), "bt601", "smpte170m"),
        ((20, 640), "bt601", "smpte170m"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("{}x{}.mp4", size.0, size.1);
        let input = green(dir.path(), &name, size, matrix, "yuv420p", "");
        let vi = probe(&input);
        let tag_in = &video_stream(&vi)["color_space"];
        assert!(tag_in.is_null() || tag_in == "unknown", "{name} is untagged: {tag_in}");
        let off = worst(&frame_read_as(&input, matrix, 0), [0, 255, 0]);
        assert!(off <= 3, "{name} is not pure green read as {matrix}: off by {off}");
        let (output, p) = negative(&input, dir.path());
        assert_eq!(video_stream(&p)["color_space"], tag, "{name}: the matrix it was read with");
        for n in [0, 5] {
            let off = worst(&frame_read_as(&output, matrix, n), [255, 0, 255]);
            assert!(off <= 4, "{name} frame {n}: magenta off by {off} levels read as {matrix}");
        }
    }
}

/// BT.2020 SDR (10-bit HEVC, BT.2020 matrix, primaries and transfer): read
/// and written with the BT.2020 matrix, tagged as it came, kept 10-bit.
#[test]
fn bt2020_sdr_is_read_and_written_as_bt2020() {
    let dir = tempfile::tempdir().unwrap();
    let tags = "-c:v libx265 -preset ultrafast -x265-params log-level=error -colorspace bt2020nc \
                -color_primaries bt2020 -color_trc bt2020-10 -color_range tv";
    let input = green(dir.path(), "uhd.mp4", (128, 72), "bt2020", "yuv420p10le", tags);
    let v = probe(&input);
    let v = video_stream(&v);
    assert_eq!([&v["color_space"], &v["color_transfer"], &v["pix_fmt"]], ["bt2020nc", "bt2020-10", "yuv420p10le"]);
    let off = worst(&frame_read_as(&input, "bt2020", 0), [0, 255, 0]);
    assert!(off <= 3, "the input is not pure green read as BT.2020: off by {off}");
    let (output, p) = negative(&input, dir.path());
    let o = video_stream(&p);
    for key in ["color_space", "color_primaries", "color_transfer", "color_range"] {
        assert_eq!(o[key], v[key], "{key}");
    }
    assert_eq!(o["pix_fmt"], "yuv420p10le");
    for n in [0, 5] {
        let off = worst(&frame_read_as(&output, "bt2020", n), [255, 0, 255]);
        assert!(off <= 4, "frame {n}: magenta off by {off} levels read as BT.2020");
    }
}
