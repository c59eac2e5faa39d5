//! `edgerec finetune` on a tiny synthetic catalog with the real model: training moves co-saved
//! items together, a checkpoint resumes to the very weights of an uninterrupted run, and every bad
//! input is a typed error that leaves nothing where a model is expected. Never a full training.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use edgerec::catalog::{BoardRecord, ItemRecord};
use edgerec::finetune::{self, FinetuneOptions};
use edgerec::{BertEncoder, Encoder, ModelFiles};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("edgerec-finetune-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const THEMES: [(&str, [&str; 8]); 6] = [
    ("kitchen", ["skillet", "whisk", "colander", "ladle", "spatula", "saucepan", "grater", "peeler"]),
    ("garden", ["trowel", "hose", "rake", "seed tray", "pruner", "watering can", "compost bin", "hoe"]),
    ("camping", ["tent", "sleeping bag", "lantern", "camp stove", "backpack", "hammock", "compass", "canteen"]),
    ("office", ["stapler", "desk lamp", "notebook", "binder", "monitor stand", "pen holder", "paper tray", "planner"]),
    ("bathroom", ["towel", "bath mat", "soap dish", "shower caddy", "toothbrush cup", "bath robe", "loofah", "razor"]),
    ("toys", ["puzzle", "teddy bear", "toy train", "kite", "yo-yo", "doll house", "spinning top", "marbles"]),
];
const ADJECTIVES: [&str; 3] = ["blue", "large", "classic"];

/// 6 themes × 8 things × 3 variants; every user saves one theme's items one after the other.
fn catalog() -> (Vec<ItemRecord>, Vec<BoardRecord>) {
    let mut items = Vec::new();
    for (theme, things) in THEMES {
        for (t, thing) in things.iter().enumerate() {
            for adj in ADJECTIVES {
                items.push(ItemRecord {
                    id: format!("{theme}-{t}-{adj}"),
                    title: format!("{adj} {thing}"),
                    description: String::new(),
                    tags: vec![],
                });
            }
        }
    }
    let mut boards = Vec::new();
    for u in 0..200 {
        let (theme, _) = THEMES[u % THEMES.len()];
        let ids = (0..6).map(|j| format!("{theme}-{}-{}", (u / 6 + j * 3) % 8, ADJECTIVES[(u + j) % 3])).collect();
        boards.push(BoardRecord { user: format!("u{u}"), board: "picks".into(), items: ids });
    }
    (items, boards)
}

fn texts(items: &[ItemRecord]) -> Vec<String> {
    items.iter().map(|it| it.text()).collect()
}

fn small(steps: usize) -> FinetuneOptions {
    FinetuneOptions { batch_size: 8, learning_rate: 1e-4, max_steps: Some(steps), checkpoint_every: 0, ..Default::default() }
}

fn no_progress() -> impl FnMut(usize, usize, f32) {
    |_, _, _| {}
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Mean cosine of co-saved pairs minus the mean cosine of items of different themes.
fn margin(enc: &BertEncoder, items: &[ItemRecord], pairs: &[(usize, usize)]) -> f32 {
    let t = texts(items);
    let refs: Vec<&str> = t.iter().map(String::as_str).collect();
    let v = enc.embed(&refs).unwrap();
    let d = enc.dim();
    let row = |i: usize| &v[i * d..(i + 1) * d];
    let together = pairs.iter().map(|&(a, b)| cosine(row(a), row(b))).sum::<f32>() / pairs.len() as f32;
    let per_theme = items.len() / THEMES.len();
    let apart: Vec<f32> = (0..items.len()).map(|i| cosine(row(i), row((i + per_theme) % items.len()))).collect();
    together - apart.iter().sum::<f32>() / apart.len() as f32
}

fn weights(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("model/model.safetensors")).unwrap()
}

#[test]
fn a_few_steps_lower_the_loss_and_pull_co_saved_items_together() {
    let (items, boards) = catalog();
    let pairs = finetune::mine_pairs(&items, &boards, 0).unwrap();
    let work = tmp("learns");
    let report =
        finetune::train(&model_dir(), &texts(&items), &pairs.pairs, &work, &small(10), false, &mut no_progress()).unwrap();
    assert_eq!(report.losses.len(), 10);
    assert!(report.losses.iter().all(|l| l.is_finite()));
    let head = report.losses[..3].iter().sum::<f32>() / 3.0;
    let tail = report.losses[7..].iter().sum::<f32>() / 3.0;
    assert!(tail < head, "the loss should fall: first steps {head}, last steps {tail} ({:?})", report.losses);

    let base = BertEncoder::from_dir(&model_dir()).unwrap();
    let tuned = BertEncoder::from_dir(&work.join("model")).unwrap();
    assert_ne!(base.model_id(), tuned.model_id(), "a tuned model gets its own id");
    let (before, after) = (margin(&base, &items, &pairs.pairs), margin(&tuned, &items, &pairs.pairs));
    assert!(after > before + 0.01, "co-saved items should move together: margin {before} → {after}");
    std::fs::remove_dir_all(&work).unwrap();
}

#[test]
fn a_resumed_run_reaches_the_weights_of_an_uninterrupted_one() {
    let (items, boards) = catalog();
    let pairs = finetune::mine_pairs(&items, &boards, 0).unwrap().pairs;
    let t = texts(&items);
    let straight = tmp("straight");
    finetune::train(&model_dir(), &t, &pairs, &straight, &small(4), false, &mut no_progress()).unwrap();

    let parted = tmp("parted");
    let first = FinetuneOptions { stop_after: Some(2), ..small(4) };
    let r = finetune::train(&model_dir(), &t, &pairs, &parted, &first, false, &mut no_progress()).unwrap();
    assert!(r.interrupted && r.losses.len() == 2);
    assert!(!parted.join("model").exists(), "an interrupted run writes no model");

    // A checkpoint of another run (other options) is refused before any training.
    let other = FinetuneOptions { seed: 7, ..small(4) };
    let err = finetune::train(&model_dir(), &t, &pairs, &parted, &other, true, &mut no_progress()).unwrap_err();
    assert_eq!(err.code(), "invalid_checkpoint", "{err}");

    let r = finetune::train(&model_dir(), &t, &pairs, &parted, &small(4), true, &mut no_progress()).unwrap();
    assert_eq!((r.resumed_at, r.losses.len()), (2, 2));
    assert!(weights(&straight) == weights(&parted), "resumed weights differ from the uninterrupted run's");
    for d in [straight, parted] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn a_corrupt_or_missing_checkpoint_is_a_typed_error() {
    let (items, boards) = catalog();
    let pairs = finetune::mine_pairs(&items, &boards, 0).unwrap().pairs;
    let t = texts(&items);
    let work = tmp("corrupt");
    let err = finetune::train(&model_dir(), &t, &pairs, &work, &small(4), true, &mut no_progress()).unwrap_err();
    assert_eq!(err.code(), "invalid_checkpoint", "nothing to resume: {err}");

    let first = FinetuneOptions { stop_after: Some(1), ..small(4) };
    finetune::train(&model_dir(), &t, &pairs, &work, &first, false, &mut no_progress()).unwrap();
    let path = work.join("checkpoint.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let err = finetune::train(&model_dir(), &t, &pairs, &work, &small(4), true, &mut no_progress()).unwrap_err();
    assert_eq!(err.code(), "invalid_checkpoint", "{err}");
    assert!(err.to_string().contains("corrupt"), "{err}");

    std::fs::write(work.join("checkpoint.json"), b"{not json").unwrap();
    let err = finetune::train(&model_dir(), &t, &pairs, &work, &small(4), true, &mut no_progress()).unwrap_err();
    assert_eq!(err.code(), "invalid_checkpoint", "{err}");
    std::fs::remove_dir_all(&work).unwrap();
}

#[test]
fn boards_without_pairs_and_folders_without_a_bert_model_are_refused() {
    let (items, _) = catalog();
    let singles = vec![
        BoardRecord { user: "u".into(), board: "b".into(), items: vec!["kitchen-0-blue".into()] },
        BoardRecord { user: "v".into(), board: "b".into(), items: vec!["nope".into(), "kitchen-1-blue".into(), "gone".into()] },
    ];
    let err = finetune::mine_pairs(&items, &singles, 0).unwrap_err();
    assert_eq!(err.code(), "invalid_input");
    assert!(err.to_string().contains("2 entries with ids not in items.jsonl"), "{err}");

    let pairs = [(0usize, 1usize)];
    let t = texts(&items);
    let not_bert = tmp("not-bert");
    std::fs::write(not_bert.join("config.json"), br#"{"model_type": "gpt2"}"#).unwrap();
    let err = finetune::train(&not_bert, &t, &pairs, &tmp("nb-work"), &small(1), false, &mut no_progress()).unwrap_err();
    assert_eq!(err.code(), "invalid_model", "{err}");
    let too_few = finetune::train(&model_dir(), &t, &pairs, &tmp("few"), &small(1), false, &mut no_progress()).unwrap_err();
    assert_eq!(too_few.code(), "invalid_input", "one pair makes no batch of 8: {too_few}");
}

#[test]
fn the_gate_keeps_vectors_that_rank_better_and_refuses_worse_ones() {
    let (items, boards) = catalog();
    let (context, targets) = finetune::gate_split(&boards, 0);
    assert!(!targets.is_empty());
    for t in &targets {
        assert!(
            context.iter().filter(|b| b.user == t.user).all(|b| !b.items.contains(&t.target)),
            "a held-out item must leave every board of its user"
        );
    }
    // Vectors that know the themes against vectors that do not.
    let d = THEMES.len();
    let mut informed = vec![0f32; items.len() * d];
    let mut blind = vec![0f32; items.len() * d];
    for (i, it) in items.iter().enumerate() {
        let theme = THEMES.iter().position(|(name, _)| it.id.starts_with(name)).unwrap();
        informed[i * d + theme] = 1.0;
        blind[i * d + (i * 7 + 3) % d] = 1.0;
    }
    let better = finetune::gate(&items, &context, &targets, (&blind, "blind"), (&informed, "informed"), d).unwrap();
    // One-hot theme vectors tie on similarity, which the full ranker may score lower: the rule
    // keeps them only if both numbers allow it.
    assert!(better.content.1 > better.content.0, "{better:?}");
    assert_eq!(better.keep, better.ranker.1 >= better.ranker.0, "{better:?}");
    let worse = finetune::gate(&items, &context, &targets, (&informed, "informed"), (&blind, "blind"), d).unwrap();
    assert!(!worse.keep, "{worse:?}");
}

fn write_dataset(dir: &Path) -> (PathBuf, PathBuf) {
    let (items, boards) = catalog();
    let lines = |v: Vec<String>| v.join("\n") + "\n";
    let items_path = dir.join("items.jsonl");
    let boards_path = dir.join("boards.jsonl");
    std::fs::write(&items_path, lines(items.iter().map(|i| serde_json::to_string(i).unwrap()).collect())).unwrap();
    std::fs::write(&boards_path, lines(boards.iter().map(|b| serde_json::to_string(b).unwrap()).collect())).unwrap();
    (items_path, boards_path)
}

fn finetune_cli(args: &[&str], cache: &Path) -> (i32, String) {
    let out = run_cli(env!("CARGO_BIN_EXE_edgerec"), args, &[("EDGEREC_CACHE_DIR", cache)], "");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn the_cli_refuses_a_broken_model_and_an_existing_out_leaving_nothing_behind() {
    let dir = tmp("cli");
    let (items, boards) = write_dataset(&dir);
    let (items, boards) = (items.to_str().unwrap(), boards.to_str().unwrap());
    let out = dir.join("tuned");
    let out_s = out.to_str().unwrap();
    let cache = dir.join("cache");

    // A learning rate of 5 (250,000 times the default) wrecks the model in a few steps: the gate
    // must see it.
    let run = ["finetune", "--items", items, "--boards", boards, "--out", out_s, "--batch-size", "8", "--max-steps", "6"];
    let (code, err) = finetune_cli(&[&run[..], &["--learning-rate", "5"]].concat(), &cache);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("error[gate_refused]"), "{err}");
    assert!(err.contains("content-only R@10 base"), "the gate prints both numbers: {err}");
    assert!(!out.exists() && !finetune::work_dir(&out).exists(), "nothing may be left behind");

    // A sound run on the same boards is kept: a model folder that loads, and no work left over.
    let (code, err) = finetune_cli(&[&run[..], &["--learning-rate", "1e-3"]].concat(), &cache);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("wrote"), "{err}");
    let tuned = BertEncoder::from_dir(&out).unwrap();
    assert_eq!(tuned.embed(&["blue tent"]).unwrap().len(), tuned.dim());
    assert!(!finetune::work_dir(&out).exists());
    // Its int8 bundle, exact channels re-calibrated on it, still matches its own f32 vectors.
    let bundle = edgerec::encoder::edge::quantize(&ModelFiles::from_dir(&out).unwrap(), Default::default()).unwrap();
    let edge = edgerec::EdgeEncoder::from_bytes(bundle).unwrap();
    let corpus = golden_corpus();
    let refs: Vec<&str> = corpus.iter().map(String::as_str).collect();
    let (f32s, int8s) = (tuned.embed(&refs).unwrap(), edge.embed(&refs).unwrap());
    let d = tuned.dim();
    let min = f32s.chunks_exact(d).zip(int8s.chunks_exact(d)).map(|(a, b)| cosine(a, b)).fold(1f32, f32::min);
    assert!(min >= 0.995, "the tuned model's int8 bundle: min cosine {min}");
    std::fs::remove_dir_all(&out).unwrap();

    std::fs::create_dir_all(&out).unwrap();
    let (code, err) = finetune_cli(&run, &cache);
    assert_ne!(code, 0);
    assert!(err.contains("error[output_exists]") && err.contains("--force"), "{err}");
    assert!(out.read_dir().unwrap().next().is_none(), "an existing --out is left as it was");

    let (code, err) = finetune_cli(&[&run[..], &["--resume"]].concat(), &cache);
    assert_ne!(code, 0);
    assert!(err.contains("error[output_exists]"), "--out is checked before anything else: {err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
