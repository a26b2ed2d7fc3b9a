#![allow(dead_code)]
//! Making the corpus's clips with the ffmpeg CLI (argument vectors, never a
//! shell), and asserting that a made clip is what it claims to be.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::*;

/// The picture of every clip: testsrc2, softened so that a trip through
/// 4:2:0 and back costs about one level (its sharp edges cost 2-5 at
/// 128x72), while a wrong matrix or range still costs more than 6.
pub fn pic(size: &str, rate: &str, secs: &str) -> String {
    format!("testsrc2=s={size}:r={rate}:d={secs},gblur=sigma=1.5")
}

pub fn tone(secs: &str, freq: u32) -> String {
    format!("sine=f={freq}:r=48000:d={secs}")
}

/// `ffmpeg -v error -y ARGS... DIR/NAME`; the file made.
pub fn make(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let mut v: Vec<String> = ["-v", "error", "-y"].iter().map(|s| s.to_string()).collect();
    v.extend(args.iter().map(|s| s.to_string()));
    v.push(path.to_string_lossy().into_owned());
    run_ok("ffmpeg", &v);
    path
}

/// The arguments in `s`, split at white space (a literal, never a shell:
/// no argument here has a space in it).
pub fn words(s: &str) -> Vec<&str> {
    s.split_whitespace().collect()
}

/// A clip of `secs` seconds of `pic` at `size` and `rate` (and a 48 kHz
/// tone as input 1 when `audio`), encoded with the arguments in `args`.
pub fn clip(dir: &Path, name: &str, size: &str, rate: &str, secs: &str, audio: bool, args: &str) -> PathBuf {
    let (v, a) = (pic(size, rate, secs), tone(secs, 440));
    let mut all = vec!["-f", "lavfi", "-i", v.as_str()];
    if audio {
        all.extend(["-f", "lavfi", "-i", a.as_str()]);
    }
    all.extend(words(args));
    make(dir, name, &all)
}

/// H.264 with a keyframe every 12 frames and B-frames.
pub const X264: &str = "-c:v libx264 -preset ultrafast -g 12 -keyint_min 12 -sc_threshold 0 -bf 2";

/// Assert facts of the generated input's main video stream.
pub fn claim(p: &Value, facts: &[(&str, &str)]) {
    let v = main_video(p);
    for (key, want) in facts {
        let got = match &v[*key] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        assert_eq!(got, *want, "the generated input's {key}");
    }
}

/// Assert the codecs of the generated input's audio streams.
pub fn claim_audio(p: &Value, codecs: &[&str]) {
    let got: Vec<&str> = streams_of(p, "audio").iter().map(|a| a["codec_name"].as_str().unwrap()).collect();
    assert_eq!(got, codecs, "the generated input's audio");
}
