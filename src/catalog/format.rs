//! The catalog bundle on disk: one little-endian binary file.
//!
//! ```text
//! "EDGERECC"  u32 format version  u32 header length  header (JSON: CatalogHeader)
//! sections, in this order, each u64 byte length + bytes:
//!   items       JSON array of ItemRecord (id and display fields)
//!   vectors     n × dim i8
//!   scales      n f32           (vector i ≈ vectors[i] × scales[i])
//!   popularity  n f32           (boards that saved the item)
//!   nbr_offsets (n + 1) u32     (CSR over the co-occurrence neighbours)
//!   nbr_items   m u32
//!   nbr_weights m f32
//!   names       JSON NameTable
//! XXH3-128 of everything above (16 bytes, little-endian)
//! ```
//! Every count is checked against the header and every index against `n` when loading, so a
//! truncated or foreign file is an error, never a panic or an out-of-bounds read later.

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_128;

use super::{Catalog, ItemRecord, NameTable, Neighbours};
use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"EDGERECC";
const DIGEST: usize = 16;
/// The bundle format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// What the bundle says about itself (the JSON header).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CatalogHeader {
    /// The id of the model that made the vectors (`Encoder::model_id`).
    pub model_id: String,
    /// Vector length.
    pub dim: usize,
    /// Number of items.
    pub items: usize,
    /// Number of neighbour entries over all items.
    pub neighbours: usize,
    /// Boards the co-occurrence and name tables were built from.
    pub boards: usize,
    /// The edgerec version that wrote the file.
    pub built_by: String,
}

fn bad(msg: impl std::fmt::Display) -> Error {
    Error::InvalidCatalog(msg.to_string())
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| {
            bad(format!("truncated: {what} needs {n} bytes at offset {}, the file has {}", self.at, self.bytes.len()))
        })?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }
    fn section(&mut self, what: &str, expect: Option<usize>) -> Result<&'a [u8]> {
        let len = u64::from_le_bytes(self.take(8, what)?.try_into().expect("8 bytes"));
        let len = usize::try_from(len).map_err(|_| bad(format!("{what}: length {len} too large")))?;
        if let Some(e) = expect {
            if len != e {
                return Err(bad(format!("{what}: {len} bytes, the header implies {e}")));
            }
        }
        self.take(len, what)
    }
}

fn f32s(bytes: &[u8], what: &str) -> Result<Vec<f32>> {
    let v: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4"))).collect();
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(bad(format!("{what}[{i}] is not a finite number")));
    }
    Ok(v)
}

fn u32s(bytes: &[u8]) -> Vec<u32> {
    bytes.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().expect("4"))).collect()
}

/// Serialises a catalog.
pub fn write(c: &Catalog) -> Vec<u8> {
    let header = serde_json::to_vec(&c.header).expect("header serialises");
    let items = serde_json::to_vec(&c.items).expect("items serialise");
    let names = serde_json::to_vec(&c.names).expect("names serialise");
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&header);
    let mut section = |bytes: &[u8]| {
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(bytes);
    };
    let le_f32 = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let le_u32 = |v: &[u32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    section(&items);
    section(&c.vectors.iter().map(|&x| x as u8).collect::<Vec<u8>>());
    section(&le_f32(&c.scales));
    section(&le_f32(&c.popularity));
    section(&le_u32(&c.neighbours.offsets));
    section(&le_u32(&c.neighbours.items));
    section(&le_f32(&c.neighbours.weights));
    section(&names);
    // A fast checksum, not a signature: it catches truncation and corruption; SHA-256 of a
    // 40 MB catalog cost over a second at every start in wasm.
    let digest = xxh3_128(&out).to_le_bytes();
    out.extend_from_slice(&digest);
    out
}

/// Parses and checks a catalog bundle.
pub fn read(bytes: &[u8]) -> Result<Catalog> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(bad("not an edgerec catalog bundle (wrong magic bytes)"));
    }
    if bytes.len() < MAGIC.len() + 8 + DIGEST {
        return Err(bad("truncated: the file is shorter than a header"));
    }
    let (body, digest) = bytes.split_at(bytes.len() - DIGEST);
    let mut r = Reader { bytes: body, at: MAGIC.len() };
    let version = r.u32("format version")?;
    if version != FORMAT_VERSION {
        return Err(bad(format!("format version {version}; this build reads version {FORMAT_VERSION}")));
    }
    if xxh3_128(body).to_le_bytes() != digest {
        return Err(bad("checksum mismatch: the file is truncated or corrupt"));
    }
    let hlen = r.u32("header length")? as usize;
    let header: CatalogHeader =
        serde_json::from_slice(r.take(hlen, "header")?).map_err(|e| bad(format!("header: {e}")))?;
    let n = header.items;
    let d = header.dim;
    let m = header.neighbours;
    if d == 0 {
        return Err(bad("header: dim is 0"));
    }
    let items: Vec<ItemRecord> =
        serde_json::from_slice(r.section("items", None)?).map_err(|e| bad(format!("items: {e}")))?;
    if items.len() != n {
        return Err(bad(format!("items: {} records, the header says {n}", items.len())));
    }
    // Sizes from the header are untrusted: checked arithmetic, so a hostile header is an error.
    let size = |count: usize, width: usize| {
        count.checked_mul(width).ok_or_else(|| bad("header: section sizes overflow"))
    };
    let cells = size(n, d)?;
    let vectors: Vec<i8> = r.section("vectors", Some(cells))?.iter().map(|&b| b as i8).collect();
    let scales = f32s(r.section("scales", Some(size(n, 4)?))?, "scales")?;
    let popularity = f32s(r.section("popularity", Some(size(n, 4)?))?, "popularity")?;
    let offsets = u32s(r.section("neighbour offsets", Some(size(n, 4)?.checked_add(4).ok_or_else(|| bad("header: section sizes overflow"))?))?);
    let nbr_items = u32s(r.section("neighbour items", Some(size(m, 4)?))?);
    let weights = f32s(r.section("neighbour weights", Some(size(m, 4)?))?, "neighbour weights")?;
    let names: NameTable =
        serde_json::from_slice(r.section("names", None)?).map_err(|e| bad(format!("names: {e}")))?;
    if r.at != body.len() {
        return Err(bad(format!("{} unexpected bytes after the last section", body.len() - r.at)));
    }
    if offsets.first() != Some(&0)
        || offsets.last().copied() != Some(m as u32)
        || offsets.windows(2).any(|w| w[0] > w[1])
    {
        return Err(bad("neighbour offsets are not a valid index"));
    }
    if nbr_items.iter().any(|&i| i as usize >= n) {
        return Err(bad("a neighbour refers to an item that does not exist"));
    }
    names.check(n).map_err(bad)?;
    let catalog_id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    Catalog::assemble(
        header,
        catalog_id,
        items,
        vectors,
        scales,
        popularity,
        Neighbours { offsets, items: nbr_items, weights },
        names,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{ItemRecord, NameTable, Neighbours};

    fn one_item() -> Vec<u8> {
        let header = CatalogHeader {
            model_id: "m".into(),
            dim: 2,
            items: 1,
            neighbours: 0,
            boards: 0,
            built_by: "test".into(),
        };
        let items = vec![ItemRecord { id: "a".into(), ..Default::default() }];
        let nb = Neighbours { offsets: vec![0, 0], items: vec![], weights: vec![] };
        let names = NameTable { offsets: vec![0], ..Default::default() };
        let c = Catalog::assemble(header, String::new(), items, vec![127, 0], vec![0.01], vec![1.0], nb, names).unwrap();
        write(&c)
    }

    /// Replaces the JSON header and recomputes the checksum, as a hostile writer could.
    fn with_header(bytes: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let hlen = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
        let mut h: serde_json::Value = serde_json::from_slice(&bytes[16..16 + hlen]).unwrap();
        edit(&mut h);
        let h = serde_json::to_vec(&h).unwrap();
        let mut out = bytes[..12].to_vec();
        out.extend_from_slice(&(h.len() as u32).to_le_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(&bytes[16 + hlen..bytes.len() - DIGEST]);
        let d = xxh3_128(&out).to_le_bytes();
        out.extend_from_slice(&d);
        out
    }

    #[test]
    fn hostile_headers_are_errors_not_panics() {
        let good = one_item();
        assert_eq!(read(&good).unwrap().len(), 1);
        for (field, value) in [
            ("neighbours", serde_json::json!(u64::MAX)),
            ("neighbours", serde_json::json!(u64::MAX / 4 + 1)),
            ("items", serde_json::json!(u64::MAX)),
            ("dim", serde_json::json!(u64::MAX)),
            ("dim", serde_json::json!(0)),
            ("model_id", serde_json::json!(5)),
        ] {
            let bytes = with_header(&good, |h| h[field] = value.clone());
            let e = read(&bytes).unwrap_err();
            assert_eq!(e.code(), "invalid_catalog", "{field} = {value}: {e}");
        }
    }
}
