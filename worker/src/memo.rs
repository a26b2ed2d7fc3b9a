//! memo: the model's outputs for a shard's last frames, kept for the next
//! shard's warm-up. A shard starts its deflicker on a few frames before
//! its own, which are the shard before's last ones: through the model a
//! second time they were 8% of a long video's model work. A worker whose
//! next shard follows its last (the driver hands local workers runs of
//! shards) takes them from here instead.
//!
//! Exact by construction: an entry is found by a digest of the model's
//! input pixels and the model's own description, and only where frames go
//! through the model one at a time (a batch may round a level otherwise),
//! so a found output is the very bytes the model would give again.

use std::collections::VecDeque;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::frame::Rgb;

/// Bytes of outputs kept at most (the oldest go first).
const CAPACITY: usize = 256 << 20;

/// Outputs kept at most: the last frames of sixteen workers' shards (past
/// that, warm-ups are made again: slower, the same bytes). A found output
/// leaves the memo, so what stays is only the last frames of shards whose
/// next went to another worker (or of a job's last shard); without a bound
/// of their own they filled the whole capacity over a long video (the
/// job's peak memory grew by 16 KiB a video frame at 320x180).
const ENTRIES: usize = 16 * crate::deflicker::WARMUP_FRAMES;

struct Entry {
    model: String,
    key: [u8; 32],
    output: Rgb,
}

static MEMO: Mutex<VecDeque<Entry>> = Mutex::new(VecDeque::new());

/// The digest of a frame's input pixels.
pub fn key(rgb: &Rgb) -> [u8; 32] {
    let mut h = Sha256::new();
    match rgb {
        Rgb::Bytes(b) => h.update(b),
        Rgb::Deep(d) => {
            h.update([16u8]);
            for chunk in d.chunks(4096) {
                let bytes: Vec<u8> = chunk.iter().flat_map(|v| v.to_le_bytes()).collect();
                h.update(&bytes);
            }
        }
    }
    h.finalize().into()
}

fn size(rgb: &Rgb) -> usize {
    match rgb {
        Rgb::Bytes(b) => b.len(),
        Rgb::Deep(d) => d.len() * 2,
    }
}

/// The output `model` gave for the input whose digest is `key`, if kept;
/// taken out (a warm-up frame is looked for once).
pub fn take(model: &str, key: &[u8; 32]) -> Option<Rgb> {
    let mut memo = MEMO.lock().unwrap_or_else(|e| e.into_inner());
    let at = memo.iter().position(|e| e.key == *key && e.model == model)?;
    memo.remove(at).map(|e| e.output)
}

/// Keep `output`, what `model` gave for the input whose digest is `key`.
pub fn keep(model: &str, key: [u8; 32], output: Rgb) {
    let mut memo = MEMO.lock().unwrap_or_else(|e| e.into_inner());
    let mut total: usize = memo.iter().map(|e| size(&e.output)).sum::<usize>() + size(&output);
    while total > CAPACITY || memo.len() >= ENTRIES {
        match memo.pop_front() {
            Some(old) => total -= size(&old.output),
            None => break,
        }
    }
    if size(&output) <= CAPACITY {
        memo.push_back(Entry { model: model.to_string(), key, output });
    }
}
