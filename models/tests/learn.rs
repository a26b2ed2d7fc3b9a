//! Learning a style helps: after a few steps on a small painting and a few
//! frames, the style loss (Gram distance in VGG19 features) is lower than
//! that of the closest built-in style, which is where learning starts.

use stylize_models::learn::{learn, Image, LearnOptions, LEARNED_MODEL};
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
    let (style, report) =
        learn(&Image { rgb: &p, width: 64, height: 64 }, &contents, &options, &|_, l| losses.lock().unwrap().push(l))
            .unwrap();
    assert_eq!(style.model, LEARNED_MODEL);
    assert_eq!(style.slot, report.closest_builtin.0);
    assert_eq!(losses.lock().unwrap().len(), 25);
    assert!(
        report.final_style_loss < 0.8 * report.initial_style_loss,
        "style loss {:.4} after learning vs {:.4} for the closest built-in style",
        report.final_style_loss,
        report.initial_style_loss
    );
    // Deterministic: the same inputs learn the same style.
    let (again, _) = learn(&Image { rgb: &p, width: 64, height: 64 }, &contents, &options, &|_, _| {}).unwrap();
    assert_eq!(again, style);
}
