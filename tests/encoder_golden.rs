//! The encoder against Python references made by scripts/golden/make_golden.py:
//! token ids from `tokenizers`, vectors from sentence-transformers, for tests/golden/corpus.json.

mod common;

use common::*;
use edgerec::Encoder;

#[test]
fn token_ids_equal_python_tokenizers() {
    let enc = default_encoder();
    let corpus = golden_corpus();
    let golden = golden_tokens();
    assert!(corpus.len() >= 200, "the corpus must hold at least 200 texts");
    assert_eq!(corpus.len(), golden.len());
    let mut mismatches = Vec::new();
    for (i, (text, want)) in corpus.iter().zip(&golden).enumerate() {
        let got = enc.tokenize(text).unwrap();
        if &got != want {
            mismatches.push(format!("#{i} {text:.40?}: got {} ids, want {}", got.len(), want.len()));
        }
    }
    assert!(mismatches.is_empty(), "{} texts differ:\n{}", mismatches.len(), mismatches.join("\n"));
    // The corpus must exercise truncation at max_seq_length.
    assert!(golden.iter().any(|ids| ids.len() == enc.max_seq_length()));
}

#[test]
fn embeddings_match_sentence_transformers() {
    let enc = default_encoder();
    let corpus = golden_corpus();
    let texts: Vec<&str> = corpus.iter().map(String::as_str).collect();
    let want = golden_embeddings();
    let d = enc.dim();
    assert_eq!(want.len(), texts.len() * d);
    let got = enc.embed(&texts).unwrap();
    let (min, worst, mean) = cosine_stats(&got, &want, d);
    println!("cosine to sentence-transformers: min {min:.7} (text #{worst}), mean {mean:.7}");
    assert!(min >= 0.9999, "min cosine {min} at text #{worst} {:?}", corpus[worst]);
}

#[test]
fn a_text_alone_equals_the_same_text_in_a_padded_batch() {
    let enc = encoder();
    let corpus = golden_corpus();
    let texts: Vec<&str> = corpus.iter().map(String::as_str).collect();
    let d = enc.dim();
    let batched = enc.embed(&texts).unwrap();
    let mut min = f32::MAX;
    for (i, text) in texts.iter().enumerate() {
        let alone = enc.embed(&[text]).unwrap();
        let c = cosine(&alone, &batched[i * d..(i + 1) * d]);
        assert!(c >= 0.99999, "text #{i} {text:.40?}: cosine alone vs batch {c}");
        min = min.min(c);
    }
    println!("alone vs batched: min cosine {min:.7}");
}

#[test]
fn output_is_in_input_order_and_unit_norm() {
    let enc = encoder();
    let d = enc.dim();
    let a = enc.embed(&["a short one", "a much longer text about gardening and tomatoes", ""]).unwrap();
    let b = enc.embed(&["", "a much longer text about gardening and tomatoes", "a short one"]).unwrap();
    assert_eq!(a.len(), 3 * d);
    assert!(cosine(&a[..d], &b[2 * d..]) > 0.99999);
    assert!(cosine(&a[2 * d..], &b[..d]) > 0.99999);
    for row in a.chunks_exact(d) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
    }
    assert!(cosine(&a[..d], &a[d..2 * d]) < 0.9, "different texts must differ");
}
