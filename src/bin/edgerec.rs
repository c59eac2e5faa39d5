//! The `edgerec` command line: embed texts (and, later, quantize models, build catalogs, evaluate).

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use edgerec::{BertEncoder, Encoder, Error, Result};

#[derive(Parser)]
#[command(name = "edgerec", version, about = "On-device recommendations from a small open text-embedding model")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Embed texts, one per line on stdin; writes raw little-endian f32 rows (n × dim).
    Embed {
        /// Model folder (config.json, tokenizer.json, model.safetensors, ...).
        /// Defaults to $EDGEREC_MODEL_DIR, then the folder scripts/fetch-model.sh fills.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Write the vectors here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Texts per forward pass.
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        /// Print the vectors as text (one line per input, first values and norm) instead of raw f32.
        #[arg(long)]
        preview: bool,
    },
}

/// `--model`, else `$EDGEREC_MODEL_DIR`, else the repository's model cache.
fn model_dir(arg: Option<PathBuf>) -> PathBuf {
    arg.or_else(|| std::env::var_os("EDGEREC_MODEL_DIR").map(PathBuf::from))
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/models/all-MiniLM-L6-v2")
        })
}

fn embed(model: Option<PathBuf>, out: Option<PathBuf>, batch_size: usize, preview: bool) -> Result<()> {
    let dir = model_dir(model);
    let mut encoder = BertEncoder::from_dir(&dir)?;
    encoder.set_batch_size(batch_size);
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
                let (j, c) = (0..rows.len())
                    .filter(|&j| j != i)
                    .map(|j| (j, dot(rows[j])))
                    .fold((0, f32::MIN), |best, x| if x.1 > best.1 { x } else { best });
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Embed { model, out, batch_size, preview } => embed(model, out, batch_size, preview),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            ExitCode::FAILURE
        }
    }
}

fn report(e: &Error) {
    eprintln!("error[{}]: {e}", e.code());
}
