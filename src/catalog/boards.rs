//! The catalog's boards, kept for the similar-boards signal: what the boards most like a
//! request's focus board hold (board-to-board nearest neighbours, as user-based collaborative
//! filtering does with users). The co-saved table keeps each item's best neighbours only; this
//! keeps the boards themselves, so items that people with boards like yours saved *together with
//! several of your pins at once* are found.
//!
//! Stored as one section: for each board (with at least two distinct items: a one-item board
//! can never point past a pin), a LEB128 varint of its item count, then its item indices in
//! ascending order as varint gaps (the first as it is, each next as the gap minus one). About
//! 1.4 bytes an entry on movielens (each board's 50 most recent items). At load it becomes two CSR indices: board → items and
//! item → boards.

use super::neighbours::{push_varint, read_varint};

/// The boards, both ways.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BoardTable {
    /// `boards + 1` offsets into `items`.
    offsets: Vec<u32>,
    /// Each board's items, ascending.
    items: Vec<u32>,
    /// `n + 1` offsets into `boards`: the boards holding each item.
    item_offsets: Vec<u32>,
    /// Board indices, ascending within an item.
    boards: Vec<u32>,
}

impl BoardTable {
    /// The table of `boards` (item indices below `n`; repeats are dropped, boards of fewer than
    /// two distinct items are not kept).
    pub fn new(boards: &[Vec<u32>], n: usize) -> Self {
        let mut offsets = vec![0u32];
        let mut items = Vec::new();
        for b in boards {
            let mut row = b.clone();
            row.sort_unstable();
            row.dedup();
            if row.len() >= 2 {
                items.extend(row);
                offsets.push(items.len() as u32);
            }
        }
        Self::indexed(offsets, items, n)
    }

    fn indexed(offsets: Vec<u32>, items: Vec<u32>, n: usize) -> Self {
        // Each item's end in `boards`, then filled from the back (boards in descending order),
        // which leaves each offset at its item's start and its boards ascending: one array of
        // n + 1 instead of a count and its copy (4 MB less at a million items).
        let mut item_offsets = vec![0u32; n + 1];
        items.iter().for_each(|&i| item_offsets[i as usize + 1] += 1);
        for i in 0..n {
            item_offsets[i + 1] += item_offsets[i];
        }
        let mut boards = vec![0u32; items.len()];
        for b in (0..offsets.len() - 1).rev() {
            for &i in &items[offsets[b] as usize..offsets[b + 1] as usize] {
                item_offsets[i as usize + 1] -= 1;
                boards[item_offsets[i as usize + 1] as usize] = b as u32;
            }
        }
        // item_offsets[i + 1] now holds item i's start; shift them down one place.
        item_offsets.copy_within(1.., 0);
        item_offsets[n] = items.len() as u32;
        Self { offsets, items, item_offsets, boards }
    }

    /// Boards kept.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// True when no board is kept (a catalog built without boards, or before this table).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries (board, item) over all boards.
    pub fn entries(&self) -> usize {
        self.items.len()
    }

    /// Board `b`'s items, ascending.
    pub fn items_of(&self, b: usize) -> &[u32] {
        &self.items[self.offsets[b] as usize..self.offsets[b + 1] as usize]
    }

    /// The boards holding item `i` (none for an item past the table).
    pub fn boards_of(&self, i: usize) -> &[u32] {
        match (self.item_offsets.get(i), self.item_offsets.get(i + 1)) {
            (Some(&a), Some(&b)) => &self.boards[a as usize..b as usize],
            _ => &[],
        }
    }

    /// The section's bytes (see the module doc).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for b in 0..self.len() {
            let row = self.items_of(b);
            push_varint(&mut out, row.len() as u32);
            let mut prev = None;
            for &j in row {
                push_varint(&mut out, prev.map_or(j, |p: u32| j - p - 1));
                prev = Some(j);
            }
        }
        out
    }

    /// Reads a section over `n` items; describes the first defect (a count or gap past the
    /// section's end, an item past `n`, a board of fewer than two items).
    pub fn decode(bytes: &[u8], n: usize) -> Result<Self, String> {
        // Sized once by the varints in the section (a varint ends at a byte under 0x80: each
        // board's count and its items, so a board's worth over): a front of a million items
        // holds millions of entries, and a doubling vector's slack would be tens of MB at the
        // load's high-water mark, which is what a Worker's memory limit sees.
        let varints = bytes.iter().filter(|&&b| b < 0x80).count();
        let (mut offsets, mut items) = (vec![0u32], Vec::with_capacity(varints));
        let mut pos = 0;
        while pos < bytes.len() {
            let (len, next) = read_varint(bytes, pos, bytes.len()).ok_or("boards: a board's count runs past the section")?;
            pos = next;
            // Every item takes at least a byte: a larger count cannot be honest.
            if len < 2 || len as usize > bytes.len() - pos {
                return Err(format!("boards: a board of {len} items"));
            }
            let mut prev: Option<u32> = None;
            for _ in 0..len {
                let (gap, next) = read_varint(bytes, pos, bytes.len()).ok_or("boards: an item runs past the section")?;
                pos = next;
                let j = match prev {
                    None => Some(gap),
                    Some(p) => p.checked_add(gap).and_then(|x| x.checked_add(1)),
                };
                let j = j.filter(|&j| (j as usize) < n).ok_or("boards: an entry names an item that does not exist")?;
                items.push(j);
                prev = Some(j);
            }
            offsets.push(items.len() as u32);
        }
        Ok(Self::indexed(offsets, items, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boards_round_trip_and_index_both_ways() {
        let t = BoardTable::new(&[vec![3, 1, 3, 200], vec![5], vec![0, 1], vec![]], 300);
        assert_eq!(t.len(), 2, "the one-item and empty boards are not kept");
        assert_eq!(t.items_of(0), &[1, 3, 200]);
        assert_eq!(t.boards_of(1), &[0, 1]);
        assert_eq!(t.boards_of(5), &[] as &[u32]);
        assert_eq!(t.boards_of(1000), &[] as &[u32]);
        let back = BoardTable::decode(&t.encode(), 300).unwrap();
        assert_eq!(back, t);
        assert!(BoardTable::decode(&t.encode(), 200).is_err(), "item 200 of 200");
        let bytes = t.encode();
        assert!(BoardTable::decode(&bytes[..bytes.len() - 1], 300).is_err(), "truncated");
        assert!(BoardTable::decode(&[1, 0], 300).is_err(), "a board of one item");
        assert!(BoardTable::decode(&[0xff, 0xff, 0xff, 0xff, 0x7f], 300).is_err(), "a count past the end");
        assert_eq!(BoardTable::decode(&[], 5).unwrap().len(), 0);
    }

    #[test]
    fn each_item_lists_exactly_the_boards_holding_it_ascending() {
        let n = 40;
        let boards: Vec<Vec<u32>> = (0..60u32).map(|b| (0..1 + b % 7).map(|k| (b * 7 + k * 13) % n).collect()).collect();
        let t = BoardTable::new(&boards, n as usize);
        for i in 0..n as usize + 1 {
            let want: Vec<u32> = (0..t.len() as u32).filter(|&b| t.items_of(b as usize).contains(&(i as u32))).collect();
            assert_eq!(t.boards_of(i), &want[..], "item {i}");
        }
        assert_eq!((0..n as usize).map(|i| t.boards_of(i).len()).sum::<usize>(), t.entries());
    }
}
