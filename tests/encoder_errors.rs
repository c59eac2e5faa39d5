//! Bad model files and bad input: each a typed error, and the encoder stays usable.

mod common;

use common::*;
use edgerec::encoder::{MAX_TEXTS_PER_CALL, MAX_TEXT_BYTES};
use edgerec::{BertEncoder, Encoder, ModelFiles};

fn load(f: &ModelFiles) -> edgerec::Error {
    match BertEncoder::from_files(f) {
        Ok(_) => panic!("the model should have been rejected"),
        Err(e) => e,
    }
}

#[test]
fn truncated_safetensors_is_invalid_model() {
    let mut f = model_files().clone();
    f.weights.truncate(f.weights.len() / 2);
    let e = load(&f);
    assert_eq!(e.code(), "invalid_model", "{e}");
    assert!(e.to_string().contains("model.safetensors"), "{e}");
}

#[test]
fn corrupt_or_empty_safetensors_is_invalid_model() {
    let mut f = model_files().clone();
    f.weights[..64].fill(0xff);
    assert_eq!(load(&f).code(), "invalid_model");
    f.weights.clear();
    assert_eq!(load(&f).code(), "invalid_model");
}

fn with_config(edit: impl FnOnce(&mut serde_json::Value)) -> ModelFiles {
    let mut f = model_files().clone();
    let mut cfg: serde_json::Value = serde_json::from_slice(&f.config).unwrap();
    edit(&mut cfg);
    f.config = serde_json::to_vec(&cfg).unwrap();
    f
}

#[test]
fn config_that_does_not_match_the_weights_is_invalid_model() {
    let f = with_config(|c| c["hidden_size"] = 768.into());
    let e = load(&f);
    assert_eq!(e.code(), "invalid_model");
    assert!(e.to_string().contains("do not match"), "{e}");
    let f = with_config(|c| {
        let n = c["num_hidden_layers"].as_u64().unwrap();
        c["num_hidden_layers"] = (n + 1).into();
    });
    assert_eq!(load(&f).code(), "invalid_model");
    let f = with_config(|c| c["num_attention_heads"] = 7.into());
    assert!(load(&f).to_string().contains("multiple of num_attention_heads"));
    let f = with_config(|c| c["vocab_size"] = 100.into());
    assert!(load(&f).to_string().contains("vocab_size"));
    let f = with_config(|c| c["model_type"] = "roberta".into());
    assert!(load(&f).to_string().contains("not supported"));
}

#[test]
fn config_that_is_not_json_is_invalid_model() {
    let mut f = model_files().clone();
    f.config = b"{\"hidden_size\": ".to_vec();
    assert_eq!(load(&f).code(), "invalid_model");
}

#[test]
fn tokenizer_file_that_is_not_one_is_invalid_tokenizer() {
    let mut f = model_files().clone();
    f.tokenizer = b"{\"this is\": \"not a tokenizer\"}".to_vec();
    assert_eq!(load(&f).code(), "invalid_tokenizer");
    f.tokenizer = vec![0u8; 100];
    assert_eq!(load(&f).code(), "invalid_tokenizer");
}

#[test]
fn bad_pooling_config_is_invalid_model() {
    let mut f = model_files().clone();
    f.pooling = Some(b"[1,2,3]".to_vec());
    assert_eq!(load(&f).code(), "invalid_model");
}

#[test]
fn limits_are_named_and_the_encoder_stays_usable() {
    let enc = encoder();
    let long = "x".repeat(MAX_TEXT_BYTES + 1);
    let e = enc.embed(&["fine", &long]).unwrap_err();
    assert_eq!(e.code(), "limit_exceeded");
    assert!(e.to_string().contains("texts[1] length in bytes"), "{e}");
    let many = vec!["t"; MAX_TEXTS_PER_CALL + 1];
    let e = enc.embed(&many).unwrap_err();
    assert!(e.to_string().contains("texts per call"), "{e}");
    // Still works, and the empty call is an empty answer.
    assert_eq!(enc.embed(&["still works"]).unwrap().len(), enc.dim());
    assert!(enc.embed(&[]).unwrap().is_empty());
    // Exactly at the limit is accepted (and truncated to max_seq_length tokens).
    let at_limit = "word ".repeat(MAX_TEXT_BYTES / 5);
    assert_eq!(enc.embed(&[&at_limit]).unwrap().len(), enc.dim());
}

#[test]
fn cli_embed_writes_raw_f32_rows_and_reports_bad_models() {
    let run = |args: &[&str], stdin: &str| run_cli(env!("CARGO_BIN_EXE_edgerec"), args, &[], stdin);
    let out = run(&["embed"], "first line\nsecond line\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let d = encoder().dim();
    assert_eq!(out.stdout.len(), 2 * d * 4);
    let first: Vec<f32> = out.stdout[..d * 4].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    assert!(cosine(&first, &encoder().embed(&["first line"]).unwrap()) > 0.99999);

    let out = run(&["embed", "--model", "/nonexistent/model"], "x\n");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error[invalid_model]"), "{err}");
}

#[test]
fn model_id_tells_models_apart() {
    let base = encoder().model_id().to_string();
    assert!(base.starts_with("bert-"), "{base}");
    // Another config (same architecture) → another id.
    let f = with_config(|c| c["layer_norm_eps"] = 1e-6.into());
    assert_ne!(BertEncoder::from_files(&f).unwrap().model_id(), base);
    // Other weights (a value inside the second sampled MiB nudged) → another id.
    let mut f = model_files().clone();
    let header = u64::from_le_bytes(f.weights[..8].try_into().unwrap()) as usize + 8;
    let at = header + (1 << 20) + 16;
    f.weights[at] ^= 1;
    assert_ne!(BertEncoder::from_files(&f).unwrap().model_id(), base);
    // The same files → the same id.
    assert_eq!(BertEncoder::from_files(model_files()).unwrap().model_id(), base);
}
