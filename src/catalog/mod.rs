//! The catalog: items with display fields, their quantized vectors, a co-occurrence neighbour
//! table, a board-name table and a popularity prior, as one versioned bundle.
//!
//! Built natively by `edgerec index` ([`build`]), loaded anywhere from bytes ([`Catalog::from_bytes`]).

mod boards;
mod build;
pub mod format;
mod items;
mod jsonl;
mod neighbours;
pub mod shard;
mod vectors;

use serde::{Deserialize, Serialize};

pub use boards::BoardTable;
pub use build::{build, BuildOptions, BuildReport};
pub use format::FORMAT_VERSION;
pub use format::{CatalogHeader, ShardInfo};
pub use items::ItemTable;
pub use jsonl::{read_boards_jsonl, read_items_jsonl, BoardRecord};
pub use neighbours::{NeighbourIter, NeighbourLists, Neighbours};
pub use vectors::{levels_cosine, QueryVector, VectorBits, VectorCoding, Vectors};

use crate::bundle::f32_at;
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
    [title.trim(), description.trim(), tags.as_str()].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(". ")
}

/// Board names are matched after this: lower case, letters and digits only, single spaces.
pub fn normalize_name(name: &str) -> String {
    name.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
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

/// A loaded catalog bundle. The bundle's bytes are kept as they are and the vectors and the
/// neighbour table are read in place, so the big sections exist once in memory; only the display
/// fields and the id index (an [`ItemTable`]), the name table, the sign bits and the scales as
/// f32 (8 bytes an item) are built at load.
#[derive(Debug, Clone)]
pub struct Catalog {
    bytes: Vec<u8>,
    header: CatalogHeader,
    catalog_id: String,
    items: ItemTable,
    names: NameTable,
    /// The boards (empty for a shard, or a catalog built before the table or without boards).
    boards: BoardTable,
    /// What scoring derives from the stored vectors at load.
    derived: vectors::Derived,
    /// Sign bits of every vector (`words` u64 per item), for the coarse similarity pass.
    bits: Vec<u64>,
    words: usize,
    /// The vectors' and the neighbour rows' scales as little-endian f32 (stored narrower from
    /// format 4: decoded once at load).
    scales: Vec<u8>,
    nbr_scales: Vec<u8>,
    at: format::Ranges,
}

impl Catalog {
    /// Parses and checks a bundle (see [`mod@format`]), copying the bytes once.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_vec(bytes.to_vec())
    }

    /// Parses and checks a bundle, keeping `bytes` (the whole file) as the catalog's storage.
    pub fn from_vec(bytes: Vec<u8>) -> Result<Self> {
        let loaded = format::read(&bytes)?;
        if loaded.items.len() > MAX_ITEMS {
            return Err(Error::LimitExceeded { what: "catalog items".into(), actual: loaded.items.len(), limit: MAX_ITEMS });
        }
        let words = loaded.header.dim.div_ceil(64);
        Ok(Self {
            header: loaded.header,
            catalog_id: loaded.catalog_id,
            items: loaded.items,
            names: loaded.names,
            boards: loaded.boards,
            derived: loaded.derived,
            bits: loaded.bits,
            words,
            scales: loaded.scales,
            nbr_scales: loaded.nbr_scales,
            at: loaded.at,
            bytes,
        })
    }

    /// The bundle's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    /// The same catalog with its fitted-ranker section replaced (`None` removes it): the bytes
    /// of a [`crate::rank`] model, opaque here.
    pub fn with_ranker(&self, ranker: Option<&[u8]>) -> Result<Self> {
        Self::from_vec(format::rewrite(self, ranker))
    }

    /// The fitted-ranker section, if the bundle has one.
    pub fn ranker_section(&self) -> Option<&[u8]> {
        self.at.ranker.clone().map(|r| &self.bytes[r])
    }

    /// Refuses an encoder other than the one that made the vectors.
    pub fn check_model(&self, encoder_model_id: &str) -> Result<()> {
        if self.header.model_id != encoder_model_id {
            return Err(Error::ModelMismatch { catalog: self.header.model_id.clone(), encoder: encoder_model_id.to_string() });
        }
        Ok(())
    }

    /// The bundle's header.
    pub fn header(&self) -> &CatalogHeader {
        &self.header
    }
    /// A short content hash of the bundle.
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
    /// The items' ids and display fields, in catalog order.
    pub fn items(&self) -> &ItemTable {
        &self.items
    }
    /// Item `i`'s id.
    pub fn id(&self, i: usize) -> &str {
        self.items.id(i)
    }
    /// Item `i`'s title.
    pub fn title(&self, i: usize) -> &str {
        self.items.title(i)
    }
    /// The index of the item with this id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.items.index_of(id)
    }
    /// The item vectors: cosines with queries and between items, decoding.
    pub fn vectors(&self) -> Vectors<'_> {
        Vectors { codes: &self.bytes[self.at.vectors.clone()], scales: &self.scales, derived: &self.derived }
    }
    /// Every item's sign bits, `dim.div_ceil(64)` words per item.
    pub fn all_bits(&self) -> &[u64] {
        &self.bits
    }
    /// Item `i`'s sign bits.
    pub fn bits(&self, i: usize) -> &[u64] {
        &self.bits[i * self.words..(i + 1) * self.words]
    }
    /// Item `i`'s vector decoded into `out`.
    pub fn vector_f32(&self, i: usize, out: &mut [f32]) {
        self.vectors().decode(i, out);
    }
    /// How many users (or boards) saved each item.
    pub fn popularity(&self) -> Vec<f32> {
        let p = &self.bytes[self.at.popularity.clone()];
        (0..self.len()).map(|i| f32_at(p, i)).collect()
    }
    /// The co-occurrence neighbour table.
    pub fn neighbours(&self) -> Neighbours<'_> {
        self.at.neighbours.view(&self.bytes, &self.nbr_scales)
    }
    /// The board-name table.
    pub fn names(&self) -> &NameTable {
        &self.names
    }
    /// The boards the catalog was built from (see [`BoardTable`]).
    pub fn boards(&self) -> &BoardTable {
        &self.boards
    }
    /// Where this catalog's items sit in a larger one, when it is a shard of it.
    pub fn shard(&self) -> Option<&ShardInfo> {
        self.header.shard.as_ref()
    }
    /// The whole catalog's index of this catalog's first item (0 unless it is a shard).
    pub fn start(&self) -> usize {
        self.shard().map_or(0, |s| s.start)
    }
    /// Items in the whole catalog (this catalog's own count unless it is a shard).
    pub fn total_items(&self) -> usize {
        self.shard().map_or(self.len(), |s| s.rows)
    }
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
    fn a_vector_too_long_for_its_stored_scale_is_refused_at_build() {
        let items: Vec<ItemRecord> =
            ["a", "b"].iter().map(|id| ItemRecord { id: id.to_string(), ..Default::default() }).collect();
        let mut vectors = vec![0.5f32; 2 * 128];
        vectors[128..].iter_mut().for_each(|x| *x = 1e9);
        for bits in [VectorBits::Int8, VectorBits::Four] {
            let opts = BuildOptions { vector_bits: bits, ..Default::default() };
            let e = build(items.clone(), &vectors, 128, &[], "m", &opts).unwrap_err();
            assert_eq!(e.code(), "invalid_input", "{e}");
            // int8 names b; rotated4 scales each item's distance from the mean, which both share.
            assert!(e.to_string().contains(if bits == VectorBits::Int8 { "\"b\" is too long" } else { "is too long" }), "{e}");
        }
    }

    #[test]
    fn names_normalise() {
        assert_eq!(normalize_name("  Sci-Fi  FAVOURITES!! "), "sci fi favourites");
        assert_eq!(normalize_name("Café ☕"), "café");
    }
}
