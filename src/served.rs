//! The folder a page or a Worker serves (native only): `manifest.json` and the files it lists,
//! each cut into shards of at most [`MAX_SHARD_BYTES`] (Workers Static Assets refuse files over
//! 25 MiB) named by content. This is what `edgerec bundle` writes and what the npm package's
//! readers (`createRecommender({ manifest })`, `edgerec/cloudflare`) load; the repository's own
//! builds write the same schema (scripts/assets.mjs).
//!
//! ```text
//! manifest.json  { "format": 2, "shard_max_bytes": …, "edgerec_version": "0.1.0",
//!                  "catalog": Entry, "model": Entry | null, "catalog_id": …, "model_id": …, "items": …,
//!                  "lite": { "catalog": Entry, "model": Entry, "catalog_id": …, "model_id": …, "items": … } }
//! Entry          { "name": "movielens.bin", "bytes": …, "sha256": "<64 hex>",
//!                  "shards": [{ "url": "catalog/catalog-<sha256 prefix>.000", "bytes": …, "sha256": … }] }
//! ```
//! A file is its shards concatenated in order; urls are relative to the manifest. Without a
//! `wasm` entry the readers take the wasm builds from the package itself. `lite` (optional) is a
//! second pair: a lite model (`edgerec distill`) and the catalog it embedded, which
//! `createRecommender({ model: "lite" })` and a Worker with `EDGEREC_MODEL = "lite"` load instead.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::catalog::Catalog;
use crate::encoder::{self, Encoder};
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
    /// The lite pair, if the folder has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lite: Option<LiteVariant>,
}

/// The lite model and the catalog it embedded (a catalog is queried by the model that built it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiteVariant {
    /// The catalog bundle the lite model embedded.
    pub catalog: Entry,
    /// The lite model (`edgerec distill`).
    pub model: Entry,
    /// That catalog's content id.
    pub catalog_id: String,
    /// The lite model's id.
    pub model_id: String,
    /// Its items.
    pub items: usize,
}

/// What [`write()`] takes: the files, and how to cut them.
pub struct Files<'a> {
    /// The catalog bundle's bytes and file name.
    pub catalog: (&'a [u8], &'a str),
    /// The edge model's bytes and file name, if any.
    pub model: Option<(&'a [u8], &'a str)>,
    /// The lite pair, if any: its catalog's and its model's bytes and file names.
    pub lite: Option<[(&'a [u8], &'a str); 2]>,
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

/// The shard files a manifest this module wrote lists (only names of its own pattern, so a
/// hand-edited manifest cannot point the clean-up at other files).
/// An i/o error naming the path.
fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::Io(format!("{}: {e}", path.display()))
}

fn own_shards(m: &Manifest) -> Vec<String> {
    let own = |url: &str| {
        let Some((dir, file)) = url.split_once('/') else { return false };
        let Some(rest) = file.strip_prefix(dir).and_then(|r| r.strip_prefix('-')) else { return false };
        let Some((hash, index)) = rest.split_once('.') else { return false };
        matches!(dir, "catalog" | "model" | "lite-catalog" | "lite-model")
            && hash.len() == 16
            && hash.bytes().all(|b| b.is_ascii_hexdigit())
            && index.len() == 3
            && index.bytes().all(|b| b.is_ascii_digit())
    };
    let lite = m.lite.iter().flat_map(|l| [&l.catalog, &l.model]);
    m.model.iter().chain([&m.catalog]).chain(lite).flat_map(|e| &e.shards).map(|s| s.url.clone()).filter(|u| own(u)).collect()
}

/// Checks the files (a catalog bundle; an edge model, made by the model the catalog was embedded
/// with), then writes the shards and `out/manifest.json`. `out` must not exist or be empty; with
/// `force` it may hold an earlier `bundle`'s output (a `manifest.json` of this format): the new
/// manifest replaces it (written aside, then renamed), and only then are the earlier shards it
/// no longer lists deleted. Nothing else in `out` is touched; a folder without such a manifest is
/// refused even with `force`.
pub fn write(out: &Path, files: &Files, force: bool) -> Result<Manifest> {
    if !(1..=MAX_SHARD_BYTES).contains(&files.shard_bytes) {
        return Err(Error::InvalidInput(format!("shard size {} must be 1..={MAX_SHARD_BYTES} bytes", files.shard_bytes)));
    }
    let catalog = Catalog::from_bytes(files.catalog.0)?;
    let model_id = catalog.header().model_id.clone();
    if let Some((bytes, _)) = files.model {
        let encoder = encoder::from_bundle(bytes.to_vec())?;
        catalog.check_model(encoder.space_id())?;
    }
    // The lite pair: a lite model (not an int8 one), and a catalog it embedded.
    let lite = match files.lite {
        Some([(catalog_bytes, _), (model_bytes, _)]) => {
            let lite_catalog = Catalog::from_bytes(catalog_bytes)?;
            let lite_model = encoder::LiteEncoder::from_bytes(model_bytes.to_vec())?;
            lite_catalog.check_model(lite_model.space_id())?;
            Some((lite_catalog, lite_model))
        }
        None => None,
    };
    let manifest_path = out.join("manifest.json");
    let mut earlier: Vec<String> = Vec::new();
    if out.exists() {
        let empty = fs::read_dir(out).map_err(io(out))?.next().is_none();
        if !empty {
            let previous: Option<Manifest> = fs::read(&manifest_path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .filter(|m: &Manifest| m.format == MANIFEST_FORMAT);
            match previous {
                Some(m) if force => earlier = own_shards(&m),
                Some(_) => {
                    return Err(Error::OutputExists(format!("{} holds an earlier bundle (--force replaces it)", out.display())))
                }
                None => {
                    return Err(Error::OutputExists(format!(
                        "{} is not empty and holds no manifest.json of an earlier bundle: give an empty or new folder",
                        out.display()
                    )))
                }
            }
        }
    }
    fs::create_dir_all(out).map_err(io(out))?;
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        shard_max_bytes: files.shard_bytes,
        edgerec_version: env!("CARGO_PKG_VERSION").to_string(),
        catalog: write_shards(out, "catalog", files.catalog, files.shard_bytes)?,
        model: files.model.map(|m| write_shards(out, "model", m, files.shard_bytes)).transpose()?,
        catalog_id: catalog.catalog_id().to_string(),
        model_id,
        items: catalog.len(),
        lite: match (&lite, files.lite) {
            (Some((c, m)), Some([cf, mf])) => Some(LiteVariant {
                catalog: write_shards(out, "lite-catalog", cf, files.shard_bytes)?,
                model: write_shards(out, "lite-model", mf, files.shard_bytes)?,
                catalog_id: c.catalog_id().to_string(),
                model_id: m.model_id().to_string(),
                items: c.len(),
            }),
            _ => None,
        },
    };
    let json = serde_json::to_string_pretty(&manifest).map_err(|e| Error::Io(e.to_string()))? + "\n";
    let tmp = out.join(".manifest.json.tmp");
    fs::write(&tmp, json).map_err(io(&tmp))?;
    fs::rename(&tmp, &manifest_path).map_err(io(&manifest_path))?;
    let now = own_shards(&manifest);
    for url in earlier.iter().filter(|u| !now.contains(u)) {
        let _ = fs::remove_file(out.join(url)); // best effort: a stale shard harms nothing
    }
    for sub in ["catalog", "model", "lite-catalog", "lite-model"] {
        let _ = fs::remove_dir(out.join(sub)); // only if empty
    }
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
