//! Shared test fixtures: the model folder, a loaded encoder, and the golden references.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use edgerec::{BertEncoder, ModelFiles};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The default model as scripts/fetch-model.sh caches it: the golden references were made from it.
pub fn default_model_dir() -> PathBuf {
    repo().join(".cache/models/all-MiniLM-L6-v2")
}

/// `$EDGEREC_MODEL_DIR`, else the default model.
pub fn model_dir() -> PathBuf {
    std::env::var_os("EDGEREC_MODEL_DIR").map(PathBuf::from).unwrap_or_else(default_model_dir)
}

fn read_files(dir: PathBuf) -> ModelFiles {
    ModelFiles::from_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot load the model from {} ({e}); run scripts/fetch-model.sh", dir.display()))
}

pub fn model_files() -> &'static ModelFiles {
    static FILES: OnceLock<ModelFiles> = OnceLock::new();
    FILES.get_or_init(|| read_files(model_dir()))
}

pub fn encoder() -> &'static BertEncoder {
    static ENC: OnceLock<BertEncoder> = OnceLock::new();
    ENC.get_or_init(|| BertEncoder::from_files(model_files()).expect("model loads"))
}

pub fn default_encoder() -> &'static BertEncoder {
    static ENC: OnceLock<BertEncoder> = OnceLock::new();
    ENC.get_or_init(|| BertEncoder::from_files(&read_files(default_model_dir())).expect("default model loads"))
}

pub fn golden_corpus() -> Vec<String> {
    let bytes = std::fs::read(repo().join("tests/golden/corpus.json")).expect("corpus.json");
    serde_json::from_slice(&bytes).expect("corpus.json is a JSON array of strings")
}

pub fn golden_tokens() -> Vec<Vec<u32>> {
    #[derive(serde::Deserialize)]
    struct Tokens {
        ids: Vec<Vec<u32>>,
    }
    let bytes = std::fs::read(repo().join("tests/golden/tokens.json")).expect("tokens.json");
    serde_json::from_slice::<Tokens>(&bytes).expect("tokens.json").ids
}

/// The sentence-transformers vectors, row-major `n × 384`.
pub fn golden_embeddings() -> Vec<f32> {
    let bytes = std::fs::read(repo().join("tests/golden/embeddings.f32")).expect("embeddings.f32");
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

/// Runs the `edgerec` binary with `EDGEREC_MODEL_DIR` set, extra environment, and `stdin`.
pub fn run_cli(bin: &str, args: &[&str], env: &[(&str, &std::path::Path)], stdin: &str) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(bin)
        .args(args)
        .env("EDGEREC_MODEL_DIR", model_dir())
        .envs(env.iter().map(|(k, v)| (*k, *v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that fails early may exit before reading stdin: a broken pipe here is fine.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

/// The default model quantized into an edge bundle (in memory, once per test binary).
pub fn default_edge_bundle() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        edgerec::encoder::edge::quantize(&read_files(default_model_dir()), Default::default())
            .expect("the default model quantizes")
    })
}

pub fn default_edge_encoder() -> &'static edgerec::EdgeEncoder {
    static ENC: OnceLock<edgerec::EdgeEncoder> = OnceLock::new();
    ENC.get_or_init(|| edgerec::EdgeEncoder::from_bytes(default_edge_bundle().to_vec()).expect("bundle loads"))
}

/// Per-row cosines of two `n × d` matrices: (min, index of min, mean).
pub fn cosine_stats(a: &[f32], b: &[f32], d: usize) -> (f32, usize, f32) {
    let cos: Vec<f32> = a.chunks_exact(d).zip(b.chunks_exact(d)).map(|(x, y)| cosine(x, y)).collect();
    let (worst, min) = cos.iter().enumerate().fold((0, f32::MAX), |m, (i, &c)| if c < m.1 { (i, c) } else { m });
    (min, worst, cos.iter().sum::<f32>() / cos.len() as f32)
}
