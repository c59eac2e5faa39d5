//! The `edgerec` command line: embed texts, build catalog bundles, evaluate on a dataset.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use edgerec::catalog::{self, BuildOptions};
use edgerec::encoder::edge::{self, QuantizeOptions};
use edgerec::eval::{self, Dataset, Methods, Scores, Split};
use edgerec::finetune::{self, FinetuneOptions};
use edgerec::rank::Knobs;
use edgerec::train::{self, FitOptions};
use edgerec::vector_cache::VectorCache;
use edgerec::{BertEncoder, EdgeEncoder, Encoder, Error, ModelFiles, Result};
use indicatif::{ProgressBar, ProgressStyle};

// candle allocates a fresh buffer for every tensor op; glibc hands large ones back to the kernel
// on free, and zeroing the new pages cost a fifth of a training step. mimalloc keeps them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "edgerec", version, about = "On-device recommendations from a small open text-embedding model")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum SplitArg {
    /// The dataset's held-out targets.
    Test,
    /// Each evaluated board's last context item instead (for tuning).
    Dev,
    /// Item cold start: a seeded 15% of the items leaves every context board; targets are the
    /// evaluated users' last such items.
    Cold,
}

#[derive(Subcommand)]
enum Command {
    /// Embed texts, one per line on stdin; writes raw little-endian f32 rows (n × dim).
    Embed {
        /// Model folder (config.json, tokenizer.json, model.safetensors, ...) or an edge model
        /// bundle file (`edgerec quantize`). Defaults to $EDGEREC_MODEL_DIR, then the folder
        /// scripts/fetch-model.sh fills.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Write the vectors here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Texts per forward pass (f32 model folders; an edge bundle batches by token budget).
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        /// Print the vectors as text (one line per input, first values and norm) instead of raw f32.
        #[arg(long)]
        preview: bool,
    },
    /// Quantize a model folder into an edge model bundle: int8 weights, one file (~23 MB for
    /// all-MiniLM-L6-v2), loadable in the browser and in a Worker.
    Quantize {
        /// The f32 model folder.
        model: PathBuf,
        /// Where to write the bundle.
        out: PathBuf,
        /// Input channels per layer multiplied exactly in f32 (the largest on calibration texts).
        #[arg(long, default_value_t = QuantizeOptions::default().exact_channels)]
        exact_channels: usize,
    },
    /// Distill a model folder into a lite model: a static student (each token's vector from the
    /// teacher, reduced by PCA and weighted by rarity), int8, one file of a few MB that embeds a
    /// text in microseconds. Any `--model` takes it; catalogs built with it need it for queries.
    Distill {
        /// The f32 model folder (the teacher).
        model: PathBuf,
        /// Where to write the lite bundle.
        out: PathBuf,
        /// PCA components kept (the vector length).
        #[arg(long, default_value_t = edgerec::encoder::lite::DistillOptions::default().dims)]
        dims: usize,
    },
    /// Build a catalog bundle from items.jsonl (and boards.jsonl for the co-saved, board-name
    /// and popularity tables).
    Index {
        /// items.jsonl: one {id, title, description, tags} per line.
        #[arg(long)]
        items: PathBuf,
        /// boards.jsonl: one {user, board, items: [ids]} per line.
        #[arg(long)]
        boards: Option<PathBuf>,
        /// Where to write the bundle.
        #[arg(long)]
        out: PathBuf,
        /// Model folder (as for `embed`).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Vector cache folder (default $EDGEREC_CACHE_DIR, else .cache/vectors in the repository).
        #[arg(long)]
        cache: Option<PathBuf>,
        /// Do not fit the ranker to the boards (the catalog then uses the built-in defaults).
        #[arg(long)]
        no_fit: bool,
        /// Embed only slice i of n (from 0) and write its vectors to `--out`: the embedding step
        /// split over processes or machines; a run with `--slices` builds the catalog from them.
        #[arg(long, value_name = "I/N", conflicts_with_all = ["boards", "slices", "no_fit"])]
        slice: Option<edgerec::slices::Slice>,
        /// Build the catalog from these vector slices (every `--slice i/n` of the same items and
        /// model, any order) instead of embedding: no model is loaded.
        #[arg(long, num_args = 1.., value_name = "FILE", conflicts_with = "model")]
        slices: Vec<PathBuf>,
        /// Cut the catalog into N shards: `--out` is then a folder of N shard bundles, their front
        /// and shards.json (a catalog too large for one Worker isolate, served by several).
        #[arg(long, value_name = "N")]
        shards: Option<usize>,
    },
    /// Cut a built catalog into N shards: a folder of N shard bundles, their front and
    /// shards.json (what `index --shards` writes), each shard answering for its items exactly
    /// as the whole catalog does.
    Shard {
        /// The catalog bundle (`edgerec index`).
        #[arg(long)]
        catalog: PathBuf,
        /// How many shards.
        #[arg(long)]
        shards: usize,
        /// The folder to write (new or empty).
        #[arg(long)]
        out: PathBuf,
    },
    /// Write the folder a page or a Worker serves: manifest.json plus the catalog (and the edge
    /// model) cut into content-named shards of at most 24 MiB. Point `createRecommender({ manifest })`
    /// at it, or a Worker's Static Assets directory (`edgerec/cloudflare`).
    Bundle {
        /// The catalog bundle (`edgerec index`).
        #[arg(long)]
        catalog: PathBuf,
        /// The int8 edge model (`edgerec quantize`); without it, pins must be catalog items.
        #[arg(long)]
        model: Option<PathBuf>,
        /// The folder to write.
        #[arg(long)]
        out: PathBuf,
        /// Replace an earlier `bundle` in `--out` (its manifest and the shards it listed; nothing else).
        #[arg(long)]
        force: bool,
        /// A lite model (`edgerec distill`) to serve beside the int8 one, with `--lite-catalog`:
        /// `createRecommender({ model: "lite" })` and `EDGEREC_MODEL = "lite"` load that pair.
        #[arg(long, requires = "lite_catalog")]
        lite_model: Option<PathBuf>,
        /// The catalog the lite model embedded (`edgerec index --model LITE`).
        #[arg(long, requires = "lite_model")]
        lite_catalog: Option<PathBuf>,
        /// Shard size in bytes (at most 24 MiB, the default).
        #[arg(long, default_value_t = edgerec::served::MAX_SHARD_BYTES)]
        shard_bytes: usize,
    },
    /// Recommend: a board context (JSON, as the wasm and Worker APIs take it) on stdin, the
    /// ranked items with scores and reasons (JSON) on stdout.
    Recommend {
        /// The catalog bundle (`edgerec index`), or a sharded catalog's folder (`--shards`).
        #[arg(long)]
        catalog: PathBuf,
        /// Model folder (as for `embed`); needed only for pins that are not catalog items.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Print a table for people instead of JSON.
        #[arg(long)]
        table: bool,
    },
    /// Fine-tune the model on the catalog's own boards (items saved one after the other embed
    /// close together); the tuned model folder is kept only if it ranks held-out users better.
    Finetune {
        /// items.jsonl: one {id, title, description, tags} per line.
        #[arg(long)]
        items: PathBuf,
        /// boards.jsonl: one {user, board, items: [ids]} per line.
        #[arg(long)]
        boards: PathBuf,
        /// The base model folder (as for `embed`; an f32 folder, not an edge bundle).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Where to write the tuned model folder (refused if it exists, unless --force).
        #[arg(long)]
        out: PathBuf,
        /// Replace --out if it exists.
        #[arg(long)]
        force: bool,
        /// Continue from the checkpoint in OUT.partial (same boards and options).
        #[arg(long)]
        resume: bool,
        /// How it trains.
        #[command(flatten)]
        options: FinetuneOptions,
        /// Vector cache folder (as for `index`).
        #[arg(long)]
        cache: Option<PathBuf>,
    },
    /// Evaluate on a dataset folder (items.jsonl, boards.jsonl, split.json): Recall@k and NDCG@k
    /// for popularity, the mean-embedding baseline and edgerec, in one run.
    Eval {
        /// The dataset folder.
        data: PathBuf,
        /// Write edgerec's ranked lists here (one {user, board, ranked} per line).
        #[arg(long)]
        run: Option<PathBuf>,
        /// test: the dataset's targets; dev: a tuning split that never sees them; cold: new items.
        #[arg(long, value_enum, default_value_t = SplitArg::Test)]
        split: SplitArg,
        /// Cut-off.
        #[arg(long, default_value_t = 10)]
        k: usize,
        /// Also evaluate edgerec with each signal switched off.
        #[arg(long)]
        ablation: bool,
        /// Ranking knobs as JSON (any fields of rank::Knobs), for tuning on --split dev; without
        /// it the ranker is fitted to the split's context boards, as `edgerec index` does.
        #[arg(long)]
        knobs: Option<String>,
        /// Catalog build options as JSON (any fields of catalog::BuildOptions), for tuning.
        #[arg(long)]
        build: Option<String>,
        /// Model folder (as for `embed`).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Vector cache folder (as for `index`).
        #[arg(long)]
        cache: Option<PathBuf>,
    },
}

fn bundle(
    catalog: &Path,
    model: Option<&Path>,
    lite: Option<[&Path; 2]>,
    out: &Path,
    force: bool,
    shard_bytes: usize,
) -> Result<()> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| Error::Io(format!("{}: {e}", p.display())));
    let name = |p: &Path| p.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let catalog_bytes = read(catalog)?;
    if model.is_some_and(Path::is_dir) {
        return Err(Error::InvalidInput(
            "--model must be an edge model file (`edgerec quantize` makes one), not a folder".into(),
        ));
    }
    let model_bytes = model.map(read).transpose()?;
    let (catalog_name, model_name) = (name(catalog), model.map(name).unwrap_or_default());
    let lite_bytes = lite.map(|[c, m]| Ok::<_, Error>([(read(c)?, name(c)), (read(m)?, name(m))])).transpose()?;
    let files = edgerec::served::Files {
        catalog: (&catalog_bytes, &catalog_name),
        model: model_bytes.as_deref().map(|b| (b, model_name.as_str())),
        lite: lite_bytes.as_ref().map(|[c, m]| [(c.0.as_slice(), c.1.as_str()), (m.0.as_slice(), m.1.as_str())]),
        shard_bytes,
    };
    let m = edgerec::served::write(out, &files, force)?;
    let line =
        |e: &edgerec::served::Entry| format!("{} bytes in {} shard(s), sha256 {}", e.bytes, e.shards.len(), &e.sha256[..16]);
    eprintln!("wrote {}/manifest.json: {} items, model {}", out.display(), m.items, m.model_id);
    eprintln!("  catalog  {}", line(&m.catalog));
    match &m.model {
        Some(e) => eprintln!("  model    {}", line(e)),
        None => eprintln!("  model    none (pins must be catalog items)"),
    }
    if let Some(l) = &m.lite {
        eprintln!("  lite     model {}: catalog {}; model {}", l.model_id, line(&l.catalog), line(&l.model));
    }
    Ok(())
}

/// `--model`, else `$EDGEREC_MODEL_DIR`, else the repository's model cache.
fn model_dir(arg: Option<PathBuf>) -> PathBuf {
    arg.or_else(|| std::env::var_os("EDGEREC_MODEL_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/models/all-MiniLM-L6-v2"))
}

fn cache_dir(arg: Option<PathBuf>) -> PathBuf {
    arg.or_else(|| std::env::var_os("EDGEREC_CACHE_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/vectors"))
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))
}

/// An f32 model folder, or a model bundle file (int8 edge or lite), whichever the path is.
fn load_encoder(model: Option<PathBuf>, batch_size: usize) -> Result<Box<dyn Encoder>> {
    let path = model_dir(model);
    if path.is_file() {
        let bytes = std::fs::read(&path).map_err(|e| Error::InvalidModel(format!("cannot read {}: {e}", path.display())))?;
        edgerec::encoder::from_bundle(bytes).map_err(|e| match e {
            Error::InvalidModel(m) => Error::InvalidModel(format!("{}: {m}", path.display())),
            e => e,
        })
    } else {
        let mut e = BertEncoder::from_dir(&path)?;
        e.set_batch_size(batch_size);
        Ok(Box::new(e))
    }
}

fn quantize(model: PathBuf, out: PathBuf, exact_channels: usize) -> Result<()> {
    let files = ModelFiles::from_dir(&model)?;
    let bytes = edge::quantize(&files, QuantizeOptions { exact_channels })?;
    std::fs::write(&out, &bytes).map_err(|e| Error::Io(format!("{}: {e}", out.display())))?;
    let enc = EdgeEncoder::from_bytes(bytes)?;
    eprintln!(
        "wrote {} ({} bytes, from {} bytes of f32 weights): model {} (source {})",
        out.display(),
        enc.bundle_bytes(),
        files.weights.len(),
        enc.model_id(),
        enc.space_id()
    );
    Ok(())
}

fn distill(model: PathBuf, out: PathBuf, dims: usize) -> Result<()> {
    let files = ModelFiles::from_dir(&model)?;
    let opts = edgerec::encoder::lite::DistillOptions { dims, ..Default::default() };
    let t0 = std::time::Instant::now();
    let bar = ProgressBar::new(0)
        .with_style(ProgressStyle::with_template("distilling {bar:40} {pos}/{len} tokens, eta {eta}").expect("valid template"));
    let logged = !std::io::stderr().is_terminal();
    let mut last_tenth = None;
    let report = edgerec::encoder::lite::distill(&files, &opts, &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        let tenth = done * 10 / total.max(1);
        if logged && last_tenth != Some(tenth) {
            last_tenth = Some(tenth);
            eprintln!("distilling {done}/{total} tokens, {:.0} s elapsed", t0.elapsed().as_secs_f64());
        }
    })?;
    bar.finish_and_clear();
    std::fs::write(&out, &report.bytes).map_err(|e| Error::Io(format!("{}: {e}", out.display())))?;
    let h = &report.header;
    eprintln!(
        "wrote {} ({} bytes) in {:.0} s: lite model {} ({} tokens × {} dims, {:.1}% of the teacher's token variance; teacher {})",
        out.display(),
        report.bytes.len(),
        t0.elapsed().as_secs_f64(),
        h.model_id,
        h.vocab_size,
        h.dim,
        100.0 * report.explained,
        h.teacher_model_id
    );
    Ok(())
}

fn embed(model: Option<PathBuf>, out: Option<PathBuf>, batch_size: usize, preview: bool) -> Result<()> {
    let encoder = load_encoder(model, batch_size)?;
    let lines: Vec<String> = std::io::stdin().lock().lines().collect::<std::io::Result<_>>()?;
    let d = encoder.dim();
    let mut vectors = Vec::with_capacity(lines.len() * d);
    // The encoder takes at most MAX_TEXTS_PER_CALL texts at a time.
    for chunk in lines.chunks(edgerec::encoder::MAX_TEXTS_PER_CALL) {
        let texts: Vec<&str> = chunk.iter().map(String::as_str).collect();
        vectors.extend(encoder.embed(&texts)?);
    }
    let mut sink: Box<dyn Write> = match &out {
        Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    if preview {
        writeln!(sink, "model {} (dim {d})", encoder.model_id())?;
        for (text, v) in lines.iter().zip(vectors.chunks_exact(d)) {
            let head: Vec<String> = v.iter().take(6).map(|x| format!("{x:+.4}")).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            writeln!(sink, "[{} …] |v|={norm:.4}  {text:?}", head.join(", "))?;
        }
        if lines.len() > 1 {
            writeln!(sink, "nearest neighbours (cosine):")?;
            let rows: Vec<&[f32]> = vectors.chunks_exact(d).collect();
            for (i, a) in rows.iter().enumerate() {
                let dot = |b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
                let (j, c) = (0..rows.len()).filter(|&j| j != i).map(|j| (j, dot(rows[j]))).fold((0, f32::MIN), |best, x| {
                    if x.1 > best.1 {
                        x
                    } else {
                        best
                    }
                });
                writeln!(sink, "  {:?} → {:?} ({c:.3})", lines[i], lines[j])?;
            }
        }
    } else {
        for x in &vectors {
            sink.write_all(&x.to_le_bytes())?;
        }
    }
    sink.flush()?;
    if out.is_some() {
        eprintln!("wrote {} vectors of dim {d}", lines.len());
    }
    Ok(())
}

/// Item vectors through the cache, with a progress bar for what must be embedded.
fn item_vectors(encoder: &dyn Encoder, items: &[catalog::ItemRecord], cache: &Path) -> Result<Vec<f32>> {
    let texts: Vec<String> = items.iter().map(|it| it.text()).collect();
    let mut cache = VectorCache::open(cache, encoder.model_id(), encoder.dim())?;
    let bar = ProgressBar::hidden();
    // The bar draws only on a terminal; a captured log gets a line per tenth of the texts instead.
    let logged = !std::io::stderr().is_terminal();
    let t0 = std::time::Instant::now();
    let mut last_tenth = None;
    // The batches are those of `index --slice` (which embeds whole ones), so that a slice's texts
    // share their batches with a one-process build's.
    let vectors = cache.embed(encoder, &texts, edgerec::slices::BATCH, |done, total| {
        let tenth = done * 10 / total.max(1);
        if logged && last_tenth != Some(tenth) {
            last_tenth = Some(tenth);
            let secs = t0.elapsed().as_secs_f64();
            eprintln!("embedding {done}/{total} texts, {secs:.0} s elapsed");
        }
        if bar.is_hidden() {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.set_length(total as u64);
            bar.set_style(
                ProgressStyle::with_template("embedding {bar:40} {pos}/{len} texts, {per_sec}, eta {eta}")
                    .expect("valid template"),
            );
        }
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    Ok(vectors)
}

/// `index --slice i/n`: embeds the slice's items and writes them as a vector slice.
fn index_slice(
    items: &Path,
    slice: edgerec::slices::Slice,
    out: &Path,
    model: Option<PathBuf>,
    cache: Option<PathBuf>,
) -> Result<()> {
    let items = catalog::read_items_jsonl(&read_text(items)?)?;
    let range = slice.items(items.len());
    let encoder = load_encoder(model, 32)?;
    let vectors = item_vectors(&*encoder, &items[range.clone()], &cache_dir(cache))?;
    let header = edgerec::slices::SliceHeader {
        index: slice.index,
        count: slice.count,
        items: items.len(),
        fingerprint: edgerec::slices::fingerprint(&items),
        model_id: encoder.model_id().to_string(),
        space_id: encoder.space_id().to_string(),
        dim: encoder.dim(),
        vectors: Default::default(),
    };
    let bytes = edgerec::slices::write(header, &vectors);
    std::fs::write(out, &bytes).map_err(|e| Error::Io(format!("{}: {e}", out.display())))?;
    eprintln!(
        "wrote {} ({} bytes): slice {}/{}, items {}..{} of {}, model {}",
        out.display(),
        bytes.len(),
        slice.index,
        slice.count,
        range.start,
        range.end,
        items.len(),
        encoder.model_id()
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn index(
    items: PathBuf,
    boards: Option<PathBuf>,
    out: PathBuf,
    model: Option<PathBuf>,
    cache: Option<PathBuf>,
    no_fit: bool,
    slices: &[PathBuf],
    shards: Option<usize>,
) -> Result<()> {
    // A set's folder is refused early, before the embedding and the fit take their time.
    if shards.is_some() && out.exists() && std::fs::read_dir(&out).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(Error::OutputExists(format!("{} is not empty: give a new or empty folder for the shards", out.display())));
    }
    let items = catalog::read_items_jsonl(&read_text(&items)?)?;
    let boards = match boards {
        Some(p) => catalog::read_boards_jsonl(&read_text(&p)?)?,
        None => Vec::new(),
    };
    // The vectors, and the embedding space and dimension the catalog records.
    let (vectors, space_id, dim) = if slices.is_empty() {
        let encoder = load_encoder(model, 32)?;
        (item_vectors(&*encoder, &items, &cache_dir(cache))?, encoder.space_id().to_string(), encoder.dim())
    } else {
        let parts = slices
            .iter()
            .map(|p| {
                let bytes = std::fs::read(p).map_err(|e| Error::Io(format!("{}: {e}", p.display())))?;
                edgerec::slices::read(&bytes).map_err(|e| Error::InvalidInput(format!("{}: {e}", p.display())))
            })
            .collect::<Result<Vec<_>>>()?;
        let (vectors, h) = edgerec::slices::merge(parts, items.len(), &edgerec::slices::fingerprint(&items))?;
        eprintln!("merged {} vector slices (model {})", h.count, h.model_id);
        (vectors, h.space_id, h.dim)
    };
    let n = items.len();
    let fit = (!no_fit).then(FitOptions::default);
    if fit.is_some() && !boards.is_empty() {
        eprintln!(
            "fitting the ranker to the catalog's boards ({} of them; self-supervised examples, about a minute for 10k items on 2 cores)",
            boards.len()
        );
    }
    let (catalog, report, fitted) =
        train::index(items, &vectors, dim, &boards, &space_id, &BuildOptions::default(), fit.as_ref())?;
    let bytes = catalog.to_bytes();
    match shards {
        Some(count) => write_set(&catalog, count, &out)?,
        None => std::fs::write(&out, &bytes).map_err(|e| Error::Io(format!("{}: {e}", out.display())))?,
    }
    eprintln!(
        "{}{} ({} bytes): {n} items, {} neighbour entries, {} board names, catalog {}{}",
        if shards.is_some() { "the whole catalog, as " } else { "wrote " },
        out.display(),
        bytes.len(),
        catalog.header().neighbours,
        catalog.names().names.len(),
        catalog.catalog_id(),
        if report.unknown_ids > 0 {
            format!("; skipped {} board entries with unknown ids", report.unknown_ids)
        } else {
            String::new()
        }
    );
    let parts = catalog.header().sections.bytes_by_part();
    let per_item = |b: usize| b as f64 / n.max(1) as f64;
    eprintln!(
        "bytes per item: {:.0} ({}; vectors {})",
        per_item(bytes.len()),
        parts.iter().map(|(name, b)| format!("{name} {:.0}", per_item(*b))).collect::<Vec<_>>().join(", "),
        catalog.header().vectors.name()
    );
    match fitted {
        None if boards.is_empty() => eprintln!("ranker: the built-in defaults (no boards to fit it on)"),
        None => eprintln!("ranker: the built-in defaults (--no-fit)"),
        Some(r) => eprintln!("{}", r.summary()),
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn evaluate(
    data: PathBuf,
    run: Option<PathBuf>,
    split: SplitArg,
    k: usize,
    ablation: bool,
    knobs: Option<String>,
    build: Option<String>,
    model: Option<PathBuf>,
    cache: Option<PathBuf>,
) -> Result<()> {
    let knobs: Option<Knobs> = match knobs {
        Some(j) => Some(serde_json::from_str(&j).map_err(|e| Error::InvalidInput(format!("--knobs: {e}")))?),
        None => None,
    };
    let build: BuildOptions = match build {
        Some(j) => serde_json::from_str(&j).map_err(|e| Error::InvalidInput(format!("--build: {e}")))?,
        None => BuildOptions::default(),
    };
    let ds = Dataset::load(&data)?;
    let encoder = load_encoder(model, 32)?;
    let vectors = item_vectors(&*encoder, &ds.items, &cache_dir(cache))?;
    // Dev pools three folds: three times the requests, so knob differences rise above noise.
    let splits = match split {
        SplitArg::Test => vec![Split::Test],
        SplitArg::Dev => vec![Split::Dev(1), Split::Dev(2), Split::Dev(3)],
        SplitArg::Cold => vec![Split::Cold(eval::COLD_SEED)],
    };
    let methods = Methods { knobs, ablation };
    let mut pooled: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    let mut lines = Vec::new();
    let mut ms = Vec::new();
    for &sp in &splits {
        let r = eval::evaluate_split(&ds, sp, &vectors, encoder.dim(), encoder.space_id(), k, &methods, &build)?;
        if let Some(f) = &r.fit {
            eprintln!("fit on this split's context boards: {}", f.summary());
        }
        for (i, (name, m)) in r.methods.into_iter().enumerate() {
            match pooled.get_mut(i) {
                Some(p) => p.1.extend(m),
                None => pooled.push((name, m)),
            }
        }
        lines.extend(r.lines);
        ms.push(r.ms_per_request);
    }
    println!(
        "dataset {} ({} split{}): {} requests, {} items, k = {k}",
        data.display(),
        match split {
            SplitArg::Test => "test",
            SplitArg::Dev => "dev",
            SplitArg::Cold => "cold",
        },
        if splits.len() > 1 { format!(", {} folds", splits.len()) } else { String::new() },
        pooled[0].1.len(),
        ds.items.len()
    );
    println!("| method | Recall@{k} | NDCG@{k} |");
    println!("| --- | ---: | ---: |");
    for (name, m) in &pooled {
        let s = Scores::mean(m);
        println!("| {name} | {:.4} | {:.4} |", s.recall, s.ndcg);
    }
    eprintln!("edgerec: {:.2} ms per request (native, with reasons)", ms.iter().sum::<f64>() / ms.len() as f64);
    if let Some(path) = run {
        let mut f =
            std::io::BufWriter::new(std::fs::File::create(&path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?);
        for l in &lines {
            serde_json::to_writer(&mut f, l).map_err(|e| Error::Io(e.to_string()))?;
            f.write_all(b"\n")?;
        }
        f.flush()?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn finetune_cmd(
    items: &Path,
    boards: &Path,
    model: Option<PathBuf>,
    out: &Path,
    force: bool,
    resume: bool,
    opts: &FinetuneOptions,
    cache: Option<PathBuf>,
) -> Result<()> {
    if out.exists() && !force {
        return Err(Error::OutputExists(format!("{} exists (pass --force to replace it)", out.display())));
    }
    let base_dir = model_dir(model);
    let items = catalog::read_items_jsonl(&read_text(items)?)?;
    let boards = catalog::read_boards_jsonl(&read_text(boards)?)?;
    // Held-out users first: training never sees their targets.
    let (context, targets) = finetune::gate_split(&boards, opts.seed);
    let pairs = finetune::mine_pairs(&items, &context, opts.seed)?;
    let texts: Vec<String> = items.iter().map(|it| it.text()).collect();
    let work = finetune::work_dir(out);
    if !resume && work.exists() {
        std::fs::remove_dir_all(&work).map_err(|e| Error::Io(format!("{}: {e}", work.display())))?;
    }
    eprintln!(
        "finetune: {} pairs from the boards (training on at most {}), {} held-out targets for the gate{}",
        pairs.pairs.len(),
        pairs.pairs.len().min(opts.max_pairs),
        targets.len(),
        if pairs.unknown_ids > 0 {
            format!("; skipped {} entries with ids not in items.jsonl", pairs.unknown_ids)
        } else {
            String::new()
        }
    );
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("training {bar:40} {pos}/{len} steps, loss {msg}, {elapsed} elapsed, eta {eta}")
            .expect("valid template"),
    );
    let t0 = std::time::Instant::now();
    // The bar draws only on a terminal; a captured log gets a line per tenth of the run instead.
    let logged = !std::io::stderr().is_terminal();
    let mut first_step = None;
    let report = finetune::train(&base_dir, &texts, &pairs.pairs, &work, opts, resume, &mut |done, total, loss| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        bar.set_message(format!("{loss:.4}"));
        first_step.get_or_insert(done);
        if logged && (done == 1 || done == total || done % (total / 10).max(1) == 0) {
            let secs = t0.elapsed().as_secs_f64();
            let run = done + 1 - *first_step.get_or_insert(done);
            let left = secs / run as f64 * (total - done) as f64;
            eprintln!("training step {done}/{total}, loss {loss:.4}, {secs:.0} s elapsed, eta {left:.0} s");
        }
    })?;
    bar.finish_and_clear();
    let mean = |l: &[f32]| l.iter().sum::<f32>() / l.len().max(1) as f32;
    let tenth = (report.losses.len() / 10).max(1);
    eprintln!(
        "trained steps {}..{} of {} in {:.1} s ({:.2} s/step): loss {:.4} → {:.4} (mean of the first and last tenth)",
        report.resumed_at,
        report.resumed_at + report.losses.len(),
        report.total_steps,
        t0.elapsed().as_secs_f64(),
        t0.elapsed().as_secs_f64() / report.losses.len().max(1) as f64,
        mean(&report.losses[..tenth.min(report.losses.len())]),
        mean(&report.losses[report.losses.len().saturating_sub(tenth)..]),
    );
    let tuned_dir = work.join("model");
    let base = BertEncoder::from_dir(&base_dir)?;
    let tuned = BertEncoder::from_dir(&tuned_dir)?;
    let cache = cache_dir(cache);
    let base_vectors = item_vectors(&base, &items, &cache)?;
    let tuned_vectors = item_vectors(&tuned, &items, &cache)?;
    let g = finetune::gate(
        &items,
        &context,
        &targets,
        (&base_vectors, base.space_id()),
        (&tuned_vectors, tuned.space_id()),
        base.dim(),
    )?;
    let numbers = format!(
        "held-out targets ({}): content-only R@10 base {:.4}, tuned {:.4} (standard error of the paired difference {:.4}); \
         full ranker (default knobs, no similar boards) R@10 base {:.4}, tuned {:.4} (±{:.4}); kept only if neither is lower and one gains \
         more than its standard error",
        g.targets, g.content.0, g.content.1, g.standard_error.0, g.ranker.0, g.ranker.1, g.standard_error.1
    );
    eprintln!("gate: {numbers}");
    if !g.keep {
        std::fs::remove_dir_all(&work).map_err(|e| Error::Io(format!("{}: {e}", work.display())))?;
        return Err(Error::GateRefused(format!(
            "the tuned model does not rank better than the base ({numbers}); nothing was written to {}",
            out.display()
        )));
    }
    if out.exists() {
        let remove = if out.is_dir() { std::fs::remove_dir_all(out) } else { std::fs::remove_file(out) };
        remove.map_err(|e| Error::Io(format!("{}: {e}", out.display())))?;
    }
    std::fs::rename(&tuned_dir, out).map_err(|e| Error::Io(format!("{}: {e}", out.display())))?;
    std::fs::remove_dir_all(&work).map_err(|e| Error::Io(format!("{}: {e}", work.display())))?;
    eprintln!("wrote {}: model {}", out.display(), tuned.model_id());
    Ok(())
}

fn shard(catalog: &Path, count: usize, out: &Path) -> Result<()> {
    let bytes = std::fs::read(catalog).map_err(|e| Error::Io(format!("{}: {e}", catalog.display())))?;
    let c = edgerec::catalog::Catalog::from_vec(bytes)?;
    write_set(&c, count, out)
}

/// Cuts `c` into `count` shards in `out` and says what it wrote.
fn write_set(c: &edgerec::catalog::Catalog, count: usize, out: &Path) -> Result<()> {
    let set = edgerec::catalog::shard::split(c, count)?;
    let m = edgerec::sets::write(out, &set)?;
    let sizes: Vec<String> = m.shards.iter().map(|s| format!("{} items {} bytes", s.items, s.file.bytes)).collect();
    eprintln!(
        "wrote {}/: {count} shards of set {} ({}), front {} bytes, shards.json",
        out.display(),
        m.set,
        sizes.join("; "),
        m.front.bytes
    );
    Ok(())
}

fn recommend(catalog: PathBuf, model: Option<PathBuf>, table: bool) -> Result<()> {
    let mut input = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut input)?;
    let ctx = edgerec::context::BoardContext::from_json(&input)?;
    let out = if edgerec::sets::is_set(&catalog) {
        // A sharded catalog's folder: the front and every shard in this process.
        let (front, shards) = edgerec::sets::load(&catalog)?;
        let encoder = if edgerec::rank::needs_encoder(front.whole(), &ctx) { Some(load_encoder(model, 32)?) } else { None };
        front.recommend(encoder.as_deref(), &ctx, &shards)?
    } else {
        let bytes = std::fs::read(&catalog).map_err(|e| Error::Io(format!("{}: {e}", catalog.display())))?;
        let ranker = edgerec::rank::Ranker::new(edgerec::catalog::Catalog::from_vec(bytes)?)?;
        // The model loads only when a pin needs it (most requests are catalog pins).
        let encoder = if ranker.needs_encoder(&ctx) { Some(load_encoder(model, 32)?) } else { None };
        ranker.recommend(encoder.as_deref(), &ctx)?
    };
    if table {
        print!("{}", results_table(&out));
    } else {
        println!("{}", serde_json::to_string_pretty(&out).map_err(|e| Error::Io(e.to_string()))?);
    }
    Ok(())
}

/// Widest title column of `recommend --table`, in terminal columns (longer titles end in "…").
const TITLE_COLUMNS: usize = 44;

/// `recommend --table`: one aligned row per result (titles cut to [`TITLE_COLUMNS`] terminal
/// columns, whatever their script), what the score means, and the pins that were ignored.
fn results_table(out: &edgerec::rank::Recommendations) -> String {
    use std::fmt::Write;
    use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
    let cut = |title: &str| -> String {
        if title.width() <= TITLE_COLUMNS {
            return title.to_string();
        }
        let mut s = String::new();
        let mut w = 0;
        for c in title.chars() {
            let cw = c.width().unwrap_or(0);
            if w + cw > TITLE_COLUMNS - 1 {
                break;
            }
            s.push(c);
            w += cw;
        }
        s + "…"
    };
    let titles: Vec<String> = out.items.iter().map(|it| cut(&it.title)).collect();
    let col = titles.iter().map(|t| t.width()).max().unwrap_or(0).max("title".len());
    let mut t = String::new();
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let _ = writeln!(
        t,
        "{} result{} ({} text pin{} embedded on the fly)",
        out.items.len(),
        plural(out.items.len()),
        out.embedded_texts,
        plural(out.embedded_texts)
    );
    if out.unknown_pins > 0 {
        let n = out.unknown_pins;
        let _ = writeln!(t, "{n} pin{} ignored: an id that is not in the catalog, and no text", plural(n));
    }
    if out.items.is_empty() {
        return t;
    }
    let pad = |s: &str| format!("{s}{}", " ".repeat(col - s.width()));
    let _ = writeln!(t, "{:>3}  {}  {:>6}  why", "#", pad("title"), "score");
    for (i, (it, title)) in out.items.iter().zip(&titles).enumerate() {
        let _ = writeln!(t, "{:>3}  {}  {:>6.2}  {}", i + 1, pad(title), it.score, it.reason.text);
    }
    let _ = writeln!(t, "score: the blended signals (z-scores); higher is better, comparable within this answer only");
    t
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Embed { model, out, batch_size, preview } => embed(model, out, batch_size, preview),
        Command::Quantize { model, out, exact_channels } => quantize(model, out, exact_channels),
        Command::Distill { model, out, dims } => distill(model, out, dims),
        // clap refuses --slice with --boards, --slices or --no-fit.
        Command::Index { items, out, model, cache, slice: Some(slice), .. } => index_slice(&items, slice, &out, model, cache),
        Command::Index { items, boards, out, model, cache, no_fit, slices, shards, .. } => {
            index(items, boards, out, model, cache, no_fit, &slices, shards)
        }
        Command::Bundle { catalog, model, out, force, shard_bytes, lite_model, lite_catalog } => {
            let lite = lite_catalog.as_deref().zip(lite_model.as_deref()).map(|(c, m)| [c, m]);
            bundle(&catalog, model.as_deref(), lite, &out, force, shard_bytes)
        }
        Command::Recommend { catalog, model, table } => recommend(catalog, model, table),
        Command::Shard { catalog, shards, out } => shard(&catalog, shards, &out),
        Command::Finetune { items, boards, model, out, force, resume, options, cache } => {
            finetune_cmd(&items, &boards, model, &out, force, resume, &options, cache)
        }
        Command::Eval { data, run, split, k, ablation, knobs, build, model, cache } => {
            evaluate(data, run, split, k, ablation, knobs, build, model, cache)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error[{}]: {e}", e.code());
            ExitCode::FAILURE
        }
    }
}
