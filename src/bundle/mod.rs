//! The envelope every edgerec binary file shares (catalog bundles, edge model bundles):
//!
//! ```text
//! magic (8 bytes)  u32 format version  u32 header length  header (JSON, the format's own)
//! zero padding to a multiple of 64 bytes
//! data region: sections, each at a 64-byte aligned offset that the header names
//! XXH3-128 of everything above (16 bytes, little-endian)
//! ```
//!
//! This module checks magic, version, checksum and every section's bounds, and reads
//! little-endian numbers out of sections; what a section means is each format's business
//! (`catalog::format`, `encoder::edge::format`). Everything is checked before use, so a truncated,
//! corrupt or foreign file is a typed error, never a panic or an out-of-bounds read later.

use std::ops::Range;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_128;

use crate::error::{Error, Result};

/// Sections start at multiples of this many bytes.
pub const ALIGN: usize = 64;
/// The XXH3-128 trailer.
pub const DIGEST: usize = 16;
const PREFIX: usize = 16; // magic, version, header length

/// Which kind of file a bundle is: its magic bytes and the error its defects raise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A catalog bundle (`edgerec index`).
    Catalog,
    /// An edge model bundle (`edgerec quantize`).
    Model,
    /// A lite model bundle: a static student of the encoder (`edgerec distill`).
    Lite,
    /// One slice of a catalog's item vectors (`edgerec index --slice i/n`).
    VectorSlice,
    /// The front of a sharded catalog (`edgerec index --shards N`): what the front needs of the
    /// whole catalog.
    Front,
}

impl Kind {
    fn magic(self) -> &'static [u8; 8] {
        match self {
            Kind::Catalog => b"EDGERECC",
            Kind::Model => b"EDGERECM",
            Kind::Lite => b"EDGERECL",
            Kind::VectorSlice => b"EDGERECV",
            Kind::Front => b"EDGERECF",
        }
    }

    /// The error for a defect in a file of this kind.
    pub fn error(self, msg: impl std::fmt::Display) -> Error {
        match self {
            Kind::Catalog => Error::InvalidCatalog(msg.to_string()),
            Kind::Model => Error::InvalidModel(format!("edge model bundle: {msg}")),
            Kind::Lite => Error::InvalidModel(format!("lite model bundle: {msg}")),
            Kind::VectorSlice => Error::InvalidInput(format!("vector slice: {msg}")),
            Kind::Front => Error::InvalidCatalog(format!("sharded catalog front: {msg}")),
        }
    }

    /// What a file of this kind is, for people.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Catalog => "an edgerec catalog bundle",
            Kind::Model => "an edgerec edge model",
            Kind::Lite => "an edgerec lite model",
            Kind::VectorSlice => "an edgerec vector slice (`edgerec index --slice`)",
            Kind::Front => "the front of an edgerec sharded catalog (`edgerec index --shards`)",
        }
    }

    /// Every kind, to name what a file given in the wrong place is.
    const ALL: [Kind; 5] = [Kind::Catalog, Kind::Model, Kind::Lite, Kind::VectorSlice, Kind::Front];

    /// The kind whose magic bytes `bytes` starts with, if any.
    pub fn of(bytes: &[u8]) -> Option<Kind> {
        Self::ALL.into_iter().find(|k| bytes.starts_with(k.magic()))
    }
}

/// Where a section lies in the data region.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    /// Byte offset from the start of the data region (a multiple of [`ALIGN`]).
    pub offset: usize,
    /// Length in bytes.
    pub len: usize,
}

/// Collects sections, then writes the file around a header that names them.
#[derive(Default)]
pub struct Writer {
    data: Vec<u8>,
}

impl Writer {
    /// Appends `bytes` at the next aligned offset.
    pub fn add(&mut self, bytes: &[u8]) -> Section {
        self.data.resize(self.data.len().div_ceil(ALIGN) * ALIGN, 0);
        let offset = self.data.len();
        self.data.extend_from_slice(bytes);
        Section { offset, len: bytes.len() }
    }

    /// Appends values as little-endian f32.
    pub fn add_f32s(&mut self, v: &[f32]) -> Section {
        self.add(&v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>())
    }

    /// Appends values as little-endian u32.
    pub fn add_u32s(&mut self, v: &[u32]) -> Section {
        self.add(&v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>())
    }

    /// The data region so far.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The whole file: prefix, `header`, padding, data, checksum.
    pub fn finish(self, kind: Kind, version: u32, header: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(PREFIX + header.len() + ALIGN + self.data.len() + DIGEST);
        out.extend_from_slice(kind.magic());
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(header);
        out.resize(out.len().div_ceil(ALIGN) * ALIGN, 0);
        out.extend_from_slice(&self.data);
        // A fast checksum, not a signature: it catches truncation and corruption; SHA-256 of a
        // 40 MB file cost over a second at every start in wasm.
        let digest = xxh3_128(&out).to_le_bytes();
        out.extend_from_slice(&digest);
        out
    }
}

/// A checked file: its version, its JSON header and where its data region is.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    kind: Kind,
    /// The format version the file declares (one of those the caller accepts).
    pub version: u32,
    /// The format's JSON header.
    pub header: &'a [u8],
    /// The checksum, for content ids.
    pub digest: [u8; DIGEST],
    data: Range<usize>,
}

impl<'a> Envelope<'a> {
    /// Checks magic, version (one of `versions`), checksum and header length.
    pub fn parse(bytes: &'a [u8], kind: Kind, versions: &[u32]) -> Result<Self> {
        let bad = |m: String| kind.error(m);
        if bytes.len() < 8 || &bytes[..8] != kind.magic() {
            // A file of another kind given here says which it is: a lite model where an int8
            // one is required, a catalog given as a model.
            return Err(bad(match Kind::of(bytes) {
                Some(other) => format!("not {}: this file is {}", kind.name(), other.name()),
                None => format!("not {} (wrong magic bytes)", kind.name()),
            }));
        }
        if bytes.len() < PREFIX + DIGEST {
            return Err(bad("truncated: the file is shorter than a header".into()));
        }
        let version = le_u32(&bytes[8..12]);
        if !versions.contains(&version) {
            let want: Vec<String> = versions.iter().map(|v| v.to_string()).collect();
            return Err(bad(format!(
                "format version {version}; this build reads version {} (rebuild the file with this edgerec)",
                want.join(" or ")
            )));
        }
        let (body, digest) = bytes.split_at(bytes.len() - DIGEST);
        if xxh3_128(body).to_le_bytes() != digest {
            return Err(bad("checksum mismatch: the file is truncated or corrupt".into()));
        }
        let hlen = le_u32(&bytes[12..16]) as usize;
        let end = PREFIX.checked_add(hlen).filter(|&e| e <= body.len()).ok_or_else(|| bad("truncated header".into()))?;
        let data_start = end.div_ceil(ALIGN) * ALIGN;
        if data_start > body.len() {
            return Err(bad("truncated: no data region".into()));
        }
        Ok(Self {
            kind,
            version,
            header: &body[PREFIX..end],
            digest: digest.try_into().expect("16 bytes"),
            data: data_start..body.len(),
        })
    }

    /// The absolute byte range of `len` bytes at `offset` in the data region, checked.
    pub fn range(&self, offset: usize, len: usize, what: &str) -> Result<Range<usize>> {
        range_in(&self.data, self.kind, offset, len, what)
    }

    /// Where the data region is in the file (for a format that keeps it after the bytes move).
    pub fn data(&self) -> Range<usize> {
        self.data.clone()
    }

    /// [`Self::range`] of a section, also checking its length is `expect` bytes when given.
    pub fn section(&self, s: Section, what: &str, expect: Option<usize>) -> Result<Range<usize>> {
        if let Some(e) = expect {
            if s.len != e {
                return Err(self.kind.error(format!("{what}: {} bytes, the header implies {e}", s.len)));
            }
        }
        self.range(s.offset, s.len, what)
    }

    /// The error for a defect in this file.
    pub fn error(&self, msg: impl std::fmt::Display) -> Error {
        self.kind.error(msg)
    }
}

/// The absolute byte range of `len` bytes at `offset` in the data region `data`, checked.
pub fn range_in(data: &Range<usize>, kind: Kind, offset: usize, len: usize, what: &str) -> Result<Range<usize>> {
    let end = offset
        .checked_add(len)
        .filter(|&e| e <= data.len())
        .ok_or_else(|| kind.error(format!("{what}: bytes {offset}+{len} lie outside the data region")))?;
    Ok(data.start + offset..data.start + end)
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes(b.try_into().expect("4 bytes"))
}

/// Little-endian u32 number `i` of `bytes` (the caller checked the length).
#[inline]
pub fn u32_at(bytes: &[u8], i: usize) -> u32 {
    le_u32(&bytes[i * 4..i * 4 + 4])
}

/// Little-endian f32 number `i` of `bytes` (the caller checked the length).
#[inline]
pub fn f32_at(bytes: &[u8], i: usize) -> f32 {
    f32::from_bits(u32_at(bytes, i))
}

/// All little-endian u32 of a section.
pub fn u32s(bytes: &[u8]) -> Vec<u32> {
    bytes.chunks_exact(4).map(le_u32).collect()
}

/// All little-endian f32 of a section; a value that is not finite is an error naming it.
pub fn f32s(bytes: &[u8], what: &str, kind: Kind) -> Result<Vec<f32>> {
    let v: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_bits(le_u32(c))).collect();
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(kind.error(format!("{what}[{i}] is not a finite number")));
    }
    Ok(v)
}

/// Checks that every f32 of a section is finite, without keeping a copy.
pub fn check_finite(bytes: &[u8], what: &str, kind: Kind) -> Result<()> {
    match bytes.chunks_exact(4).position(|c| !f32::from_bits(le_u32(c)).is_finite()) {
        Some(i) => Err(kind.error(format!("{what}[{i}] is not a finite number"))),
        None => Ok(()),
    }
}

/// Views bytes as int8 without copying.
pub fn as_i8(b: &[u8]) -> &[i8] {
    // SAFETY: u8 and i8 have the same size and alignment, and every bit pattern is valid.
    unsafe { std::slice::from_raw_parts(b.as_ptr() as *const i8, b.len()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> Vec<u8> {
        let mut w = Writer::default();
        let a = w.add(b"hello");
        let b = w.add_f32s(&[1.0, 2.0]);
        assert_eq!((a.offset, b.offset), (0, ALIGN));
        let header = serde_json::to_vec(&serde_json::json!({ "a": a, "b": b })).unwrap();
        w.finish(Kind::Catalog, 7, &header)
    }

    #[test]
    fn round_trips_and_checks_bounds() {
        let bytes = file();
        let e = Envelope::parse(&bytes, Kind::Catalog, &[7]).unwrap();
        let h: serde_json::Value = serde_json::from_slice(e.header).unwrap();
        let b: Section = serde_json::from_value(h["b"].clone()).unwrap();
        let r = e.section(b, "b", Some(8)).unwrap();
        assert_eq!(f32s(&bytes[r], "b", Kind::Catalog).unwrap(), vec![1.0, 2.0]);
        assert_eq!(e.range(usize::MAX, 2, "x").unwrap_err().code(), "invalid_catalog");
        assert!(e.section(b, "b", Some(4)).is_err());
    }

    #[test]
    fn rejects_foreign_old_truncated_and_corrupt_files() {
        let bytes = file();
        let code = |b: &[u8], k: Kind| Envelope::parse(b, k, &[7]).unwrap_err();
        assert!(code(&bytes, Kind::Model)
            .to_string()
            .contains("not an edgerec edge model: this file is an edgerec catalog bundle"));
        assert!(code(&bytes, Kind::Lite).to_string().contains("not an edgerec lite model: this file is an edgerec catalog"));
        assert_eq!(code(&bytes, Kind::Lite).code(), "invalid_model");
        assert!(code(b"EDGERECX-rest", Kind::Model).to_string().contains("wrong magic bytes"));
        assert_eq!(code(&bytes, Kind::Model).code(), "invalid_model");
        assert!(Envelope::parse(&bytes, Kind::Catalog, &[8]).unwrap_err().to_string().contains("format version 7"));
        for cut in [0, 9, 20, bytes.len() - 1] {
            assert_eq!(code(&bytes[..cut], Kind::Catalog).code(), "invalid_catalog");
        }
        let mut flipped = bytes.clone();
        flipped[70] ^= 1;
        assert!(code(&flipped, Kind::Catalog).to_string().contains("checksum"));
    }
}
