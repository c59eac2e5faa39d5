//! A disk cache of item vectors keyed by model and text, so re-indexing or re-evaluating a
//! dataset does not re-embed it (native only).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::encoder::Encoder;
use crate::error::Result;

type Key = [u8; 16];

fn key(text: &str) -> Key {
    let d = Sha256::digest(text.as_bytes());
    d[..16].try_into().expect("16 bytes")
}

/// Vectors of one model, stored as `[16-byte text hash][dim × f32]` records in one file.
pub struct VectorCache {
    path: PathBuf,
    dim: usize,
    map: HashMap<Key, Vec<f32>>,
}

impl VectorCache {
    /// Opens (or starts) the cache file for `model_id` under `dir`.
    pub fn open(dir: &Path, model_id: &str, dim: usize) -> Result<Self> {
        let name: String = model_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        let path = dir.join(format!("{name}.vec"));
        let mut map = HashMap::new();
        if let Ok(bytes) = std::fs::read(&path) {
            let rec = 16 + dim * 4;
            let whole = bytes.len() / rec * rec;
            if whole != bytes.len() {
                // A torn last record (an interrupted run): cut it off, or every record appended
                // after it would be read at the wrong offset.
                std::fs::OpenOptions::new().write(true).open(&path)?.set_len(whole as u64)?;
            }
            for r in bytes[..whole].chunks_exact(rec) {
                let k: Key = r[..16].try_into().expect("16 bytes");
                let v = r[16..].chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4"))).collect();
                map.insert(k, v);
            }
        }
        Ok(Self { path, dim, map })
    }

    /// Vectors for `texts` (row-major), embedding only the ones not cached, `batch` at a time;
    /// `progress(done, total)` is called as texts are embedded.
    pub fn embed(
        &mut self,
        encoder: &dyn Encoder,
        texts: &[String],
        batch: usize,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Vec<f32>> {
        let keys: Vec<Key> = texts.iter().map(|t| key(t)).collect();
        let mut seen = std::collections::HashSet::new();
        let missing: Vec<usize> =
            (0..texts.len()).filter(|&i| !self.map.contains_key(&keys[i]) && seen.insert(keys[i])).collect();
        let total = missing.len();
        if total > 0 {
            if let Some(parent) = self.path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
            let mut done = 0;
            for chunk in missing.chunks(batch.max(1)) {
                let refs: Vec<&str> = chunk.iter().map(|&i| texts[i].as_str()).collect();
                let v = encoder.embed(&refs)?;
                let mut buf = Vec::with_capacity(chunk.len() * (16 + self.dim * 4));
                for (&i, row) in chunk.iter().zip(v.chunks_exact(self.dim)) {
                    buf.extend_from_slice(&keys[i]);
                    row.iter().for_each(|x| buf.extend_from_slice(&x.to_le_bytes()));
                    self.map.insert(keys[i], row.to_vec());
                }
                file.write_all(&buf)?;
                done += chunk.len();
                progress(done, total);
            }
        }
        let mut out = Vec::with_capacity(texts.len() * self.dim);
        for k in &keys {
            out.extend_from_slice(&self.map[k]);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in encoder: each text's vector is its length and bytes (no model needed).
    struct Fake;
    impl Encoder for Fake {
        fn dim(&self) -> usize {
            2
        }
        fn model_id(&self) -> &str {
            "fake"
        }
        fn tokenize(&self, _: &str) -> Result<Vec<u32>> {
            Ok(Vec::new())
        }
        fn max_seq_length(&self) -> usize {
            8
        }
        fn embed(&self, texts: &[&str]) -> Result<Vec<f32>> {
            Ok(texts.iter().flat_map(|t| [t.len() as f32, t.bytes().next().unwrap_or(0) as f32]).collect())
        }
    }

    #[test]
    fn a_torn_record_does_not_misalign_later_ones() {
        let dir = std::env::temp_dir().join(format!("edgerec-cache-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let texts = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<String>>();
        let mut c = VectorCache::open(&dir, "fake", 2).unwrap();
        let a = c.embed(&Fake, &texts(&["a", "bb"]), 8, |_, _| {}).unwrap();
        // An interrupted run leaves half a record behind.
        let file = dir.join("fake.vec");
        let mut f = std::fs::OpenOptions::new().append(true).open(&file).unwrap();
        f.write_all(&[7u8; 11]).unwrap();
        drop(f);
        let mut c = VectorCache::open(&dir, "fake", 2).unwrap();
        let b = c.embed(&Fake, &texts(&["ccc", "a"]), 8, |_, _| {}).unwrap();
        let again = VectorCache::open(&dir, "fake", 2).unwrap();
        assert_eq!(again.map.len(), 3, "every whole record reads back");
        let mut again = again;
        let all = again.embed(&Fake, &texts(&["a", "bb", "ccc"]), 8, |_, _| panic!("all cached")).unwrap();
        assert_eq!(&all[..4], &a[..]);
        assert_eq!(&all[4..], &b[..2]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
