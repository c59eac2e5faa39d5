//! Native half of the encoder benchmark (bench/encoder.mjs runs it and the wasm half in one go).
//! Usage: bench_encoder TEXTS_FILE   (one text per line); prints one JSON object.

use std::time::Instant;

use edgerec::{BertEncoder, Encoder};

fn main() {
    let path = std::env::args().nth(1).expect("usage: bench_encoder TEXTS_FILE");
    let texts: Vec<String> = std::fs::read_to_string(path).expect("texts file").lines().map(String::from).collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let dir = std::env::var_os("EDGEREC_MODEL_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/models/all-MiniLM-L6-v2"));
    let t = Instant::now();
    let mut enc = BertEncoder::from_dir(&dir).expect("model loads");
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    enc.embed(&texts[..8.min(texts.len())]).unwrap(); // warm-up

    let t = Instant::now();
    for text in &texts {
        enc.embed(&[text]).unwrap();
    }
    let batch1 = texts.len() as f64 / t.elapsed().as_secs_f64();

    enc.set_batch_size(32);
    let t = Instant::now();
    enc.embed(&texts).unwrap();
    let batch32 = texts.len() as f64 / t.elapsed().as_secs_f64();
    println!(
        "{{\"texts\": {}, \"load_ms\": {load_ms:.1}, \"batch1_texts_per_s\": {batch1:.2}, \"batch32_texts_per_s\": {batch32:.2}}}",
        texts.len()
    );
}
