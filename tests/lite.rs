//! The lite model (`edgerec distill`): a static student of the default model. Its size, how far
//! its similarities follow the teacher's, exact batch invariance, and typed refusals of bad
//! folders and bundles of the wrong kind.

mod common;

use std::sync::OnceLock;

use common::*;
use edgerec::catalog::{self, BoardRecord, BuildOptions, ItemRecord};
use edgerec::encoder::lite::{distill, DistillOptions, DistillReport};
use edgerec::{EdgeEncoder, Encoder, LiteEncoder, ModelFiles};

/// The default model distilled once per test binary (about a minute on 2 cores).
fn report() -> &'static DistillReport {
    static REPORT: OnceLock<DistillReport> = OnceLock::new();
    REPORT.get_or_init(|| {
        let files = ModelFiles::from_dir(&default_model_dir()).expect("the default model");
        distill(&files, &DistillOptions::default(), &mut |_, _| {}).expect("the default model distills")
    })
}

fn lite() -> &'static LiteEncoder {
    static ENC: OnceLock<LiteEncoder> = OnceLock::new();
    ENC.get_or_init(|| LiteEncoder::from_bytes(report().bytes.clone()).expect("the lite bundle loads"))
}

#[test]
fn the_bundle_is_under_8_mb_and_names_its_teacher() {
    let r = report();
    assert!(r.bytes.len() <= 8_000_000, "lite bundle is {} bytes", r.bytes.len());
    let enc = lite();
    assert_eq!(enc.dim(), DistillOptions::default().dims);
    assert_eq!(enc.header().vocab_size, 30_522);
    assert_eq!(enc.header().teacher_model_id, default_encoder().model_id());
    assert!(enc.model_id().starts_with("static-30522x"), "{}", enc.model_id());
    // Its own embedding space: a catalog built by it is not one the teacher can query.
    assert_eq!(enc.space_id(), enc.model_id());
    assert!(r.explained > 0.8 && r.explained <= 1.0, "explained variance {}", r.explained);
    println!("lite bundle: {} bytes, {:.1}% of the token variance", r.bytes.len(), 100.0 * r.explained);
}

/// Spearman's rank correlation of two equally long samples.
fn spearman(a: &[f32], b: &[f32]) -> f64 {
    let ranks = |x: &[f32]| {
        let mut idx: Vec<usize> = (0..x.len()).collect();
        idx.sort_by(|&i, &j| x[i].total_cmp(&x[j]));
        let mut r = vec![0f64; x.len()];
        for (rank, &i) in idx.iter().enumerate() {
            r[i] = rank as f64;
        }
        r
    };
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let mean = (n - 1.0) / 2.0;
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - mean) * (y - mean)).sum();
    let var: f64 = ra.iter().map(|x| (x - mean).powi(2)).sum();
    cov / var
}

#[test]
fn similarities_follow_the_teachers() {
    // Pairwise cosines of the golden corpus (texts of every kind) under the teacher's reference
    // vectors and the student's: the student orders pairs much as the teacher does.
    let corpus = golden_corpus();
    let texts: Vec<&str> = corpus.iter().map(String::as_str).collect();
    let student = lite().embed(&texts).unwrap();
    let teacher = golden_embeddings();
    let (ds, dt) = (lite().dim(), 384);
    let (mut s, mut t) = (Vec::new(), Vec::new());
    for i in 0..texts.len() {
        for j in (i + 1..texts.len()).step_by(3) {
            s.push(cosine(&student[i * ds..(i + 1) * ds], &student[j * ds..(j + 1) * ds]));
            t.push(cosine(&teacher[i * dt..(i + 1) * dt], &teacher[j * dt..(j + 1) * dt]));
        }
    }
    let rho = spearman(&s, &t);
    println!("lite vs teacher: Spearman {rho:.3} over {} pairs of the golden corpus", s.len());
    assert!(rho >= 0.38, "Spearman {rho}");
    // Retrieval: for each text, the teacher's nearest other text is among the student's top 5.
    let nearest = |v: &[f32], d: usize, i: usize, k: usize| {
        let mut by: Vec<(usize, f32)> =
            (0..texts.len()).filter(|&j| j != i).map(|j| (j, cosine(&v[i * d..(i + 1) * d], &v[j * d..(j + 1) * d]))).collect();
        by.sort_by(|a, b| b.1.total_cmp(&a.1));
        by.into_iter().take(k).map(|x| x.0).collect::<Vec<_>>()
    };
    let found = (0..texts.len()).filter(|&i| nearest(&student, ds, i, 5).contains(&nearest(&teacher, dt, i, 1)[0])).count();
    println!("teacher's nearest text in the student's top 5: {found} of {}", texts.len());
    assert!(found as f64 >= 0.5 * texts.len() as f64, "{found} of {}", texts.len());
}

#[test]
fn every_text_embeds_to_a_unit_vector_and_alone_as_in_a_batch() {
    let enc = lite();
    let corpus = golden_corpus();
    let mut texts: Vec<&str> = corpus.iter().map(String::as_str).collect();
    texts.extend(["", "   ", "\u{1F600}\u{1F600}", "[CLS] [SEP] [PAD]", "日本語のテキスト"]);
    let d = enc.dim();
    let all = enc.embed(&texts).unwrap();
    for (i, (t, v)) in texts.iter().zip(all.chunks_exact(d)).enumerate() {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "text #{i} {t:?}: norm {norm}");
        assert_eq!(enc.embed(&[t]).unwrap(), v, "text #{i}");
    }
    // Limits as every encoder checks them.
    let long = "x".repeat(edgerec::encoder::MAX_TEXT_BYTES + 1);
    assert_eq!(enc.embed(&["ok", &long]).unwrap_err().code(), "limit_exceeded");
    assert_eq!(enc.tokenize(&long).unwrap_err().code(), "limit_exceeded");
}

#[test]
fn bundles_of_the_wrong_kind_truncated_or_corrupt_are_typed_errors() {
    let bytes = &report().bytes;
    let err = |b: Vec<u8>| LiteEncoder::from_bytes(b).err().expect("must be refused");
    for cut in [0, 7, 20, 4096, bytes.len() / 2, bytes.len() - 1] {
        assert_eq!(err(bytes[..cut].to_vec()).code(), "invalid_model", "cut at {cut}");
    }
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 3] ^= 0x10;
    assert!(err(flipped).to_string().contains("checksum"));
    // The int8 edge model where a lite one is required, and the reverse: each names the other.
    let e = err(default_edge_bundle().to_vec());
    assert_eq!(e.code(), "invalid_model");
    assert!(e.to_string().contains("this file is an edgerec edge model"), "{e}");
    let e = EdgeEncoder::from_bytes(bytes.clone()).err().expect("a lite bundle is not an edge model");
    assert_eq!(e.code(), "invalid_model");
    assert!(e.to_string().contains("this file is an edgerec lite model"), "{e}");
    // Either kind through the one loader that takes both.
    assert_eq!(edgerec::encoder::from_bundle(bytes.clone()).unwrap().model_id(), lite().model_id());
    let e = edgerec::encoder::from_bundle(b"not a model at all".to_vec()).err().unwrap();
    assert_eq!(e.code(), "invalid_model");
}

#[test]
fn distill_refuses_a_folder_that_is_not_a_bert_model() {
    let dir = std::env::temp_dir().join(format!("edgerec-not-bert-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // No model at all.
    let e = ModelFiles::from_dir(&dir).err().expect("an empty folder is not a model");
    assert_eq!(e.code(), "invalid_model");
    // A GPT-2 config beside the default model's other files.
    let src = default_model_dir();
    for f in ["tokenizer.json", "model.safetensors"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    std::fs::write(dir.join("config.json"), br#"{"model_type": "gpt2", "vocab_size": 50257, "n_embd": 768}"#).unwrap();
    let files = ModelFiles::from_dir(&dir).unwrap();
    let e = distill(&files, &DistillOptions::default(), &mut |_, _| {}).expect_err("gpt2 is refused");
    assert_eq!(e.code(), "invalid_model", "{e}");
    // More components than the teacher has: refused before any work.
    let files = ModelFiles::from_dir(&src).unwrap();
    let e = distill(&files, &DistillOptions { dims: 385, ..Default::default() }, &mut |_, _| {}).err().unwrap();
    assert_eq!(e.code(), "invalid_input", "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_catalog_built_by_the_lite_model_is_queried_by_it_and_refuses_the_full_one() {
    let enc = lite();
    let items: Vec<ItemRecord> = ["space opera with aliens", "vegetarian pasta", "starship battle", "Italian recipes"]
        .iter()
        .enumerate()
        .map(|(i, t)| ItemRecord { id: i.to_string(), title: t.to_string(), ..Default::default() })
        .collect();
    let texts: Vec<String> = items.iter().map(|it| it.text()).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors = enc.embed(&refs).unwrap();
    let boards = vec![BoardRecord { user: "u".into(), board: "b".into(), items: vec!["0".into(), "2".into()] }];
    let (cat, _) =
        catalog::build(items, &vectors, enc.dim(), &boards, enc.space_id(), &BuildOptions::default()).expect("catalog builds");
    assert!(cat.check_model(enc.space_id()).is_ok());
    let full = default_edge_encoder();
    assert_eq!(cat.check_model(full.space_id()).unwrap_err().code(), "model_mismatch");
    let ranker = edgerec::rank::Ranker::new(cat).unwrap();
    let ctx =
        edgerec::context::BoardContext::from_json(r#"{"boards":[{"name":"dinner","pins":[{"title":"pasta with tomatoes"}]}]}"#)
            .unwrap();
    let out = ranker.recommend(Some(enc), &ctx).unwrap();
    assert_eq!(out.embedded_texts, 1);
    assert!(!out.items.is_empty());
}

/// A file `scripts/build-assets.sh` makes (the test command runs it before the native tests).
fn asset(name: &str) -> std::path::PathBuf {
    let path = repo().join(".cache/assets").join(name);
    assert!(path.exists(), "{} is missing: run scripts/build-assets.sh (scripts/test.sh does, first)", path.display());
    path
}

#[test]
fn the_cli_distills_the_same_bytes_and_bundles_the_lite_pair() {
    // `edgerec distill` (run by build-assets) and the library give byte-identical bundles: the
    // distillation is deterministic, so a catalog's recorded model id is reproducible.
    let cli = std::fs::read(asset("all-MiniLM-L6-v2.lite.edgerec")).unwrap();
    assert!(cli == report().bytes, "the CLI's lite bundle differs from the library's");
    // `bundle --lite-model --lite-catalog`: the pair beside the int8 one, in shards that
    // concatenate to the files; a pair of the wrong kind is refused.
    let d = std::env::temp_dir().join(format!("edgerec-lite-bundle-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    let (catalog, model) = (asset("movielens.bin"), asset("all-MiniLM-L6-v2.edgerec"));
    let (lite_catalog, lite_model) = (asset("movielens.lite.bin"), asset("all-MiniLM-L6-v2.lite.edgerec"));
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let run = |args: &[String]| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run_cli(env!("CARGO_BIN_EXE_edgerec"), &refs, &[], "")
    };
    let out = d.join("served");
    let base = ["bundle", "--catalog", &s(&catalog), "--model", &s(&model), "--out", &s(&out)].map(String::from).to_vec();
    let o =
        run(&[base.clone(), ["--lite-model", &s(&lite_model), "--lite-catalog", &s(&lite_catalog)].map(String::from).to_vec()]
            .concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    for (key, file) in [("catalog", &lite_catalog), ("model", &lite_model)] {
        let joined: Vec<u8> = manifest["lite"][key]["shards"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| std::fs::read(out.join(s["url"].as_str().unwrap())).unwrap())
            .collect();
        assert!(joined == std::fs::read(file).unwrap(), "lite.{key}");
    }
    assert_eq!(manifest["lite"]["model_id"].as_str().unwrap(), lite().model_id());
    assert_eq!(manifest["lite"]["items"], 9742);
    let force = ["--force"].map(String::from).to_vec();
    // The int8 model given as the lite one, and the lite model with the int8 catalog.
    let o = run(&[
        base.clone(),
        force.clone(),
        ["--lite-model", &s(&model), "--lite-catalog", &s(&lite_catalog)].map(String::from).to_vec(),
    ]
    .concat());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("error[invalid_model]") && err.contains("this file is an edgerec edge model"), "{err}");
    let o =
        run(&[base.clone(), force, ["--lite-model", &s(&lite_model), "--lite-catalog", &s(&catalog)].map(String::from).to_vec()]
            .concat());
    assert!(String::from_utf8_lossy(&o.stderr).contains("error[model_mismatch]"), "{}", String::from_utf8_lossy(&o.stderr));
    // A folder that is not a model: a typed error before any work.
    let o = run(&["distill".into(), s(&d), s(&d.join("x.edgerec"))]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("error[invalid_model]"), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::remove_dir_all(&d).unwrap();
}
