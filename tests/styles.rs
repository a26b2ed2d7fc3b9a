//! `stylize styles list` and `stylize styles preview`.

mod util;

use util::*;

#[test]
fn list_names_every_style_with_its_index() {
    let out = stylize().args(["styles", "list"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 26);
    assert!(text.contains("16  starry") && text.contains("17  mosaic"), "{text}");
    // The default is marked, and so are the styles whose pattern takes
    // over the picture (mosaic keeps the least of it).
    let line = |name: &str| text.lines().find(|l| l.split_whitespace().nth(1) == Some(name)).unwrap().to_string();
    assert!(line("fauve").ends_with("(default)"), "{text}");
    assert!(line("mosaic").contains("strong"), "{text}");
    assert!(!line("frost").contains("strong"), "{text}");
    assert_eq!(text.lines().filter(|l| l.contains("(default)")).count(), 1);
}

/// The default style is the one `styles list` marks, and it is not a
/// strong one: a first run gives back a video that looks like the input.
#[test]
fn the_default_style_keeps_the_picture() {
    let out = stylize().args(["styles", "list", "--json"]).output().unwrap();
    let styles: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let builtin = styles["builtin"].as_array().unwrap();
    let defaults: Vec<&serde_json::Value> = builtin.iter().filter(|s| s["default"] == true).collect();
    assert_eq!(defaults.len(), 1, "{builtin:?}");
    assert_eq!(defaults[0]["strong"], false);
    let mosaic = builtin.iter().find(|s| s["name"] == "mosaic").unwrap();
    assert!(mosaic["strong"] == true && mosaic["content_kept"].as_f64() < defaults[0]["content_kept"].as_f64());

    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), "first.mp4", &ClipSpec { frames: 12, ..ClipSpec::default() });
    let output = submit_ok(&clip, &dir.path().join("out"), &["--deflicker", "off"]);
    let name = defaults[0]["name"].as_str().unwrap();
    output_key(&[output.file_name().unwrap().to_string_lossy().into_owned()], &format!("first.{name}"));
}

#[test]
fn preview_renders_a_contact_sheet_of_all_styles() {
    let dir = tempfile::tempdir().unwrap();
    let frame = dir.path().join("frame.png");
    let mut img = image::RgbImage::new(96, 64);
    for (x, y, p) in img.enumerate_pixels_mut() {
        *p = image::Rgb([(x * 2) as u8, (y * 4) as u8, ((x + y) % 256) as u8]);
    }
    img.save(&frame).unwrap();
    let sheet = dir.path().join("sheet.png");
    let out = stylize()
        .args(["styles", "preview"])
        .arg(&frame)
        .arg("-o")
        .arg(&sheet)
        .args(["--tile", "48"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sheet = image::open(&sheet).unwrap().to_rgb8();
    // 7 tiles of 48x32 to a row, 4 rows for 26 styles.
    assert_eq!(sheet.dimensions(), (7 * 48, 4 * 32));
    // Tiles differ from one another: each is a different style.
    let tile =
        |i: u32| image::imageops::crop_imm(&sheet, (i % 7) * 48, (i / 7) * 32 + 16, 48, 16).to_image().into_raw();
    assert!(psnr(&tile(16), &tile(17)) < 25.0);
    assert!(psnr(&tile(0), &tile(3)) < 25.0);

    // Each tile is labelled with its index and name on a white strip
    // (8-pixel glyphs): ink past the index, where the name is.
    let ink = |i: u32, from: u32, to: u32| {
        (from..to).any(|x| (1..9).any(|y| sheet.get_pixel((i % 7) * 48 + x, (i / 7) * 32 + y)[0] < 64))
    };
    // "17 mosaic": the digits in the first 17 pixels, the name from 25 on;
    // "3 vortex": the digit, then the name from 17 on.
    assert!(ink(17, 0, 17) && ink(17, 25, 48), "tile 17 has no name");
    assert!(ink(3, 0, 9) && ink(3, 17, 48), "tile 3 has no name");
}
