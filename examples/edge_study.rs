//! Quantization choices vs quality on the golden corpus (a development tool):
//! `cargo run --example edge_study -- [EXACT_CHANNELS]`.

use edgerec::encoder::edge::{quantize, QuantizeOptions};
use edgerec::{EdgeEncoder, Encoder, ModelFiles};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let exact_channels: usize = args.first().map_or(4, |o| o.parse().unwrap());
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let files = ModelFiles::from_dir(&root.join(".cache/models/all-MiniLM-L6-v2")).unwrap();
    let bytes = quantize(&files, QuantizeOptions { exact_channels }).unwrap();
    let enc = EdgeEncoder::from_bytes(bytes).unwrap();
    let corpus: Vec<String> = serde_json::from_slice(&std::fs::read(root.join("tests/golden/corpus.json")).unwrap()).unwrap();
    let raw = std::fs::read(root.join("tests/golden/embeddings.f32")).unwrap();
    let want: Vec<f32> = raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    let texts: Vec<&str> = corpus.iter().map(String::as_str).collect();
    let got = enc.embed(&texts).unwrap();
    let d = enc.dim();
    let mut cos: Vec<(f32, usize)> = got
        .chunks_exact(d)
        .zip(want.chunks_exact(d))
        .enumerate()
        .map(|(i, (a, b))| (a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>(), i))
        .collect();
    let mean = cos.iter().map(|c| c.0).sum::<f32>() / cos.len() as f32;
    cos.sort_by(|a, b| a.0.total_cmp(&b.0));
    let worst: Vec<String> =
        cos[..5].iter().map(|(c, i)| format!("{c:.4} {:?}", &corpus[*i].chars().take(30).collect::<String>())).collect();
    println!("exact channels {exact_channels}:");
    println!(" min {:.5} mean {mean:.5}; worst {worst:?}", cos[0].0);
}
