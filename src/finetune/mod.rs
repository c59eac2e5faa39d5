//! The in-house model: the encoder fine-tuned on the catalog's own boards (native only).
//!
//! Items saved one after the other on a board are taken as pairs that should embed close
//! together, and the model is trained with in-batch negatives (MultipleNegativesRankingLoss:
//! cross-entropy over the scaled cosine similarities of a batch, each pair's partner the right
//! answer and the batch's other items the wrong ones), in both directions, since a co-save has no
//! direction. Every setting follows a fixed rule rather than a dataset: one pass over at most
//! [`FinetuneOptions::max_pairs`] pairs and at most [`FinetuneOptions::token_budget`] tokens
//! (which bounds the time whatever the texts' length), sentence-transformers' learning rate with a
//! tenth of the steps as warm-up, scale 20.
//!
//! Training is deterministic on one machine: seeded batches, no dropout, and candle's CPU kernels
//! give the same sums at the same thread count. A checkpoint holds the weights and the
//! optimizer's moments, so a resumed run reaches the same weights as one never stopped.
//!
//! A tuned model is only worth shipping where it ranks better: [`gate`] compares it with the base
//! on users the training never saw, and the CLI keeps it only when it wins.

mod adam;
mod model;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use candle_transformers::models::bert::Config;
use xxhash_rust::xxh3::xxh3_64;

use crate::catalog::{BoardRecord, ItemRecord};
use crate::encoder::{EncoderSettings, ModelFiles};
use crate::error::{Error, Result};
use crate::eval::{self, Dataset, Methods, Split, Target};
use crate::rank::Knobs;
use crate::train::unit_hash;
use adam::{AdamSettings, AdamW, Moments};
use model::{train_err, PackedBatch, Tensors, TrainableBert};

/// How a fine-tuning run trains.
/// Also the `edgerec finetune` flags (clap reads the doc comments as their help).
#[derive(Debug, Clone, clap::Args)]
pub struct FinetuneOptions {
    /// At most this many pairs, a seeded sample of the boards' (one pass over them).
    #[arg(long, default_value_t = FinetuneOptions::default().max_pairs)]
    pub max_pairs: usize,
    /// Pairs per step: the in-batch negatives of each pair are the other pairs' items.
    #[arg(long, default_value_t = FinetuneOptions::default().batch_size)]
    pub batch_size: usize,
    /// Peak learning rate (sentence-transformers' default), reached after the warm-up.
    #[arg(long, default_value_t = FinetuneOptions::default().learning_rate)]
    pub learning_rate: f64,
    /// Share of the steps spent warming the learning rate up from 0; it then falls linearly to 0.
    #[arg(long, default_value_t = FinetuneOptions::default().warmup_share)]
    pub warmup_share: f64,
    /// Cosine similarities are multiplied by this before the softmax (MNRL's scale).
    #[arg(long, default_value_t = FinetuneOptions::default().scale)]
    pub scale: f64,
    /// Texts are truncated to this many tokens while training (and to the model's own limit).
    #[arg(long, default_value_t = FinetuneOptions::default().max_tokens)]
    pub max_tokens: usize,
    /// At most this many tokens (both sides of every pair, summed over the steps) are trained
    /// on: the cost of a step grows with the length of the texts, and this bounds a run's time
    /// whatever the catalog's texts (20,000 pairs of 37-token texts; on 2 cores ~20 minutes).
    #[arg(long, default_value_t = FinetuneOptions::default().token_budget)]
    pub token_budget: usize,
    /// Seed of the pair sample, the batches and the held-out users.
    #[arg(long, default_value_t = FinetuneOptions::default().seed)]
    pub seed: u64,
    /// A checkpoint is written every this many steps.
    #[arg(long, default_value_t = FinetuneOptions::default().checkpoint_every)]
    pub checkpoint_every: usize,
    /// Caps the number of steps (the schedule is laid out over the capped count).
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Stops after this many steps with a checkpoint, as an interrupted run would (tests).
    #[arg(skip)]
    pub stop_after: Option<usize>,
}

impl Default for FinetuneOptions {
    fn default() -> Self {
        Self {
            max_pairs: 20_000,
            batch_size: 64,
            learning_rate: 2e-5,
            warmup_share: 0.1,
            scale: 20.0,
            max_tokens: 128,
            token_budget: 1_500_000,
            seed: 0,
            checkpoint_every: 50,
            max_steps: None,
            stop_after: None,
        }
    }
}

/// Item pairs mined from boards, as indices into the items.
#[derive(Debug, Clone)]
pub struct Pairs {
    /// Unordered pairs of distinct items saved one after the other on some board.
    pub pairs: Vec<(usize, usize)>,
    /// Board entries naming an id that `items.jsonl` lacks (skipped).
    pub unknown_ids: usize,
}

/// Consecutive co-saves on `boards`: every two items saved one after the other, deduplicated,
/// in a seeded order. An error when there is nothing to learn from.
pub fn mine_pairs(items: &[ItemRecord], boards: &[BoardRecord], seed: u64) -> Result<Pairs> {
    let index: HashMap<&str, usize> = items.iter().enumerate().map(|(i, it)| (it.id.as_str(), i)).collect();
    let mut unknown_ids = 0;
    let mut seen = HashSet::new();
    let mut pairs = Vec::new();
    for b in boards {
        let known: Vec<usize> = b
            .items
            .iter()
            .filter_map(|id| {
                let i = index.get(id.as_str()).copied();
                unknown_ids += usize::from(i.is_none());
                i
            })
            .collect();
        for w in known.windows(2) {
            let (a, c) = (w[0].min(w[1]), w[0].max(w[1]));
            if a != c && seen.insert((a, c)) {
                pairs.push((a, c));
            }
        }
    }
    if pairs.is_empty() {
        return Err(Error::InvalidInput(format!(
            "the boards yield no training pairs: fine-tuning needs boards with two catalog items saved one after the other \
             ({} boards, {unknown_ids} entries with ids not in items.jsonl)",
            boards.len()
        )));
    }
    let key =
        |p: &(usize, usize)| xxh3_64(&[seed.to_le_bytes(), (p.0 as u64).to_le_bytes(), (p.1 as u64).to_le_bytes()].concat());
    pairs.sort_by_key(key);
    Ok(Pairs { pairs, unknown_ids })
}

/// The gate's held-out users: a seeded fifth of the users (at most 2,000) with a board of two
/// items or more; each one's largest board gives up its last items (up to [`GATE_TARGETS`], and
/// always leaving one), each a target of its own, and they leave every board of that user (the
/// `eval --split dev` rule, its three folds at once). Returns the context boards (what training
/// may see) and the targets.
pub fn gate_split(boards: &[BoardRecord], seed: u64) -> (Vec<BoardRecord>, Vec<Target>) {
    let mut users: Vec<&str> = boards.iter().map(|b| b.user.as_str()).collect::<HashSet<_>>().into_iter().collect();
    users.retain(|u| unit_hash(seed ^ 0x9a7e, u) < 0.2);
    users.sort_by(|a, b| unit_hash(seed, a).total_cmp(&unit_hash(seed, b)).then(a.cmp(b)));
    let mut held: HashMap<&str, HashSet<&str>> = HashMap::new();
    let mut targets = Vec::new();
    for u in users.into_iter().take(2000) {
        let best = boards.iter().filter(|b| b.user == u && b.items.len() >= 2).max_by_key(|b| b.items.len());
        if let Some(b) = best {
            let n = GATE_TARGETS.min(b.items.len() - 1);
            for t in &b.items[b.items.len() - n..] {
                if held.entry(u).or_default().insert(t) {
                    targets.push(Target { user: u.to_string(), board: b.board.clone(), target: t.clone() });
                }
            }
        }
    }
    (crate::train::without_held(boards, &held), targets)
}

/// Held-out items per gate user: three, as the fitted ranker's examples hold out, since a small
/// catalog has few users and the gate's decision is a difference of a few hits.
pub const GATE_TARGETS: usize = 3;

/// Base and tuned scores on the held-out users, and the decision.
#[derive(Debug, Clone)]
pub struct GateReport {
    /// Recall@10 of the content-only ranking (the board's mean item vector, cosine): base, tuned.
    pub content: (f64, f64),
    /// Recall@10 of the full ranker (built-in default knobs, without the similar-boards signal):
    /// base, tuned.
    pub ranker: (f64, f64),
    /// Standard errors of the paired per-target differences (tuned − base): content, ranker.
    pub standard_error: (f64, f64),
    /// Held-out targets scored.
    pub targets: usize,
    /// The tuned model wins: neither ranking is lower, and one of them is higher by more than one
    /// standard error of the paired difference (a few hits either way are noise on a small
    /// catalog).
    pub keep: bool,
}

/// Mean and standard error of the paired differences `tuned[i] − base[i]`.
fn paired(base: &[(f64, f64)], tuned: &[(f64, f64)]) -> (f64, f64) {
    let d: Vec<f64> = base.iter().zip(tuned).map(|(b, t)| t.0 - b.0).collect();
    let n = d.len().max(1) as f64;
    let mean = d.iter().sum::<f64>() / n;
    let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, (var / n).sqrt())
}

/// Scores base and tuned item vectors on the held-out users of [`gate_split`].
pub fn gate(
    items: &[ItemRecord],
    context: &[BoardRecord],
    targets: &[Target],
    base: (&[f32], &str),
    tuned: (&[f32], &str),
    dim: usize,
) -> Result<GateReport> {
    let ds = Dataset { items: items.to_vec(), boards: context.to_vec(), targets: targets.to_vec() };
    // Default knobs rather than a fit per model: the gate asks which vectors rank better, and
    // the same knobs for both keep the comparison about the vectors. Without the similar-boards
    // signal, which reads no vector: on a catalog whose boards repeat one another it finds
    // nearly every target alone (0.98 Recall@10 on the tests' catalog) at weights not fitted to
    // either model, and the comparison would be about how loudly each model's similarity talks
    // over it; `edgerec index` fits the weights to the vectors it is given.
    let knobs = Knobs { w_similar_boards: 0.0, ..Knobs::default() };
    let methods = Methods { knobs: Some(knobs), ablation: false };
    // Per target, in the same order for both: (content-only, full ranker) recall and NDCG.
    let score = |(vectors, space): (&[f32], &str)| -> Result<[Vec<(f64, f64)>; 2]> {
        let r = eval::evaluate_split(&ds, Split::Test, vectors, dim, space, 10, &methods, &Default::default())?;
        let m = |i: usize| r.methods[i].1.iter().map(|s| (s.0, s.1)).collect();
        Ok([m(1), m(2)])
    };
    let (b, t) = (score(base)?, score(tuned)?);
    let mean = |v: &[(f64, f64)]| v.iter().map(|x| x.0).sum::<f64>() / v.len().max(1) as f64;
    let (dc, sc) = paired(&b[0], &t[0]);
    let (dr, sr) = paired(&b[1], &t[1]);
    Ok(GateReport {
        content: (mean(&b[0]), mean(&t[0])),
        ranker: (mean(&b[1]), mean(&t[1])),
        standard_error: (sc, sr),
        targets: targets.len(),
        keep: dc >= 0.0 && dr >= 0.0 && (dc > sc || dr > sr),
    })
}

/// What a training run did.
#[derive(Debug, Clone)]
pub struct TrainReport {
    /// The loss of every step this run took (a resumed run: the steps after the checkpoint).
    pub losses: Vec<f32>,
    /// The step the run started at (0, or the checkpoint's).
    pub resumed_at: usize,
    /// Steps of the whole schedule.
    pub total_steps: usize,
    /// The run stopped early at [`FinetuneOptions::stop_after`]; no model was written.
    pub interrupted: bool,
    /// Pairs trained on.
    pub pairs: usize,
}

/// A step's progress: (step done, total steps, its loss).
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize, f32);

/// The files beside the weights that a model folder keeps as they are.
const KEPT_FILES: [&str; 9] = [
    "config.json",
    "tokenizer.json",
    "1_Pooling/config.json",
    "sentence_bert_config.json",
    "modules.json",
    "config_sentence_transformers.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
];

const CHECKPOINT_WEIGHTS: &str = "checkpoint.safetensors";
const CHECKPOINT_STATE: &str = "checkpoint.json";

#[derive(serde::Serialize, serde::Deserialize)]
struct CheckpointState {
    version: u32,
    /// Steps done.
    step: usize,
    /// The run the checkpoint belongs to: the base model, the pairs and the options.
    run: String,
    /// XXH3-64 of the weights file, in hex.
    weights_xxh3: String,
}

fn checkpoint_err(e: impl std::fmt::Display) -> Error {
    Error::InvalidCheckpoint(e.to_string())
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Io(format!("{}: {e}", path.display()))
}

/// Trains the model in `model_dir` on `pairs` of `texts`. Checkpoints go to `work`; the tuned
/// model folder is written to `work/model` when the schedule completes. With `resume`, training
/// continues from the checkpoint in `work`, which must belong to the same run.
pub fn train(
    model_dir: &Path,
    texts: &[String],
    pairs: &[(usize, usize)],
    work: &Path,
    opts: &FinetuneOptions,
    resume: bool,
    progress: Progress,
) -> Result<TrainReport> {
    if opts.batch_size < 2 {
        return Err(Error::InvalidInput("--batch-size must be at least 2 (in-batch negatives need company)".into()));
    }
    if model_dir.is_file() {
        return Err(Error::InvalidModel(format!(
            "{} is a file: fine-tuning needs the f32 model folder (config.json, tokenizer.json, model.safetensors)",
            model_dir.display()
        )));
    }
    let files = ModelFiles::from_dir(model_dir)?;
    let cfg: Config = serde_json::from_slice(&files.config)
        .map_err(|e| Error::InvalidModel(format!("config.json is not a BERT config: {e}")))?;
    crate::encoder::validate_bert_config(&cfg)?;
    let settings =
        EncoderSettings::parse(files.pooling.as_deref(), files.sentence_config.as_deref(), cfg.max_position_embeddings)?;
    let max_len = settings.max_seq_length.min(opts.max_tokens).max(2);
    let tokenizer = crate::encoder::text::TextTokenizer::from_bytes(&files.tokenizer, max_len, cfg.vocab_size)?;
    let source: Tensors = candle_core::safetensors::load_buffer(&files.weights, &Device::Cpu)
        .map_err(|e| Error::InvalidModel(format!("model.safetensors: {e}")))?;
    let model = TrainableBert::new(&cfg, &source, settings.pooling)?;

    let pairs = &pairs[..pairs.len().min(opts.max_pairs)];
    let mut ids: HashMap<usize, Vec<u32>> = HashMap::new();
    for &(a, b) in pairs {
        for i in [a, b] {
            if let std::collections::hash_map::Entry::Vacant(e) = ids.entry(i) {
                e.insert(tokenizer.ids(&texts[i])?);
            }
        }
    }
    let batches = no_duplicate_batches(pairs, opts.batch_size);
    let mut trained_tokens = 0;
    let affordable = batches
        .iter()
        .take_while(|batch| {
            trained_tokens += batch.iter().map(|p| ids[&p.0].len() + ids[&p.1].len()).sum::<usize>();
            trained_tokens <= opts.token_budget
        })
        .count();
    let total = opts.max_steps.map_or(affordable, |m| m.min(affordable));
    if total == 0 {
        return Err(Error::InvalidInput(format!(
            "{} pairs make no batch of {} distinct items within the budget of {} tokens: fine-tuning needs more boards",
            pairs.len(),
            opts.batch_size,
            opts.token_budget
        )));
    }
    let run = run_id(&files, pairs, opts);
    let mut adam = AdamW::new(&model.vars, AdamSettings::default()).map_err(train_err)?;
    std::fs::create_dir_all(work).map_err(io_err(work))?;
    let resumed_at = if resume { load_checkpoint(work, &run, &model, &mut adam)? } else { 0 };
    if resumed_at > total {
        return Err(checkpoint_err(format!("the checkpoint is at step {resumed_at}, past the run's {total} steps")));
    }

    let warmup = (total as f64 * opts.warmup_share).ceil().max(1.0);
    let mut losses = Vec::new();
    for (step, batch) in batches.iter().enumerate().take(total).skip(resumed_at) {
        let lr = opts.learning_rate
            * if (step as f64) < warmup {
                (step + 1) as f64 / warmup
            } else {
                (total - step) as f64 / (total as f64 - warmup + 1.0)
            };
        let left: Vec<&[u32]> = batch.iter().map(|p| ids[&p.0].as_slice()).collect();
        let right: Vec<&[u32]> = batch.iter().map(|p| ids[&p.1].as_slice()).collect();
        let loss = (|| -> candle_core::Result<Tensor> {
            let a = model.embed(&PackedBatch::new(&left)?)?;
            let b = model.embed(&PackedBatch::new(&right)?)?;
            let logits = (a.matmul(&b.t()?)? * opts.scale)?;
            let labels = Tensor::arange(0u32, batch.len() as u32, &Device::Cpu)?;
            let forward = candle_nn::loss::cross_entropy(&logits, &labels)?;
            let backward = candle_nn::loss::cross_entropy(&logits.t()?.contiguous()?, &labels)?;
            (forward + backward)? / 2.0
        })()
        .map_err(train_err)?;
        let grads = loss.backward().map_err(train_err)?;
        adam.step(&model.vars, &grads, lr).map_err(train_err)?;
        let value = loss.to_scalar::<f32>().map_err(train_err)?;
        if !value.is_finite() {
            return Err(Error::Inference(format!("the loss is {value} at step {}: training diverged", step + 1)));
        }
        losses.push(value);
        progress(step + 1, total, value);
        let done = step + 1;
        let stop = opts.stop_after == Some(done);
        if stop || (opts.checkpoint_every > 0 && done % opts.checkpoint_every == 0 && done < total) {
            save_checkpoint(work, &run, done, &model, &adam)?;
        }
        if stop && done < total {
            return Ok(TrainReport { losses, resumed_at, total_steps: total, interrupted: true, pairs: pairs.len() });
        }
    }
    write_model(model_dir, &model.tensors(&source), &work.join("model"))?;
    Ok(TrainReport { losses, resumed_at, total_steps: total, interrupted: false, pairs: pairs.len() })
}

/// Batches of `size` pairs in which no item appears twice (a repeated item would be its own
/// negative); a pair that does not fit waits for the next batch. The last, short batch is
/// dropped.
fn no_duplicate_batches(pairs: &[(usize, usize)], size: usize) -> Vec<Vec<(usize, usize)>> {
    let mut batches = Vec::new();
    let mut waiting: std::collections::VecDeque<(usize, usize)> = pairs.iter().copied().collect();
    while waiting.len() >= size {
        let mut batch = Vec::with_capacity(size);
        let mut used = HashSet::new();
        let mut skipped = Vec::new();
        while batch.len() < size {
            let Some(p) = waiting.pop_front() else { break };
            if used.contains(&p.0) || used.contains(&p.1) {
                skipped.push(p);
            } else {
                used.extend([p.0, p.1]);
                batch.push(p);
            }
        }
        for p in skipped.into_iter().rev() {
            waiting.push_front(p);
        }
        if batch.len() < size {
            break;
        }
        batches.push(batch);
    }
    batches
}

fn run_id(files: &ModelFiles, pairs: &[(usize, usize)], opts: &FinetuneOptions) -> String {
    let mut bytes = Vec::new();
    bytes.extend(xxh3_64(&files.weights).to_le_bytes());
    bytes.extend(xxh3_64(&files.config).to_le_bytes());
    for &(a, b) in pairs {
        bytes.extend((a as u64).to_le_bytes());
        bytes.extend((b as u64).to_le_bytes());
    }
    let o = format!(
        "{} {} {} {} {} {} {} {} {:?}",
        opts.max_pairs,
        opts.batch_size,
        opts.learning_rate,
        opts.warmup_share,
        opts.scale,
        opts.max_tokens,
        opts.token_budget,
        opts.seed,
        opts.max_steps
    );
    bytes.extend(o.as_bytes());
    format!("{:016x}", xxh3_64(&bytes))
}

fn save_checkpoint(work: &Path, run: &str, step: usize, model: &TrainableBert, adam: &AdamW) -> Result<()> {
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    for ((name, var), mo) in model.vars.iter().zip(&adam.moments) {
        tensors.insert(format!("w.{name}"), var.as_tensor().clone());
        tensors.insert(format!("m.{name}"), mo.m.clone());
        tensors.insert(format!("v.{name}"), mo.v.clone());
    }
    // Weights first, the state file last: a state file names only a complete weights file.
    let tmp = work.join(format!("{CHECKPOINT_WEIGHTS}.tmp"));
    candle_core::safetensors::save(&tensors, &tmp).map_err(|e| Error::Io(format!("{}: {e}", tmp.display())))?;
    let bytes = std::fs::read(&tmp).map_err(io_err(&tmp))?;
    let state = CheckpointState { version: 1, step, run: run.to_string(), weights_xxh3: format!("{:016x}", xxh3_64(&bytes)) };
    std::fs::rename(&tmp, work.join(CHECKPOINT_WEIGHTS)).map_err(io_err(work))?;
    let state_tmp = work.join(format!("{CHECKPOINT_STATE}.tmp"));
    std::fs::write(&state_tmp, serde_json::to_vec_pretty(&state).expect("serialisable")).map_err(io_err(&state_tmp))?;
    std::fs::rename(&state_tmp, work.join(CHECKPOINT_STATE)).map_err(io_err(work))?;
    Ok(())
}

/// Restores weights and moments; returns the steps done.
fn load_checkpoint(work: &Path, run: &str, model: &TrainableBert, adam: &mut AdamW) -> Result<usize> {
    let state_path = work.join(CHECKPOINT_STATE);
    let state = std::fs::read(&state_path)
        .map_err(|e| checkpoint_err(format!("no checkpoint to resume at {}: {e}", state_path.display())))?;
    let state: CheckpointState =
        serde_json::from_slice(&state).map_err(|e| checkpoint_err(format!("{}: {e}", state_path.display())))?;
    if state.version != 1 {
        return Err(checkpoint_err(format!("checkpoint version {} (this build reads 1)", state.version)));
    }
    if state.run != run {
        return Err(checkpoint_err(
            "the checkpoint belongs to another run (other base model, boards or options): start again without --resume",
        ));
    }
    let path = work.join(CHECKPOINT_WEIGHTS);
    let bytes = std::fs::read(&path).map_err(|e| checkpoint_err(format!("{}: {e}", path.display())))?;
    if format!("{:016x}", xxh3_64(&bytes)) != state.weights_xxh3 {
        return Err(checkpoint_err(format!("{} is corrupt (checksum mismatch)", path.display())));
    }
    let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).map_err(checkpoint_err)?;
    let get = |key: String, like: &Tensor| -> Result<Tensor> {
        let t = tensors.get(&key).ok_or_else(|| checkpoint_err(format!("the checkpoint has no {key}")))?;
        if t.dims() != like.dims() {
            return Err(checkpoint_err(format!("{key} has shape {:?}, the model {:?}", t.dims(), like.dims())));
        }
        Ok(t.clone())
    };
    for ((name, var), mo) in model.vars.iter().zip(adam.moments.iter_mut()) {
        var.set(&get(format!("w.{name}"), var.as_tensor())?).map_err(train_err)?;
        *mo = Moments { m: get(format!("m.{name}"), var.as_tensor())?, v: get(format!("v.{name}"), var.as_tensor())? };
    }
    adam.t = state.step;
    Ok(state.step)
}

/// Writes a model folder: the source's files beside the weights, and `tensors` as
/// `model.safetensors`.
fn write_model(source: &Path, tensors: &Tensors, out: &Path) -> Result<()> {
    if out.exists() {
        std::fs::remove_dir_all(out).map_err(io_err(out))?;
    }
    for name in KEPT_FILES {
        let from = source.join(name);
        if from.is_file() {
            let to = out.join(name);
            std::fs::create_dir_all(to.parent().expect("inside out")).map_err(io_err(out))?;
            std::fs::copy(&from, &to).map_err(io_err(&to))?;
        }
    }
    let path = out.join("model.safetensors");
    candle_core::safetensors::save(tensors, &path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    Ok(())
}

/// Where a run's checkpoints and unfinished model live until the gate lets it through: beside
/// `out`, never at it, so nothing half-written sits where a model is expected.
pub fn work_dir(out: &Path) -> PathBuf {
    let mut name = out.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "model".into());
    name.push(".partial");
    out.with_file_name(name)
}
