//! A sharded catalog's folder (native only): what `edgerec index --shards N --out DIR` writes and
//! `edgerec recommend --catalog DIR` (and the Worker's build) reads.
//!
//! ```text
//! DIR/shards.json        { "format": 1, "set": …, "model_id": …, "items": …,
//!                          "front": File, "shards": [File + { "index", "start", "items", "catalog_id" }] }
//! DIR/front.edgerec      the front (catalog::shard::Front)
//! DIR/shard-000.edgerec  … one catalog bundle per shard
//! File = { "file": "shard-000.edgerec", "bytes": …, "sha256": "<64 hex>" }
//! ```

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::catalog::shard::{Front, Split};
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::rank::fanout::Shard;
use crate::rank::front::SetFront;

/// The layout of `shards.json` this build writes and reads.
pub const SET_FORMAT: u32 = 1;

/// A file of the folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetFile {
    /// Its name in the folder.
    pub file: String,
    /// Its length.
    pub bytes: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

/// A shard's entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetShard {
    /// Its number, from 0.
    pub index: usize,
    /// The whole catalog's index of its first item.
    pub start: usize,
    /// Its items.
    pub items: usize,
    /// Its bundle's content id.
    pub catalog_id: String,
    /// The file.
    #[serde(flatten)]
    pub file: SetFile,
}

/// `shards.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetManifest {
    /// [`SET_FORMAT`].
    pub format: u32,
    /// The whole catalog's content id (every file of the set carries it).
    pub set: String,
    /// The model that made the vectors.
    pub model_id: String,
    /// Items in the whole catalog.
    pub items: usize,
    /// The front file.
    pub front: SetFile,
    /// The shards, in order.
    pub shards: Vec<SetShard>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::Io(format!("{}: {e}", path.display()))
}

fn file(dir: &Path, name: String, bytes: &[u8]) -> Result<SetFile> {
    fs::write(dir.join(&name), bytes).map_err(io(&dir.join(&name)))?;
    let sha256 = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
    Ok(SetFile { file: name, bytes: bytes.len() as u64, sha256 })
}

/// Writes a set into `dir` (which must not exist, or be empty: `output_exists` otherwise).
pub fn write(dir: &Path, set: &Split) -> Result<SetManifest> {
    if dir.exists() && fs::read_dir(dir).map_err(io(dir))?.next().is_some() {
        return Err(Error::OutputExists(format!("{} is not empty: give a new or empty folder for the shards", dir.display())));
    }
    fs::create_dir_all(dir).map_err(io(dir))?;
    let front = Front::from_bytes(&set.front)?;
    let h = front.header();
    let shards = h
        .shards
        .iter()
        .zip(&set.shards)
        .map(|(s, bytes)| {
            Ok(SetShard {
                index: s.index,
                start: s.start,
                items: s.items,
                catalog_id: s.catalog_id.clone(),
                file: file(dir, format!("shard-{:03}.edgerec", s.index), bytes)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let manifest = SetManifest {
        format: SET_FORMAT,
        set: h.set.clone(),
        model_id: h.model_id.clone(),
        items: h.items,
        front: file(dir, "front.edgerec".into(), &set.front)?,
        shards,
    };
    let json = serde_json::to_string_pretty(&manifest).map_err(|e| Error::Io(e.to_string()))? + "\n";
    fs::write(dir.join("shards.json"), json).map_err(io(&dir.join("shards.json")))?;
    Ok(manifest)
}

/// Whether `dir` is a set's folder (has a `shards.json`).
pub fn is_set(dir: &Path) -> bool {
    dir.join("shards.json").is_file()
}

/// Loads a set's front and every shard, each checked against the front: a missing, foreign or
/// misplaced shard is an `invalid_catalog` error naming it.
pub fn load(dir: &Path) -> Result<(SetFront, Vec<Shard>)> {
    let text = fs::read_to_string(dir.join("shards.json")).map_err(io(&dir.join("shards.json")))?;
    let m: SetManifest =
        serde_json::from_str(&text).map_err(|e| Error::InvalidCatalog(format!("{}: {e}", dir.join("shards.json").display())))?;
    if m.format != SET_FORMAT {
        return Err(Error::InvalidCatalog(format!("shards.json format {}; this build reads {SET_FORMAT}", m.format)));
    }
    let read = |f: &SetFile| {
        fs::read(dir.join(&f.file)).map_err(|e| Error::InvalidCatalog(format!("{}: {e}", dir.join(&f.file).display())))
    };
    let front = SetFront::new(Front::from_bytes(&read(&m.front)?)?)?;
    if front.front().header().shards.len() != m.shards.len() {
        return Err(Error::InvalidCatalog(format!(
            "shards.json lists {} shards, the front {}",
            m.shards.len(),
            front.front().header().shards.len()
        )));
    }
    let shards = m
        .shards
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let c = Catalog::from_vec(read(&s.file)?)
                .map_err(|e| Error::InvalidCatalog(format!("{}: {e}", dir.join(&s.file.file).display())))?;
            let info = c.shard().ok_or_else(|| Error::InvalidCatalog(format!("{} is not a shard", s.file.file)))?;
            front.front().check_shard(i, info, c.catalog_id())?;
            Ok(Shard::new(c))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((front, shards))
}
