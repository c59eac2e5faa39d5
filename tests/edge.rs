//! The int8 edge encoder: quality against the sentence-transformers references, exact batch
//! invariance, and refusal of bad bundles.

mod common;

use common::*;
use edgerec::encoder::edge::{self, Isa, QuantizeOptions};
use edgerec::{EdgeEncoder, Encoder};

#[test]
fn token_ids_equal_python_tokenizers() {
    let enc = default_edge_encoder();
    for (i, (text, want)) in golden_corpus().iter().zip(golden_tokens()).enumerate() {
        assert_eq!(enc.tokenize(text).unwrap(), want, "text #{i}");
    }
}

#[test]
fn embeddings_stay_close_to_sentence_transformers() {
    let enc = default_edge_encoder();
    let corpus = golden_corpus();
    let texts: Vec<&str> = corpus.iter().map(String::as_str).collect();
    let got = enc.embed(&texts).unwrap();
    let (min, worst, mean) = cosine_stats(&got, &golden_embeddings(), enc.dim());
    println!(
        "int8 edge encoder ({}): cosine to sentence-transformers min {min:.5} (#{worst}), mean {mean:.5}",
        Isa::current().name()
    );
    assert!(min >= 0.995, "min cosine {min} at #{worst} {:?}", corpus[worst]);
    assert!(mean >= 0.998, "mean cosine {mean}");
}

#[test]
fn a_text_alone_is_bit_identical_to_the_same_text_in_a_batch() {
    let enc = default_edge_encoder();
    let corpus = golden_corpus();
    let texts: Vec<&str> = corpus.iter().map(String::as_str).collect();
    let d = enc.dim();
    let batched = enc.embed(&texts).unwrap();
    for (i, t) in texts.iter().enumerate().step_by(7) {
        assert_eq!(enc.embed(&[t]).unwrap(), &batched[i * d..(i + 1) * d], "text #{i}");
    }
}

#[test]
fn the_bundle_is_small_and_names_its_source() {
    let bytes = default_edge_bundle();
    assert!(bytes.len() <= 25_000_000, "bundle is {} bytes", bytes.len());
    let enc = default_edge_encoder();
    assert_eq!(enc.space_id(), default_encoder().model_id(), "the source id is the f32 model's id");
    assert!(enc.model_id().starts_with("bert-6x384-mean-int8:"), "{}", enc.model_id());
    assert_eq!(enc.header().source_sha256.len(), 64);
    // Deterministic: the same model quantizes to the same bytes.
    let again =
        edge::quantize(&edgerec::ModelFiles::from_dir(&default_model_dir()).unwrap(), QuantizeOptions::default()).unwrap();
    assert!(again == bytes, "quantizing twice gave different bundles");
}

#[test]
fn truncated_corrupt_and_foreign_bundles_are_refused() {
    let bytes = default_edge_bundle();
    let err = |b: Vec<u8>| EdgeEncoder::from_bytes(b).err().expect("must be refused");
    for cut in [0, 7, 20, 4096, bytes.len() / 2, bytes.len() - 1] {
        let e = err(bytes[..cut].to_vec());
        assert_eq!(e.code(), "invalid_model", "cut at {cut}: {e}");
    }
    let mut flipped = bytes.to_vec();
    flipped[bytes.len() / 3] ^= 0x40;
    assert!(err(flipped).to_string().contains("checksum"));
    let catalog_magic = [b"EDGERECC".as_slice(), &bytes[8..]].concat();
    assert!(err(catalog_magic).to_string().contains("this file is an edgerec catalog bundle"));
    let unknown_magic = [b"EDGERECZ".as_slice(), &bytes[8..]].concat();
    assert!(err(unknown_magic).to_string().contains("magic"));
    let e = err(std::fs::read(default_model_dir().join("model.safetensors")).unwrap());
    assert_eq!(e.code(), "invalid_model");
}

#[test]
fn limits_are_checked_before_any_work() {
    let enc = default_edge_encoder();
    let long = "x".repeat(edgerec::encoder::MAX_TEXT_BYTES + 1);
    let e = enc.embed(&["ok", &long]).unwrap_err();
    assert_eq!(e.code(), "limit_exceeded");
    assert!(e.to_string().contains("texts[1]"), "{e}");
    assert_eq!(enc.embed(&[]).unwrap().len(), 0);
    let v = enc.embed(&[""]).unwrap();
    assert!((v.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-4, "empty text still gives a unit vector");
}
