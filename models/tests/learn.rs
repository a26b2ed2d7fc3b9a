//! Learning a style helps: after a few steps on a small painting and a few
//! frames, the style loss (Gram distance in VGG19 features) is lower than
//! that of the closest built-in style, which is where learning starts.

use stylize_models::learn::{learn, Image, LearnOptions, LearnProgress, LEARNED_MODEL};
use stylize_models::torch::DeviceChoice;

fn painting() -> Vec<u8> {
    // Diagonal green and magenta stripes: like none of the 26 styles.
    (0..64 * 64)
        .flat_map(|i| {
            let (x, y) = (i % 64, i / 64);
            if (x + y) / 6 % 2 == 0 {
                [20u8, 200, 60]
            } else {
                [220, 30, 200]
            }
        })
        .collect()
}

fn content(k: usize) -> Vec<u8> {
    (0..64 * 64)
        .flat_map(|i| {
            let (x, y) = (i % 64, i / 64);
            [(x * 4) as u8, (y * 4) as u8, ((x * y + k * 40) % 256) as u8]
        })
        .collect()
}

#[test]
fn learning_beats_the_closest_builtin_style() {
    let p = painting();
    let cs: Vec<Vec<u8>> = (0..2).map(content).collect();
    let contents: Vec<Image> = cs.iter().map(|c| Image { rgb: c, width: 64, height: 64 }).collect();
    let options = LearnOptions { steps: 25, size: 64, device: DeviceChoice::Cpu, ..LearnOptions::default() };
    let losses = std::sync::Mutex::new(Vec::new());
    let (style, report) = learn(&Image { rgb: &p, width: 64, height: 64 }, &contents, &options, &|e| {
        losses.lock().unwrap().push(e);
    })
    .unwrap();
    assert_eq!(style.model, LEARNED_MODEL);
    assert_eq!(style.slot, report.closest_builtin.0);
    // What a progress display hears: loaded, the 26 starts tried, each
    // step with its style loss against the start's.
    let events = losses.into_inner().unwrap();
    assert_eq!(events[0], LearnProgress::Loaded);
    assert_eq!(events[26], LearnProgress::Closest { tried: 26 });
    let shares: Vec<f64> = events[27..]
        .iter()
        .map(|e| match e {
            LearnProgress::Step { style_share, .. } => *style_share,
            other => panic!("{other:?} among the steps"),
        })
        .collect();
    assert_eq!(shares.len(), 25);
    // The first step's style loss is the closest built-in style's (the
    // step measures before it updates), and it falls.
    assert!((shares[0] - 1.0).abs() < 1e-3, "{shares:?}");
    assert!(shares[24] < 0.9, "{shares:?}");
    assert!(
        report.final_style_loss < 0.8 * report.initial_style_loss,
        "style loss {:.4} after learning vs {:.4} for the closest built-in style",
        report.final_style_loss,
        report.initial_style_loss
    );
    // Deterministic: the same inputs learn the same style.
    let (again, _) = learn(&Image { rgb: &p, width: 64, height: 64 }, &contents, &options, &|_| {}).unwrap();
    assert_eq!(again, style);
}
