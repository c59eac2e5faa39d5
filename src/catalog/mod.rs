//! The catalog: items with display fields, their quantized vectors, a co-occurrence neighbour
//! table, a board-name table and a popularity prior, as one versioned bundle.
//!
//! Built natively by `edgerec index` ([`build`]), loaded anywhere from bytes ([`Catalog::from_bytes`]).

mod build;
pub mod format;
mod jsonl;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub use build::{build, BuildOptions, BuildReport};
pub use format::CatalogHeader;
pub use jsonl::{read_boards_jsonl, read_items_jsonl, BoardRecord};

use crate::error::{Error, Result};

/// Most items a catalog may hold (ids are stored as u32, and a bundle must fit in memory).
pub const MAX_ITEMS: usize = 2_000_000;

/// One catalog item: its id and what is shown to the user.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ItemRecord {
    /// Unique id.
    pub id: String,
    /// Title.
    #[serde(default)]
    pub title: String,
    /// Description (may be empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

impl ItemRecord {
    /// The text the encoder sees for this item (the same recipe as for free-text pins).
    pub fn text(&self) -> String {
        item_text(&self.title, &self.description, &self.tags)
    }
}

/// `"title. description. tag, tag"`, skipping empty parts: one recipe for items and pins, so a
/// free-text pin and the catalog item it describes land close together.
pub fn item_text(title: &str, description: &str, tags: &[String]) -> String {
    let tags: Vec<&str> = tags.iter().map(|t| t.trim()).filter(|t| !t.is_empty()).collect();
    let tags = tags.join(", ");
    [title.trim(), description.trim(), tags.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(". ")
}

/// Board names are matched after this: lower case, letters and digits only, single spaces.
pub fn normalize_name(name: &str) -> String {
    name.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Co-occurrence neighbours in CSR form: item `i`'s neighbours are
/// `items[offsets[i]..offsets[i+1]]` with the same range of `weights`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Neighbours {
    /// `n + 1` offsets.
    pub offsets: Vec<u32>,
    /// Neighbour item indices.
    pub items: Vec<u32>,
    /// Neighbour weights (larger = more often saved together).
    pub weights: Vec<f32>,
}

impl Neighbours {
    /// Item `i`'s neighbours and their weights.
    pub fn of(&self, i: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.offsets[i] as usize, self.offsets[i + 1] as usize);
        (&self.items[a..b], &self.weights[a..b])
    }
}

/// What boards with a given (normalised) name hold across all users: a sparse name → items map.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NameTable {
    /// Normalised names, sorted.
    pub names: Vec<String>,
    /// How many boards had each name.
    pub boards: Vec<u32>,
    /// `names.len() + 1` offsets into `items` / `weights`.
    pub offsets: Vec<u32>,
    /// Item indices.
    pub items: Vec<u32>,
    /// The share of that name's boards holding the item.
    pub weights: Vec<f32>,
}

impl NameTable {
    fn check(&self, n: usize) -> std::result::Result<(), String> {
        let k = self.names.len();
        if self.boards.len() != k || self.offsets.len() != k + 1 {
            return Err("names: table sizes disagree".into());
        }
        if self.offsets[0] != 0
            || self.offsets[k] as usize != self.items.len()
            || self.items.len() != self.weights.len()
            || self.offsets.windows(2).any(|w| w[0] > w[1])
        {
            return Err("names: offsets are not a valid index".into());
        }
        if self.items.iter().any(|&i| i as usize >= n) {
            return Err("names: an entry refers to an item that does not exist".into());
        }
        if self.weights.iter().any(|w| !w.is_finite()) || self.names.windows(2).any(|w| w[0] >= w[1]) {
            return Err("names: weights must be finite and names sorted and unique".into());
        }
        Ok(())
    }

    /// The items saved on other users' boards with this name (after normalisation).
    pub fn lookup(&self, name: &str) -> Option<(&[u32], &[f32])> {
        let key = normalize_name(name);
        let k = self.names.binary_search(&key).ok()?;
        let (a, b) = (self.offsets[k] as usize, self.offsets[k + 1] as usize);
        Some((&self.items[a..b], &self.weights[a..b]))
    }
}

/// A loaded catalog bundle.
#[derive(Debug, Clone)]
pub struct Catalog {
    header: CatalogHeader,
    catalog_id: String,
    items: Vec<ItemRecord>,
    index: HashMap<String, u32>,
    /// `n × dim` int8; vector `i` ≈ `vectors[i] × scales[i]`, of unit norm before quantization.
    vectors: Vec<i8>,
    scales: Vec<f32>,
    popularity: Vec<f32>,
    neighbours: Neighbours,
    names: NameTable,
    /// Sign bits of every vector (`words` u64 per item), for the coarse similarity pass.
    bits: Vec<u64>,
    words: usize,
}

/// The sign bits of a vector (bit set where the component is positive), packed in u64 words.
pub fn sign_bits(v: &[i8]) -> Vec<u64> {
    let mut out = vec![0u64; v.len().div_ceil(64)];
    for (i, &x) in v.iter().enumerate() {
        if x > 0 {
            out[i / 64] |= 1 << (i % 64);
        }
    }
    out
}

impl Catalog {
    #[allow(clippy::too_many_arguments)]
    fn assemble(
        header: CatalogHeader,
        catalog_id: String,
        items: Vec<ItemRecord>,
        vectors: Vec<i8>,
        scales: Vec<f32>,
        popularity: Vec<f32>,
        neighbours: Neighbours,
        names: NameTable,
    ) -> Result<Self> {
        if items.len() > MAX_ITEMS {
            return Err(Error::LimitExceeded { what: "catalog items".into(), actual: items.len(), limit: MAX_ITEMS });
        }
        let mut index = HashMap::with_capacity(items.len());
        for (i, it) in items.iter().enumerate() {
            if index.insert(it.id.clone(), i as u32).is_some() {
                return Err(Error::InvalidCatalog(format!("duplicate item id {:?}", it.id)));
            }
        }
        let words = header.dim.div_ceil(64);
        let bits = vectors.chunks_exact(header.dim.max(1)).flat_map(sign_bits).collect();
        Ok(Self { header, catalog_id, items, index, vectors, scales, popularity, neighbours, names, bits, words })
    }

    /// Parses and checks a bundle (see [`format`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        format::read(bytes)
    }

    /// Serialises the catalog as a bundle.
    pub fn to_bytes(&self) -> Vec<u8> {
        format::write(self)
    }

    /// Refuses an encoder other than the one that made the vectors.
    pub fn check_model(&self, encoder_model_id: &str) -> Result<()> {
        if self.header.model_id != encoder_model_id {
            return Err(Error::ModelMismatch {
                catalog: self.header.model_id.clone(),
                encoder: encoder_model_id.to_string(),
            });
        }
        Ok(())
    }

    /// The bundle's header.
    pub fn header(&self) -> &CatalogHeader {
        &self.header
    }
    /// A short content hash of the bundle (empty for a catalog not yet written).
    pub fn catalog_id(&self) -> &str {
        &self.catalog_id
    }
    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }
    /// True when the catalog has no items.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    /// Vector length.
    pub fn dim(&self) -> usize {
        self.header.dim
    }
    /// Item `i`.
    pub fn item(&self, i: usize) -> &ItemRecord {
        &self.items[i]
    }
    /// The index of the item with this id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.index.get(id).map(|&i| i as usize)
    }
    /// Item `i`'s quantized vector and its scale.
    pub fn vector(&self, i: usize) -> (&[i8], f32) {
        let d = self.header.dim;
        (&self.vectors[i * d..(i + 1) * d], self.scales[i])
    }
    /// Every item's sign bits, `dim.div_ceil(64)` words per item.
    pub fn all_bits(&self) -> &[u64] {
        &self.bits
    }
    /// Item `i`'s sign bits.
    pub fn bits(&self, i: usize) -> &[u64] {
        &self.bits[i * self.words..(i + 1) * self.words]
    }
    /// All quantized vectors, row-major, and the per-row scales.
    pub fn vectors(&self) -> (&[i8], &[f32]) {
        (&self.vectors, &self.scales)
    }
    /// Item `i`'s vector dequantized into `out`.
    pub fn vector_f32(&self, i: usize, out: &mut [f32]) {
        let (q, s) = self.vector(i);
        for (o, &x) in out.iter_mut().zip(q) {
            *o = x as f32 * s;
        }
    }
    /// How many users (or boards) saved each item.
    pub fn popularity(&self) -> &[f32] {
        &self.popularity
    }
    /// The co-occurrence neighbour table.
    pub fn neighbours(&self) -> &Neighbours {
        &self.neighbours
    }
    /// The board-name table.
    pub fn names(&self) -> &NameTable {
        &self.names
    }
}

/// Quantizes a vector to int8 with one scale (max |x| maps to 127).
pub fn quantize(v: &[f32], out: &mut [i8]) -> f32 {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    if max == 0.0 {
        out.fill(0);
        return 0.0;
    }
    let inv = 127.0 / max;
    for (o, x) in out.iter_mut().zip(v) {
        *o = (x * inv).round().clamp(-127.0, 127.0) as i8;
    }
    max / 127.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_text_skips_empty_parts() {
        assert_eq!(item_text("Toy Story", "", &["Animation".into(), " ".into(), "pixar".into()]), "Toy Story. Animation, pixar");
        assert_eq!(item_text("", "", &[]), "");
    }

    #[test]
    fn names_normalise() {
        assert_eq!(normalize_name("  Sci-Fi  FAVOURITES!! "), "sci fi favourites");
        assert_eq!(normalize_name("Café ☕"), "café");
    }

    #[test]
    fn quantize_round_trips_within_half_a_step() {
        let v = [0.5, -0.25, 0.0, 0.1];
        let mut q = [0i8; 4];
        let s = quantize(&v, &mut q);
        assert_eq!(q[0], 127);
        for (x, &y) in v.iter().zip(&q) {
            assert!((x - y as f32 * s).abs() <= s / 2.0 + 1e-7);
        }
    }
}
