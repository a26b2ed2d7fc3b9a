//! Codecs and containers that died mid-job or lost a stream. Each file is
//! longer than several shards, so
//! it is cut, carried to a worker, decoded there and stitched. The probe's
//! trial segment picks a container that carries the codec whole (NUT loses
//! QuickTime Animation's bits per pixel and has no tag for DNxHD: MOV
//! carries them), and the cut gives MPEG-2 in Matroska decode times that
//! increase (libavformat's guess after a seek went backwards). Each comes
//! out faithful: frames, times, colour, audio bytes. DivX's packed
//! B-frames come out in order across shards. A multiplex of
//! programs keeps one, whole. MP2 audio goes into an MP4 when one is asked
//! for (FFmpeg writes it; the automatic choice keeps MOV, which reads back
//! as MP2, where MP4 reads back as MP3).

#[path = "media_corpus/check.rs"]
mod check;
#[path = "media_corpus/clips.rs"]
mod clips;
mod util;

use check::*;
use clips::*;
use util::*;

fn faithful_through_shards(name: &str, size: &str, args: &str, expect: &Expect) {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path(), name, size, "25", "3", true, args);
    faithful(dir.path(), &input, SHARD, expect);
}

#[test]
fn mpeg2_in_matroska_as_dvd_rips_have_it() {
    faithful_through_shards("rip.mkv", "320x240", "-c:v mpeg2video -g 12 -bf 2 -c:a ac3", &FAITHFUL);
}

#[test]
fn quicktime_animation() {
    faithful_through_shards("anim.mov", "160x120", "-c:v qtrle -c:a pcm_s16le", &FAITHFUL);
}

#[test]
fn ut_video_in_avi() {
    faithful_through_shards("ut.avi", "160x120", "-c:v utvideo -c:a pcm_s16le", &FAITHFUL);
}

#[test]
fn dnxhd_in_mxf() {
    faithful_through_shards(
        "dnx.mxf",
        "1280x720",
        "-c:v dnxhd -b:v 90M -pix_fmt yuv422p -c:a pcm_s16le -ar 48000",
        &FAITHFUL,
    );
}

#[test]
fn xdcam_mpeg2_in_mxf_interlaced() {
    faithful_through_shards(
        "xdcam.mxf",
        "1920x1080",
        "-c:v mpeg2video -pix_fmt yuv422p -b:v 50M -g 12 -bf 2 -flags +ildct+ilme -top 1 -c:a pcm_s16le",
        &DEINTERLACED,
    );
}

/// A broadcast multiplex of two programs: the video's program comes out
/// whole (its picture, its audio's bytes); the other is left out with one
/// warning line naming it and its streams (its audio used to come along,
/// without its video).
/// Two programs: 160x120 with a 440 Hz tone, 128x96 with 880 Hz.
fn multiplex(dir: &std::path::Path) -> std::path::PathBuf {
    let (v1, a1, v2, a2) = (pic("160x120", "25", "2"), tone("2", 440), pic("128x96", "25", "2"), tone("2", 880));
    let mut args = Vec::new();
    for input in [&v1, &a1, &v2, &a2] {
        args.extend(["-f", "lavfi", "-i", input.as_str()]);
    }
    args.extend(words("-map 0 -map 1 -map 2 -map 3 -program title=One:st=0:st=1 -program title=Two:st=2:st=3"));
    args.extend(words("-c:v libx264 -preset ultrafast -g 12 -c:a aac"));
    make(dir, "multiplex.ts", &args)
}

#[test]
fn a_transport_stream_of_two_programs_keeps_the_videos_program_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let input = multiplex(dir.path());
    let output = dir.path().join("one.mp4");
    let out = pass_through(&input, &output, SHARD, false);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let warned: Vec<&str> = err.lines().filter(|l| l.starts_with("stylize: warning: ")).collect();
    assert_eq!(warned.len(), 1, "{err}");
    assert!(warned[0].contains("program 2 (#2 h264, #3 aac) not kept"), "{err}");
    let p = probe(&output);
    assert_eq!((streams_of(&p, "video").len(), streams_of(&p, "audio").len()), (1, 1), "{p}");
    assert_eq!(main_video(&p)["width"], 160, "program 1's picture");
    assert_eq!(audio_payload_md5(&output, 0, "aac"), audio_payload_md5(&input, 0, "aac"), "program 1's audio bytes");
    let mad = mean_abs_diff(&frame_rgb(&input, 10), &frame_rgb(&output, 10));
    assert!(mad < 3.0, "frame 10 differs by {mad:.1} levels");
}

/// `--program 2` keeps the second program whole instead (its picture, its
/// audio's bytes) and names the first as left out; a program the file
/// does not have is refused in one line naming the ones it has, with no
/// output.
#[test]
fn program_picks_another_program_or_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = multiplex(dir.path());
    let output = dir.path().join("two.mp4");
    let model = identity_model();
    let run = |program: &str, out: &std::path::Path| {
        stylize()
            .arg("submit")
            .arg(&input)
            .arg("-o")
            .arg(out)
            .args(["--model", &model, "--deflicker", "off", "--crf", "12", "--program", program])
            .output()
            .unwrap()
    };
    let out = run("2", &output);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("program 1 (#0 h264, #1 aac) not kept"), "{err}");
    let p = probe(&output);
    assert_eq!(main_video(&p)["width"], 128, "program 2's picture");
    assert_eq!(audio_payload_md5(&output, 0, "aac"), audio_payload_md5(&input, 1, "aac"), "program 2's audio bytes");

    let missing = dir.path().join("nine.mp4");
    let out = run("9", &missing);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("stylize: error:")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].contains("multiplex.ts") && errors[0].contains("no program 9 (its programs: 1, 2)"), "{err}");
    assert!(!missing.exists());
}

#[test]
fn mp2_audio_goes_into_an_mp4_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path(), "broadcast.ts", "128x72", "25", "1.2", true, &format!("{X264} -c:a mp2"));
    claim_audio(&probe(&input), &["mp2"]);
    let output = dir.path().join("asked.mp4");
    let model = identity_model();
    let out = stylize()
        .arg("submit")
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .args(["--model", &model, "--deflicker", "off", "--shard-frames", SHARD])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (pi, po) = (probe(&input), probe(&output));
    assert!(po["format"]["format_name"].as_str().unwrap().contains("mp4"), "{po}");
    assert_eq!(video_stream(&po)["nb_read_frames"], video_stream(&pi)["nb_read_frames"]);
    assert_eq!(audio_md5(&output, 0), audio_md5(&input, 0), "the audio's bytes");
}

/// The frames of an MPEG-4 part 2 elementary stream with B-frames (the
/// VOL in its first), one file a frame, in decode order.
fn mpeg4_frames(dir: &std::path::Path) -> (std::path::PathBuf, Vec<Vec<u8>>) {
    let raw = make(
        dir,
        "raw.m4v",
        &words(
            "-f lavfi -i testsrc2=s=160x120:r=25:d=2 -c:v mpeg4 -bf 1 -g 12 -flags +cgop -sc_threshold 1000000000 \
             -q:v 4 -f m4v",
        ),
    );
    let split = dir.join("split");
    std::fs::create_dir(&split).unwrap();
    let pattern = split.join("%03d.bin").to_string_lossy().into_owned();
    let args = ["-v", "error", "-i", raw.to_str().unwrap(), "-c", "copy", "-f", "image2", &pattern];
    run_ok("ffmpeg", &args.map(String::from));
    let frames = (1..=50).map(|i| std::fs::read(split.join(format!("{i:03}.bin"))).unwrap()).collect();
    (raw, frames)
}

/// DivX 5's packed bitstream, as Video for Windows encoders wrote it: each
/// P-frame and the B-frame after it in one chunk, an empty VOP in the next
/// chunk, and `DivX503b1393p` in the user data (FFmpeg writes no such
/// file: this packs one of its own streams the same way).
#[test]
fn packed_divx_b_frames_come_out_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (raw, frames) = mpeg4_frames(dir.path());
    const VOP: &[u8] = &[0, 0, 1, 0xb6];
    let vop_at = |f: &[u8]| f.windows(4).position(|w| w == VOP).unwrap();
    let is_b = |f: &[u8]| f[vop_at(f) + 4] >> 6 == 2;
    let mut first = frames[0].clone();
    let at = vop_at(&first);
    first.splice(at..at, [&[0u8, 0, 1, 0xb2][..], b"DivX503b1393p"].concat());
    let mut packed = vec![first];
    let mut k = 1;
    while k < frames.len() {
        if k + 1 < frames.len() && is_b(&frames[k + 1]) && !is_b(&frames[k]) {
            packed.push([frames[k].as_slice(), frames[k + 1].as_slice()].concat());
            packed.push(vec![0, 0, 1, 0xb6, 0x50, 0x4f]);
            k += 2;
        } else {
            packed.push(frames[k].clone());
            k += 1;
        }
    }
    assert_eq!(packed.len(), 50);
    let chunks = dir.path().join("chunks");
    std::fs::create_dir(&chunks).unwrap();
    for (i, c) in packed.iter().enumerate() {
        std::fs::write(chunks.join(format!("{:03}.bin", i + 1)), c).unwrap();
    }
    let pattern = chunks.join("%03d.bin").to_string_lossy().into_owned();
    let input = make(
        dir.path(),
        "packed.avi",
        &["-f", "image2", "-framerate", "25", "-c:v", "mpeg4", "-i", &pattern, "-c", "copy", "-vtag", "DX50"],
    );
    // FFmpeg sees it as packed, and decodes the stream's 50 frames from it.
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "verbose", "-i"])
        .arg(&input)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("packed B-frames"), "not packed");
    claim(&probe(&input), &[("codec_name", "mpeg4"), ("nb_read_frames", "50")]);
    let (output, _) = stylize_ok(&input, &dir.path().join("out"), SHARD);
    claim(&probe(&output), &[("nb_read_frames", "50")]);
    // Each frame is the stream's own, in order, across shards.
    for n in [0u32, 1, 2, 11, 12, 13, 25, 37, 49] {
        let d = mean_abs_diff(&frame_rgb(&raw, n), &frame_rgb(&output, n));
        assert!(d < FAITHFUL.max_mad, "frame {n}: {d:.1} levels from the stream's own");
    }
}
