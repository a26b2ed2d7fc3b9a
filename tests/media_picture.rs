//! What a picture carries beside its pixels.
//!
//! Pixel aspect: the container's (MP4 `pasp`, as `-aspect` on a stream copy
//! writes it) is the one players use, over the codec's: the output has it.
//!
//! Pictures with an alpha channel: ProRes 4444 (alpha in the pixel format)
//! and WebM VP9 with alpha (beside the picture, as its `alpha_mode` tag
//! says). The style network paints colour only, so the output is opaque:
//! the job says so, in one `stylize: warning:` line naming the file and in
//! the report's warnings, and keeps every frame and the audio's bytes. A
//! picture without alpha gets no such word.

#[path = "media_corpus/check.rs"]
mod check;
#[path = "media_corpus/clips.rs"]
mod clips;
mod util;

use std::path::Path;

use check::*;
use clips::*;
use util::*;

fn says_alpha_is_dropped(input: &Path) {
    let dir = input.parent().unwrap();
    let (lines, warnings, output) = warned(dir, input);
    let name = input.file_name().unwrap().to_string_lossy();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains(&*name) && lines[0].contains("alpha") && lines[0].contains("opaque"), "{lines:?}");
    assert!(warnings.contains("alpha channel"), "{warnings}");
    let (pi, po) = (probe(input), probe(&output));
    assert_eq!(video_stream(&po)["nb_read_frames"], video_stream(&pi)["nb_read_frames"]);
    assert_eq!(audio_md5(&output, 0), audio_md5(input, 0), "the audio's bytes");
}

#[test]
fn prores_4444_with_alpha_says_the_output_is_opaque() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(
        dir.path(),
        "keyed.mov",
        "128x72",
        "25",
        "1",
        true,
        "-vf format=yuva444p10le -c:v prores_ks -profile:v 4444 -c:a pcm_s16le",
    );
    let p = probe(&input);
    assert_eq!(main_video(&p)["pix_fmt"], "yuva444p12le", "ProRes 4444 decodes with alpha");
    says_alpha_is_dropped(&input);
}

#[test]
fn webm_vp9_with_alpha_says_the_output_is_opaque() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(
        dir.path(),
        "keyed.webm",
        "128x72",
        "25",
        "1",
        true,
        "-vf format=yuva420p -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -c:a libopus",
    );
    let p = probe(&input);
    assert_eq!(main_video(&p)["tags"]["alpha_mode"], "1", "VP9 with alpha: {p}");
    says_alpha_is_dropped(&input);
}

#[test]
fn an_opaque_picture_gets_no_word_about_alpha() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path(), "plain.mov", "128x72", "25", "1", true, "-c:v prores_ks -profile:v 3 -c:a pcm_s16le");
    let (lines, warnings, _) = warned(dir.path(), &input);
    assert!(lines.is_empty() && !warnings.contains("alpha"), "{lines:?} {warnings}");
}

/// An H.264 MP4 whose codec says 4:3 pixels and whose container, set by
/// `-aspect 16:9` on a stream copy, says otherwise; and one whose codec
/// says nothing (square) with the container's `-aspect 4:3`. The output
/// shows as the input does: the container's aspect.
#[test]
fn the_containers_pixel_aspect_wins_as_in_players() {
    let dir = tempfile::tempdir().unwrap();
    for (name, coded, aspect, sar) in
        [("codec43.mp4", "setsar=4/3", "16:9", "1:1"), ("square.mp4", "setsar=1", "4:3", "3:4")]
    {
        let coded_file = clip(
            dir.path(),
            &format!("coded-{name}"),
            "128x72",
            "25",
            "1",
            true,
            &format!("-vf {coded} {X264} -c:a aac"),
        );
        let input = make(dir.path(), name, &["-i", coded_file.to_str().unwrap(), "-c", "copy", "-aspect", aspect]);
        let pi = probe(&input);
        assert_eq!(main_video(&pi)["sample_aspect_ratio"], sar, "{name}: the input as ffprobe reads it");
        let out = dir.path().join(format!("out-{name}"));
        let done = pass_through(&input, &out, SHARD, false);
        assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
        // Square pixels may go unsaid: 1:1 and a 16:9 frame's 16:9.
        let shown = |p: &serde_json::Value, key: &str, square: &str| {
            main_video(p)[key].as_str().filter(|v| *v != "0:1").unwrap_or(square).to_string()
        };
        for (key, square) in [("sample_aspect_ratio", "1:1"), ("display_aspect_ratio", "16:9")] {
            assert_eq!(shown(&probe(&out), key, square), shown(&pi, key, square), "{name}: {key}");
        }
    }
}
