//! Codecs that died mid-job: each file is longer than several shards, so
//! it is cut, carried to a worker, decoded there and stitched. The probe's
//! trial segment picks a container that carries the codec whole (NUT loses
//! QuickTime Animation's bits per pixel and has no tag for DNxHD: MOV
//! carries them), and the cut gives MPEG-2 in Matroska decode times that
//! increase (libavformat's guess after a seek went backwards). Each comes
//! out faithful: frames, times, colour, audio bytes.

#[path = "media_corpus/check.rs"]
mod check;
#[path = "media_corpus/clips.rs"]
mod clips;
mod util;

use check::*;
use clips::*;

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
