//! The folder a page or a Worker serves (native only): `manifest.json` and the files it lists,
//! each cut into shards of at most [`MAX_SHARD_BYTES`] (Workers Static Assets refuse files over
//! 25 MiB) named by content. This is what `edgerec bundle` writes and what the npm package's
//! readers (`createRecommender({ manifest })`, `edgerec/cloudflare`) load; the repository's own
//! builds write the same schema (scripts/assets.mjs).
//!
//! ```text
//! manifest.json  { "format": 2, "shard_max_bytes": …, "edgerec_version": "0.1.0",
//!                  "catalog": Entry, "model": Entry | null, "catalog_id": …, "model_id": …, "items": … }
//! Entry          { "name": "movielens.bin", "bytes": …, "sha256": "<64 hex>",
//!                  "shards": [{ "url": "catalog/catalog-<sha256 prefix>.000", "bytes": …, "sha256": … }] }
//! ```
//! A file is its shards concatenated in order; urls are relative to the manifest. Without a
//! `wasm` entry the readers take the wasm builds from the package itself.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::catalog::Catalog;
use crate::encoder::{EdgeEncoder, Encoder};
use crate::error::{Error, Result};

/// The manifest layout written (and read by the package's loaders).
pub const MANIFEST_FORMAT: u32 = 2;

/// The largest shard: 1 MiB under Workers Static Assets' 25 MiB per file.
pub const MAX_SHARD_BYTES: usize = 24 * 1024 * 1024;

/// One piece of a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shard {
    /// Relative to the manifest.
    pub url: String,
    /// Its length.
    pub bytes: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

/// A file of the folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The file's name where it was made (for people).
    pub name: String,
    /// Its length.
    pub bytes: u64,
    /// SHA-256 of the whole file (the browser caches it under this).
    pub sha256: String,
    /// The file's shards, in order.
    pub shards: Vec<Shard>,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: u32,
    /// The largest shard size used.
    pub shard_max_bytes: usize,
    /// The version of edgerec that wrote it.
    pub edgerec_version: String,
    /// The catalog bundle (`edgerec index`).
    pub catalog: Entry,
    /// The int8 edge model (`edgerec quantize`); `null`: catalog pins only.
    pub model: Option<Entry>,
    /// The catalog's content id (for people and caches).
    pub catalog_id: String,
    /// The model the catalog was embedded with.
    pub model_id: String,
    /// Catalog items.
    pub items: usize,
}

/// What [`write`] takes: the files, and how to cut them.
pub struct Files<'a> {
    /// The catalog bundle's bytes and file name.
    pub catalog: (&'a [u8], &'a str),
    /// The edge model's bytes and file name, if any.
    pub model: Option<(&'a [u8], &'a str)>,
    /// Shard size, 1..=[`MAX_SHARD_BYTES`].
    pub shard_bytes: usize,
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `bytes` as shards `dir/prefix/prefix-<sha256 prefix>.NNN` (content-addressed: a CDN or
/// a browser cache can never take a shard of another build for one of this build).
fn write_shards(dir: &Path, prefix: &str, (bytes, name): (&[u8], &str), shard_bytes: usize) -> Result<Entry> {
    let sha256 = hex_sha256(bytes);
    fs::create_dir_all(dir.join(prefix)).map_err(|e| Error::Io(format!("{}: {e}", dir.join(prefix).display())))?;
    let shards = bytes
        .chunks(shard_bytes)
        .enumerate()
        .map(|(i, chunk)| {
            let url = format!("{prefix}/{prefix}-{}.{i:03}", &sha256[..16]);
            let path = dir.join(&url);
            fs::write(&path, chunk).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
            Ok(Shard { url, bytes: chunk.len() as u64, sha256: hex_sha256(chunk) })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Entry { name: name.to_string(), bytes: bytes.len() as u64, sha256, shards })
}

/// Checks the files (a catalog bundle; an edge model, made by the model the catalog was embedded
/// with), then writes `out/manifest.json` and the shards. `out` must not exist or be empty,
/// unless `force` (then the previous `catalog/`, `model/` and manifest are replaced).
pub fn write(out: &Path, files: &Files, force: bool) -> Result<Manifest> {
    if !(1..=MAX_SHARD_BYTES).contains(&files.shard_bytes) {
        return Err(Error::InvalidInput(format!("shard size {} must be 1..={MAX_SHARD_BYTES} bytes", files.shard_bytes)));
    }
    let catalog = Catalog::from_bytes(files.catalog.0)?;
    let model_id = catalog.header().model_id.clone();
    if let Some((bytes, _)) = files.model {
        let encoder = EdgeEncoder::from_bytes(bytes.to_vec())?;
        catalog.check_model(encoder.space_id())?;
    }
    let io = |e: std::io::Error| Error::Io(format!("{}: {e}", out.display()));
    if out.exists() {
        let empty = fs::read_dir(out).map_err(io)?.next().is_none();
        if !empty && !force {
            return Err(Error::OutputExists(format!(
                "{} is not empty (--force replaces what bundle wrote there)",
                out.display()
            )));
        }
        for sub in ["catalog", "model"] {
            if out.join(sub).is_dir() {
                fs::remove_dir_all(out.join(sub)).map_err(io)?;
            }
        }
    }
    fs::create_dir_all(out).map_err(io)?;
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        shard_max_bytes: files.shard_bytes,
        edgerec_version: env!("CARGO_PKG_VERSION").to_string(),
        catalog: write_shards(out, "catalog", files.catalog, files.shard_bytes)?,
        model: files.model.map(|m| write_shards(out, "model", m, files.shard_bytes)).transpose()?,
        catalog_id: catalog.catalog_id().to_string(),
        model_id,
        items: catalog.len(),
    };
    let json = serde_json::to_string_pretty(&manifest).map_err(|e| Error::Io(e.to_string()))? + "\n";
    fs::write(out.join("manifest.json"), json).map_err(io)?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_concatenate_to_the_file_and_are_named_by_its_hash() {
        let dir = std::env::temp_dir().join(format!("edgerec-served-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let bytes: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let e = write_shards(&dir, "model", (&bytes, "m.edgerec"), 300).unwrap();
        assert_eq!(e.shards.len(), 4);
        assert_eq!(e.shards.iter().map(|s| s.bytes).collect::<Vec<_>>(), vec![300, 300, 300, 100]);
        let mut joined = Vec::new();
        for s in &e.shards {
            assert!(s.url.starts_with(&format!("model/model-{}.", &e.sha256[..16])), "{}", s.url);
            let part = fs::read(dir.join(&s.url)).unwrap();
            assert_eq!(hex_sha256(&part), s.sha256);
            joined.extend(part);
        }
        assert_eq!(joined, bytes);
        assert_eq!(e.sha256, hex_sha256(&bytes));
        // The well-known digest of "abc": the hex is right, not just self-consistent.
        assert_eq!(hex_sha256(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        fs::remove_dir_all(&dir).unwrap();
    }
}
