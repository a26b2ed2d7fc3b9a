//! Depth: a 10-bit source reaches the model as 16-bit samples (floats in
//! the network) and its output is written at 10 bits from the model's
//! floats: a 10-bit ramp through the pass-through model comes back with
//! every level, where an 8-bit step would leave a quarter of them (bands).
//!
//! HDR masters stay HDR: an HDR10 HEVC (PQ, BT.2020, mastering display
//! and light levels in its SEI) and an HLG H.264 go through the model by
//! the worker's tone map and come out tagged as the source (transfer,
//! primaries, matrix, 10 bits), with the mastering display and light
//! levels on the output's stream, the audio's bytes kept. Through the
//! pass-through model the picture comes back within a few 10-bit codes
//! (PSNR at 10 bits); through a style it is a new HDR picture (HDR10: no
//! brighter than the master's peak).
//!
//! The clips are SMPTE bars (BT.709 colours, so inside every gamut the
//! tone map keeps) with a moving test pattern, turned into HDR by zimg
//! (FFmpeg's `zscale`) with SDR white at HDR reference white (203 cd/m²).

#[path = "media_corpus/check.rs"]
mod check;
#[path = "media_corpus/clips.rs"]
mod clips;
mod util;

use std::path::{Path, PathBuf};

use check::*;
use clips::*;
use util::*;

const MASTERING: &str = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)";

/// 30 frames (three shards of 12) of bars with a moving pattern over them,
/// in `transfer` (zscale's name), BT.2020, 10 bits, with a tone.
fn hdr_clip(dir: &Path, name: &str, transfer: &str, codec: &str) -> PathBuf {
    hdr_clip_of(dir, name, "bt709", transfer, codec)
}

/// The same with the bars' colours read in `primaries` (BT.2020: as
/// saturated as HDR's gamut goes, far outside BT.709).
fn hdr_clip_of(dir: &Path, name: &str, primaries: &str, transfer: &str, codec: &str) -> PathBuf {
    let graph = format!(
        "[0][1]overlay=x='t*60':y=20,format=yuv444p,\
         setparams=color_primaries={primaries}:color_trc=bt709:colorspace=bt709:range=tv,\
         zscale=t=linear:npl=203:p={primaries},format=gbrpf32le,\
         zscale=p=bt2020:t={transfer}:m=bt2020nc:r=tv:npl=203,format=yuv420p10le"
    );
    let (bars, pattern, audio) = ("smptehdbars=s=128x72:r=25:d=1.2", "testsrc2=s=40x30:r=25:d=1.2", tone("1.2", 440));
    let mut args = vec!["-f", "lavfi", "-i", bars, "-f", "lavfi", "-i", pattern, "-f", "lavfi", "-i", &audio];
    args.extend(["-filter_complex", &graph, "-map", "0:v:0", "-map", "2:a", "-c:a", "aac"]);
    args.extend(words(codec));
    make(dir, name, &args)
}

fn hdr10(dir: &Path) -> PathBuf {
    let codec = format!(
        "-c:v libx265 -preset ultrafast -x265-params log-level=error:keyint=12:min-keyint=12:scenecut=0:\
         hdr10=1:max-cll=1000,400:master-display={MASTERING} \
         -color_primaries bt2020 -color_trc smpte2084 -colorspace bt2020nc"
    );
    let input = hdr_clip(dir, "hdr10.mp4", "smpte2084", &codec);
    claim(
        &probe(&input),
        &[
            ("codec_name", "hevc"),
            ("pix_fmt", "yuv420p10le"),
            ("color_transfer", "smpte2084"),
            ("nb_read_frames", "30"),
        ],
    );
    input
}

/// The luma planes of every frame, 10-bit samples.
fn luma10(path: &Path) -> Vec<u16> {
    let out = run_ok(
        "ffmpeg",
        &words("-v error -i")
            .into_iter()
            .map(str::to_string)
            .chain([path.to_string_lossy().into_owned()])
            .chain(words("-map 0:v:0 -f rawvideo -pix_fmt gray10le -").into_iter().map(str::to_string))
            .collect::<Vec<_>>(),
    );
    out.stdout.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect()
}

fn psnr10(a: &[u16], b: &[u16]) -> f64 {
    assert_eq!(a.len(), b.len(), "frame count or size differs");
    let mse = a.iter().zip(b).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum::<f64>() / a.len() as f64;
    10.0 * (1023.0f64 * 1023.0 / mse.max(1e-9)).log10()
}

/// The output's stream side data: (mastering display's peak, MaxCLL, MaxFALL).
fn hdr_side_data(path: &Path) -> (String, u64, u64) {
    let p = ffprobe_json(&["-select_streams", "v:0", "-show_entries", "stream_side_data"], path);
    let list = p["streams"][0]["side_data_list"].as_array().cloned().unwrap_or_default();
    let of = |kind: &str| list.iter().find(|sd| sd["side_data_type"] == kind).cloned().unwrap_or_default();
    let (mastering, light) = (of("Mastering display metadata"), of("Content light level metadata"));
    assert_eq!(mastering["green_x"], "13250/50000", "{p}");
    assert_eq!(mastering["white_point_y"], "16450/50000", "{p}");
    (
        mastering["max_luminance"].as_str().unwrap_or_default().to_string(),
        light["max_content"].as_u64().unwrap_or_default(),
        light["max_average"].as_u64().unwrap_or_default(),
    )
}

#[test]
fn hdr10_comes_back_hdr10_with_its_mastering_display() {
    let dir = tempfile::tempdir().unwrap();
    let input = hdr10(dir.path());
    // Tags, depth, frames, times, audio bytes, frame 0 as RGB24 (ffmpeg's
    // own untoned reading of both): the corpus's faithful check.
    let output = faithful(dir.path(), &input, SHARD, &FAITHFUL);
    claim(
        &probe(&output),
        &[("pix_fmt", "yuv420p10le"), ("color_transfer", "smpte2084"), ("color_primaries", "bt2020")],
    );
    assert_eq!(hdr_side_data(&output), ("10000000/10000".to_string(), 1000, 400));
    // Through SDR and back: within a few 10-bit codes everywhere.
    let db = psnr10(&luma10(&input), &luma10(&output));
    assert!(db > 42.0, "PSNR at 10 bits {db:.1} dB");
}

fn hlg(dir: &Path) -> PathBuf {
    let codec = format!("{X264} -crf 8 -color_primaries bt2020 -color_trc arib-std-b67 -colorspace bt2020nc");
    hdr_clip(dir, "hlg.mp4", "arib-std-b67", &codec)
}

#[test]
fn hlg_through_a_style_is_a_new_hlg_picture() {
    let dir = tempfile::tempdir().unwrap();
    let input = hlg(dir.path());
    let output = submit_ok(&input, &dir.path().join("out"), &["--style", "mosaic", "--shard-frames", SHARD]);
    let (pi, po) = (probe(&input), probe(&output));
    claim(&po, &[("pix_fmt", "yuv420p10le"), ("color_transfer", "arib-std-b67"), ("color_primaries", "bt2020")]);
    assert_eq!(video_stream(&po)["nb_read_frames"], video_stream(&pi)["nb_read_frames"]);
    let (a, b) = (luma10(&input), luma10(&output));
    assert!(psnr10(&a, &b) < 30.0, "a style changes the picture");
    let mean = |v: &[u16]| v.iter().map(|x| f64::from(*x)).sum::<f64>() / v.len() as f64;
    let (mi, mo) = (mean(&a), mean(&b));
    assert!((mo - mi).abs() < 0.2 * mi, "mean luma {mo:.0} against the source's {mi:.0}");
}

#[test]
fn hlg_comes_back_hlg() {
    let dir = tempfile::tempdir().unwrap();
    let input = hlg(dir.path());
    claim(&probe(&input), &[("codec_name", "h264"), ("pix_fmt", "yuv420p10le"), ("color_transfer", "arib-std-b67")]);
    let output = faithful(dir.path(), &input, SHARD, &FAITHFUL);
    claim(&probe(&output), &[("color_transfer", "arib-std-b67"), ("color_primaries", "bt2020")]);
    let db = psnr10(&luma10(&input), &luma10(&output));
    assert!(db > 40.0, "PSNR at 10 bits {db:.1} dB");
}

#[test]
fn hdr10_through_a_style_is_a_new_hdr10_picture_under_the_peak() {
    let dir = tempfile::tempdir().unwrap();
    let input = hdr10(dir.path());
    let output = submit_ok(&input, &dir.path().join("out"), &["--style", "mosaic", "--shard-frames", SHARD]);
    let (pi, po) = (probe(&input), probe(&output));
    claim(&po, &[("pix_fmt", "yuv420p10le"), ("color_transfer", "smpte2084"), ("color_space", "bt2020nc")]);
    assert_eq!(video_stream(&po)["nb_read_frames"], video_stream(&pi)["nb_read_frames"]);
    assert_eq!(hdr_side_data(&output).1, 1000);
    assert_eq!(audio_md5(&output, 0), audio_md5(&input, 0), "the audio's bytes");
    let (a, b) = (luma10(&input), luma10(&output));
    let db = psnr10(&a, &b);
    assert!(db < 30.0, "a style changes the picture: {db:.1} dB");
    // The master's peak, 1000 cd/m², is PQ 75.2%: limited-range code 722.
    // Nothing brighter is made, and the picture's level stays an HDR one
    // (its mean within 15% of the master's; SDR white is code 573).
    let max = *b.iter().max().unwrap();
    assert!(max <= 726, "brightest output sample {max}");
    let mean = |v: &[u16]| v.iter().map(|x| f64::from(*x)).sum::<f64>() / v.len() as f64;
    let (mi, mo) = (mean(&a), mean(&b));
    assert!((mo - mi).abs() < 0.15 * mi, "mean luma {mo:.0} against the master's {mi:.0}");
}

#[test]
fn a_ten_bit_ramp_keeps_every_level() {
    let dir = tempfile::tempdir().unwrap();
    // Luma from about 400 to 500 across 256 pixels: 100 levels at 10 bits,
    // 30 at 8.
    let input = make(
        dir.path(),
        "ramp.y4m",
        &words(
            "-f lavfi -i color=black:s=256x64:r=25:d=0.8,format=yuv420p10le,geq=lum=400+X*100/W:cb=512:cr=512 \
             -strict -1 -pix_fmt yuv420p10le",
        ),
    );
    claim(&probe(&input), &[("codec_name", "rawvideo"), ("pix_fmt", "yuv420p10le"), ("nb_read_frames", "20")]);
    let model = identity_model();
    // fp32: bf16 keeps 8 significant bits, about 9 at these levels.
    let args = ["--model", &model, "--deflicker", "off", "--precision", "fp32", "--crf", "0", "--shard-frames", SHARD];
    let output = submit_ok(&input, &dir.path().join("out"), &args);
    let (a, b) = (luma10(&input), luma10(&output));
    let row = |v: &[u16]| {
        let mut r = v[32 * 256..33 * 256].to_vec();
        r.sort_unstable();
        r.dedup();
        r.len()
    };
    assert_eq!(row(&a), 100, "the ramp's levels");
    assert!(row(&b) >= 98, "{} of 100 levels came out", row(&b));
    // What an 8-bit step in between would have made of it.
    let eight: Vec<u16> = a.iter().map(|v| (v + 2) / 4 * 4).collect();
    assert!(row(&eight) * 3 <= row(&a), "{}", row(&eight));
    let (deep, banded) = (psnr10(&a, &b), psnr10(&a, &eight));
    assert!(deep > banded + 10.0, "PSNR at 10 bits {deep:.1} dB, with an 8-bit step {banded:.1} dB");
}

#[test]
fn wide_gamut_colours_are_said_to_come_back_clipped() {
    let dir = tempfile::tempdir().unwrap();
    let codec = "-c:v libx265 -preset ultrafast -x265-params log-level=error:keyint=12:min-keyint=12:scenecut=0 \
                 -color_primaries bt2020 -color_trc smpte2084 -colorspace bt2020nc";
    let input = hdr_clip_of(dir.path(), "wide.mp4", "bt2020", "smpte2084", codec);
    let (lines, warnings, _) = warned(dir.path(), &input);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("wide.mp4") && lines[0].contains("outside BT.709"), "{lines:?}");
    // Most of the bars are saturated BT.2020 colours.
    let percent: f64 = lines[0].split("% of").next().unwrap().rsplit(' ').next().unwrap().parse().unwrap();
    assert!(percent > 20.0, "{lines:?}");
    assert!(warnings.contains("outside BT.709"), "{warnings}");
}
