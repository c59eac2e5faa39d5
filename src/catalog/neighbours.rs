//! The co-saved (co-occurrence) neighbour table: built as [`NeighbourLists`], stored packed,
//! read in place as [`Neighbours`].
//!
//! Format 3 packs each item's row as its neighbours in ascending id order, each as a LEB128
//! varint of the gap to the previous id (the first id as it is) followed by one byte of weight
//! code, with the row's largest weight as its scale (f32; bf16 from format 4): code `q` < 255 is `scale · 2^(−q/32)`
//! (a relative step of 2.2%, down to eight octaves below the row's best, where smaller weights
//! are clamped; movielens rows span at most 8.7 octaves, 99% of them under 7), 255 is 0. About
//! 2.2 bytes an entry on movielens where format 2 spent 8 (u32 id, f32 weight), which it still
//! reads.

use std::sync::OnceLock;

use crate::bundle::{f32_at, u32_at};

/// Co-occurrence neighbours in CSR form, as the builder makes them: item `i`'s neighbours are
/// `items[offsets[i]..offsets[i+1]]` with the same range of `weights`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NeighbourLists {
    /// `n + 1` offsets.
    pub offsets: Vec<u32>,
    /// Neighbour item indices.
    pub items: Vec<u32>,
    /// Neighbour weights (larger = more often saved together).
    pub weights: Vec<f32>,
}

/// Codes per octave of weight.
const STEPS_PER_OCTAVE: f32 = 32.0;
/// The code of a zero weight.
const ZERO: u8 = 255;

fn code_values() -> &'static [f32; 256] {
    static TABLE: OnceLock<[f32; 256]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [0f32; 256];
        for (q, v) in t.iter_mut().enumerate().take(ZERO as usize) {
            *v = (-(q as f32) / STEPS_PER_OCTAVE).exp2();
        }
        t
    })
}

/// The code of weight `w` in a row whose largest weight is `scale` (weights ≤ 0 are stored as 0:
/// the builder makes none).
fn encode_weight(w: f32, scale: f32) -> u8 {
    if w <= 0.0 || scale <= 0.0 {
        return ZERO;
    }
    (-(w / scale).log2() * STEPS_PER_OCTAVE).round().clamp(0.0, (ZERO - 1) as f32) as u8
}

pub(crate) fn push_varint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The varint at `bytes[pos..end]` and the position after it; `None` when it runs past `end`,
/// is longer than a u32 needs or does not fit one.
pub(crate) fn read_varint(bytes: &[u8], mut pos: usize, end: usize) -> Option<(u32, usize)> {
    let mut v = 0u32;
    for shift in (0..35).step_by(7) {
        let b = *bytes.get(pos).filter(|_| pos < end)?;
        pos += 1;
        if shift == 28 && b > 0x0f {
            return None;
        }
        v |= ((b & 0x7f) as u32) << shift;
        if b & 0x80 == 0 {
            return Some((v, pos));
        }
    }
    None
}

/// A table packed for format 3: `(n + 1)` byte offsets into the rows, the rows, the row scales.
pub(crate) struct Packed {
    pub offsets: Vec<u32>,
    pub rows: Vec<u8>,
    pub scales: Vec<f32>,
}

/// Packs `lists` for format 3 (see the module doc).
pub(crate) fn pack(lists: &NeighbourLists) -> Packed {
    let n = lists.offsets.len().saturating_sub(1);
    let mut out = Packed { offsets: Vec::with_capacity(n + 1), rows: Vec::new(), scales: Vec::with_capacity(n) };
    out.offsets.push(0);
    for i in 0..n {
        let (a, b) = (lists.offsets[i] as usize, lists.offsets[i + 1] as usize);
        let mut row: Vec<(u32, f32)> = lists.items[a..b].iter().copied().zip(lists.weights[a..b].iter().copied()).collect();
        row.sort_by_key(|&(j, _)| j);
        row.dedup_by_key(|&mut (j, _)| j);
        let scale = row.iter().map(|&(_, w)| w).fold(0f32, f32::max);
        let mut prev = None;
        for (j, w) in row {
            push_varint(&mut out.rows, prev.map_or(j, |p: u32| j - p - 1));
            out.rows.push(encode_weight(w, scale));
            prev = Some(j);
        }
        out.scales.push(scale);
        out.offsets.push(out.rows.len() as u32);
    }
    out
}

/// Checks a packed table of `n` rows over `ids` items holding `m` entries (a shard's table has a
/// row for every item of the whole catalog, holding the neighbours among its own `ids` items):
/// offsets a valid index into `rows`, every varint well formed, every id below `ids` (ascending
/// within a row by construction), scales finite and not negative. Describes the first defect.
pub(crate) fn check_packed(offsets: &[u8], rows: &[u8], scales: &[u8], n: usize, ids: usize, m: usize) -> Result<(), String> {
    let mut entries = 0usize;
    let mut start = 0usize;
    for i in 0..n {
        let (a, b) = (u32_at(offsets, i) as usize, u32_at(offsets, i + 1) as usize);
        if (i == 0 && a != 0) || a != start || b < a || b > rows.len() {
            return Err("neighbour offsets are not a valid index".into());
        }
        let (mut pos, mut prev) = (a, None::<u32>);
        while pos < b {
            let (gap, next) = read_varint(rows, pos, b).ok_or("a neighbour row is malformed")?;
            let id = match prev {
                None => Some(gap),
                Some(p) => p.checked_add(gap).and_then(|x| x.checked_add(1)),
            };
            let id = id.filter(|&j| (j as usize) < ids).ok_or("a neighbour refers to an item that does not exist")?;
            if next >= b {
                return Err("a neighbour row is malformed".into());
            }
            pos = next + 1; // the weight code
            prev = Some(id);
            entries += 1;
        }
        start = b;
        let s = f32_at(scales, i);
        if !s.is_finite() || s < 0.0 {
            return Err(format!("neighbour scales[{i}] is not a finite, non-negative number"));
        }
    }
    if start != rows.len() || entries != m {
        return Err(format!("the neighbour rows hold {entries} entries in {start} of {} bytes, the header says {m}", rows.len()));
    }
    Ok(())
}

/// The rows of a packed table (`offsets` and `rows` as stored) cut by who owns each neighbour:
/// `owner(j)` is `(part, index within the part)`. Every part gets a row for every source item,
/// holding its own neighbours with their weight codes unchanged (so under the same row scales
/// every weight decodes exactly as before). Returns `(offsets, rows, entries)` per part.
pub(crate) fn split_packed(
    offsets: &[u8],
    rows: &[u8],
    parts: usize,
    owner: impl Fn(u32) -> (usize, u32),
) -> Vec<(Vec<u32>, Vec<u8>, usize)> {
    let n = offsets.len() / 4 - 1;
    let mut out: Vec<(Vec<u32>, Vec<u8>, usize)> = (0..parts).map(|_| (vec![0], Vec::new(), 0)).collect();
    let mut prev: Vec<Option<u32>> = vec![None; parts];
    for i in 0..n {
        prev.iter_mut().for_each(|p| *p = None);
        let (mut at, end) = (u32_at(offsets, i) as usize, u32_at(offsets, i + 1) as usize);
        let mut id_prev = None;
        while at < end {
            let (gap, next) = read_varint(rows, at, end).expect("checked at load");
            let id = id_prev.map_or(gap, |p: u32| p + 1 + gap);
            id_prev = Some(id);
            let (part, local) = owner(id);
            let o = &mut out[part];
            // Ids stay ascending within a part's row: the owners keep the catalog's order.
            push_varint(&mut o.1, prev[part].map_or(local, |p| local - p - 1));
            o.1.push(rows[next]);
            o.2 += 1;
            prev[part] = Some(local);
            at = next + 1;
        }
        for o in &mut out {
            o.0.push(o.1.len() as u32);
        }
    }
    out
}

/// Where a loaded catalog's table is, by format.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Table<'a> {
    /// Format 2: `(n + 1)` u32 entry offsets, u32 ids, f32 weights.
    Plain { offsets: &'a [u8], items: &'a [u8], weights: &'a [u8] },
    /// Format 3: `(n + 1)` u32 byte offsets, the packed rows, f32 row scales.
    Packed { offsets: &'a [u8], rows: &'a [u8], scales: &'a [u8] },
}

/// The co-occurrence neighbour table, read in place from the bundle's bytes (checked at load).
#[derive(Debug, Clone, Copy)]
pub struct Neighbours<'a>(pub(crate) Table<'a>);

impl<'a> Neighbours<'a> {
    /// Item `i`'s neighbours and their weights, each once, in no particular order.
    pub fn of(&self, i: usize) -> NeighbourIter<'a> {
        NeighbourIter(match self.0 {
            Table::Plain { offsets, items, weights } => {
                Row::Plain { items, weights, at: u32_at(offsets, i) as usize, end: u32_at(offsets, i + 1) as usize }
            }
            Table::Packed { offsets, rows, scales } => Row::Packed {
                rows,
                at: u32_at(offsets, i) as usize,
                end: u32_at(offsets, i + 1) as usize,
                prev: None,
                scale: f32_at(scales, i),
            },
        })
    }

    /// The weight of `j` among `i`'s neighbours, if it is one.
    pub fn weight(&self, i: usize, j: u32) -> Option<f32> {
        self.of(i).find(|&(x, _)| x == j).map(|(_, w)| w)
    }
}

/// The entries of one row of [`Neighbours`]: `(item, weight)`.
#[derive(Debug, Clone)]
pub struct NeighbourIter<'a>(Row<'a>);

#[derive(Debug, Clone)]
enum Row<'a> {
    Plain { items: &'a [u8], weights: &'a [u8], at: usize, end: usize },
    Packed { rows: &'a [u8], at: usize, end: usize, prev: Option<u32>, scale: f32 },
}

impl Iterator for NeighbourIter<'_> {
    type Item = (u32, f32);

    fn next(&mut self) -> Option<(u32, f32)> {
        match &mut self.0 {
            Row::Plain { items, weights, at, end } => {
                if *at >= *end {
                    return None;
                }
                let k = *at;
                *at += 1;
                Some((u32_at(items, k), f32_at(weights, k)))
            }
            Row::Packed { rows, at, end, prev, scale } => {
                if *at >= *end {
                    return None;
                }
                // Checked at load: the varint is well formed and its code byte follows.
                let (gap, next) = read_varint(rows, *at, *end)?;
                let id = prev.map_or(gap, |p| p + 1 + gap);
                *prev = Some(id);
                *at = next + 1;
                Some((id, *scale * code_values()[rows[next] as usize]))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists(rows: &[&[(u32, f32)]]) -> NeighbourLists {
        let mut l = NeighbourLists { offsets: vec![0], ..Default::default() };
        for r in rows {
            for &(j, w) in *r {
                l.items.push(j);
                l.weights.push(w);
            }
            l.offsets.push(l.items.len() as u32);
        }
        l
    }

    fn view(p: &Packed) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let le = |v: &[u32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        (le(&p.offsets), p.rows.clone(), p.scales.iter().flat_map(|x| x.to_le_bytes()).collect())
    }

    #[test]
    fn varints_round_trip_and_refuse_what_a_u32_cannot_be() {
        for v in [0u32, 1, 127, 128, 300, 16_383, 16_384, 1 << 21, u32::MAX] {
            let mut b = Vec::new();
            push_varint(&mut b, v);
            assert_eq!(read_varint(&b, 0, b.len()), Some((v, b.len())), "{v}");
            assert_eq!(read_varint(&b, 0, b.len() - 1), None, "{v} cut short");
        }
        assert_eq!(read_varint(&[0xff, 0xff, 0xff, 0xff, 0x1f], 0, 5), None, "past u32::MAX");
        assert_eq!(read_varint(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00], 0, 6), None, "too long");
    }

    #[test]
    fn packed_rows_keep_every_neighbour_and_its_weight_within_a_step() {
        let l = lists(&[&[(3, 0.5), (1, 0.25), (700, 0.01), (2, 0.0)], &[], &[(0, 1e-9), (5000, 2.0)]]);
        let p = pack(&l);
        let (o, r, s) = view(&p);
        let nb = Neighbours(Table::Packed { offsets: &o, rows: &r, scales: &s });
        let row0: Vec<(u32, f32)> = nb.of(0).collect();
        assert_eq!(row0.iter().map(|x| x.0).collect::<Vec<_>>(), vec![1, 2, 3, 700]);
        let step = (1.0f32 / STEPS_PER_OCTAVE).exp2();
        for (&(j, w), want) in row0.iter().zip([0.25, 0.0, 0.5, 0.01]) {
            if want == 0.0 {
                assert_eq!(w, 0.0, "{j}");
            } else {
                assert!(w / want <= step.sqrt() * 1.0001 && want / w <= step.sqrt() * 1.0001, "{j}: {w} for {want}");
            }
        }
        assert_eq!(nb.of(0).next().map(|x| x.1), nb.weight(0, 1));
        assert_eq!(nb.of(1).count(), 0);
        // The row's best is exact; a weight far below it keeps its place as the smallest code.
        assert_eq!(nb.weight(2, 5000), Some(2.0));
        assert!(nb.weight(2, 0).unwrap() > 0.0);
    }

    #[test]
    fn defects_in_a_packed_table_are_named() {
        let p = pack(&lists(&[&[(1, 0.5), (2, 0.25)], &[(0, 1.0)], &[]]));
        let (o, r, s) = view(&p);
        check_packed(&o, &r, &s, 3, 3, 3).unwrap();
        assert!(check_packed(&o, &r, &s, 3, 3, 4).unwrap_err().contains("header says 4"));
        assert!(check_packed(&o[..12], &r, &s, 2, 2, 3).unwrap_err().contains("does not exist"));
        assert!(check_packed(&o, &r, &s, 3, 2, 3).unwrap_err().contains("does not exist"));
        let mut cut = o.clone();
        cut[4..8].copy_from_slice(&1u32.to_le_bytes()); // row 0 ends inside its first entry
        assert!(check_packed(&cut, &r, &s, 3, 3, 3).is_err());
        let mut past = o.clone();
        past[8..12].copy_from_slice(&99u32.to_le_bytes());
        assert!(check_packed(&past, &r, &s, 3, 3, 3).unwrap_err().contains("valid index"));
        let mut long = r.clone();
        long[0] = 0x81; // a varint that runs into the weight code and beyond
        assert!(check_packed(&o, &long, &s, 3, 3, 3).is_err());
        let mut nan = s.clone();
        nan[0..4].copy_from_slice(&f32::NAN.to_le_bytes());
        assert!(check_packed(&o, &r, &nan, 3, 3, 3).unwrap_err().contains("scales[0]"));
    }
}
