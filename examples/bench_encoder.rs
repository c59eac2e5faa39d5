//! Native half of the encoder benchmark (bench/encoder.mjs runs it and the wasm half in one go).
//! Usage: bench_encoder TEXTS_FILE EDGE_BUNDLE   (one text per line); prints one JSON object with
//! the f32 candle encoder and the int8 edge encoder measured on the same texts in this run.

use std::time::Instant;

use edgerec::{BertEncoder, EdgeEncoder, Encoder};

/// (load ms, texts/s at batch 1, texts/s at batch 32)
fn measure(load: impl FnOnce() -> Box<dyn Encoder>, texts: &[&str]) -> (f64, f64, f64) {
    let t = Instant::now();
    let enc = load();
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    enc.embed(&texts[..8.min(texts.len())]).unwrap(); // warm-up
    let t = Instant::now();
    for text in texts {
        enc.embed(&[text]).unwrap();
    }
    let batch1 = texts.len() as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for chunk in texts.chunks(32) {
        enc.embed(chunk).unwrap();
    }
    let batch32 = texts.len() as f64 / t.elapsed().as_secs_f64();
    (load_ms, batch1, batch32)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (path, bundle) = match (args.next(), args.next()) {
        (Some(p), Some(b)) => (p, b),
        _ => panic!("usage: bench_encoder TEXTS_FILE EDGE_BUNDLE"),
    };
    let texts: Vec<String> = std::fs::read_to_string(path).expect("texts file").lines().map(String::from).collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let dir = std::env::var_os("EDGEREC_MODEL_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/models/all-MiniLM-L6-v2"));
    let f32 = measure(|| Box::new(BertEncoder::from_dir(&dir).expect("model loads")), &texts);
    let int8 = measure(|| Box::new(EdgeEncoder::from_file(bundle.as_ref()).expect("bundle loads")), &texts);
    let json = |(l, b1, b32): (f64, f64, f64)| {
        format!("{{\"load_ms\": {l:.1}, \"batch1_texts_per_s\": {b1:.2}, \"batch32_texts_per_s\": {b32:.2}}}")
    };
    println!(
        "{{\"texts\": {}, \"isa\": \"{}\", \"f32\": {}, \"int8\": {}}}",
        texts.len(),
        edgerec::encoder::edge::Isa::current().name(),
        json(f32),
        json(int8)
    );
}
