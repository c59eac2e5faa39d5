//! The catalog's `items` section: ids and display fields. Format 3 stores them as columns, each
//! distinct tag once (catalog tags repeat: genres, categories), so that an item costs its id, its
//! title and a few tag numbers; format 6 deflates those columns (raw deflate, after their length
//! as a u64): text is what is left, and deflate takes it to about a third (movielens: 465 KB →
//! 164 KB, 48 → 17 bytes an item). Format 2 stored an array of [`ItemRecord`] objects. Every
//! older layout still loads, into an [`ItemTable`]: what a loaded catalog holds them in.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use hashbrown::hash_table::{Entry, HashTable};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use super::ItemRecord;

/// Format 3's columns.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Columns {
    ids: Vec<String>,
    titles: Vec<String>,
    /// One per item, or none when no item has a description.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    descriptions: Vec<String>,
    /// Every distinct tag, in order of first use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tags: Vec<String>,
    /// One list per item of indices into `tags`, or none when no item has tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    item_tags: Vec<Vec<u32>>,
}

/// The first format whose section is deflated.
const DEFLATED_FROM: u32 = 6;
/// Deflate's largest output per input byte (a run of one byte: 258 bytes per 2-bit code, about
/// 1032 to 1), so that a length no stream can reach is refused before any work.
const MAX_RATIO: usize = 1032;
/// Most inflated bytes a section may state per item (far above any catalog's display fields):
/// what a hostile section can make a load allocate is bounded by the items whose vectors the
/// file holds, not by deflate's ratio alone.
const MAX_BYTES_PER_ITEM: usize = 64 << 10;

/// The section's bytes for `items` (format 6: the columns deflated).
pub(crate) fn encode(items: &[ItemRecord]) -> Vec<u8> {
    let columns = columns(items);
    let mut out = (columns.len() as u64).to_le_bytes().to_vec();
    out.extend(miniz_oxide::deflate::compress_to_vec(&columns, 9));
    out
}

/// The columns' JSON (format 3's section).
fn columns(items: &[ItemRecord]) -> Vec<u8> {
    let mut c = Columns::default();
    let mut tag_index = HashMap::new();
    for it in items {
        c.ids.push(it.id.clone());
        c.titles.push(it.title.clone());
        c.descriptions.push(it.description.clone());
        let tags = it
            .tags
            .iter()
            .map(|t| {
                *tag_index.entry(t.as_str()).or_insert_with(|| {
                    c.tags.push(t.clone());
                    c.tags.len() as u32 - 1
                })
            })
            .collect();
        c.item_tags.push(tags);
    }
    if c.descriptions.iter().all(String::is_empty) {
        c.descriptions.clear();
    }
    if c.item_tags.iter().all(Vec::is_empty) {
        c.item_tags.clear();
    }
    serde_json::to_vec(&c).expect("items serialise")
}

/// The items of a section in `version`'s layout, for a catalog of `n` items (checked by the
/// caller against the file's vectors); describes the first defect.
pub(crate) fn decode(bytes: &[u8], version: u32, n: usize) -> Result<ItemTable, String> {
    if version == 2 {
        let records: Vec<ItemRecord> = serde_json::from_slice(bytes).map_err(|e| format!("items: {e}"))?;
        return ItemTable::from_records(&records);
    }
    if version >= DEFLATED_FROM {
        return from_columns(&inflate(bytes, n)?);
    }
    from_columns(bytes)
}

/// A deflated section's columns, its stated length checked before and after.
fn inflate(bytes: &[u8], n: usize) -> Result<Vec<u8>, String> {
    let (len, stream) = match bytes.split_first_chunk::<8>() {
        Some((len, stream)) => (u64::from_le_bytes(*len), stream),
        None => return Err("items: shorter than its length".into()),
    };
    let most = stream.len().saturating_mul(MAX_RATIO);
    let len = match usize::try_from(len) {
        Ok(len) if len <= most => len,
        _ => return Err(format!("items: {len} bytes stated, more than {} deflated bytes can hold", stream.len())),
    };
    let per_items = n.saturating_add(1).saturating_mul(MAX_BYTES_PER_ITEM);
    if len > per_items {
        return Err(format!("items: {len} bytes stated for {n} items, more than {MAX_BYTES_PER_ITEM} an item"));
    }
    let columns = miniz_oxide::inflate::decompress_to_vec_with_limit(stream, len)
        .map_err(|e| format!("items: not a deflate stream of {len} bytes ({e})"))?;
    if columns.len() != len {
        return Err(format!("items: {} bytes inflated, {len} stated", columns.len()));
    }
    Ok(columns)
}

fn from_columns(bytes: &[u8]) -> Result<ItemTable, String> {
    let mut table = ItemTable::default();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    ColumnsSeed(&mut table).deserialize(&mut de).and_then(|()| de.end()).map_err(|e| format!("items: {e}"))?;
    table.finish()
}

/// Entry `i` of a column stored as its entries' ends: it starts where entry `i - 1` ends.
fn span(ends: &[u32], i: usize) -> Range<usize> {
    (if i == 0 { 0 } else { ends[i - 1] as usize })..ends[i] as usize
}

/// One column of strings: their bytes end to end and where each ends (it starts where the one
/// before ends): 4 bytes an item beside the text, where a `String` costs 12 (24 natively) and
/// an allocation.
#[derive(Debug, Clone, Default)]
struct StrColumn {
    text: String,
    ends: Vec<u32>,
}

impl StrColumn {
    fn push(&mut self, s: &str) -> Result<(), String> {
        self.text.push_str(s);
        let end = u32::try_from(self.text.len()).map_err(|_| "items: a column's text is over 4 GiB".to_string())?;
        self.ends.push(end);
        Ok(())
    }

    fn get(&self, i: usize) -> &str {
        &self.text[span(&self.ends, i)]
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn shrink(&mut self) {
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
    }
}

/// The items' ids and display fields as a loaded catalog holds them: a column per field and the
/// id index over them (no `String` per item: about 70 bytes an item where [`ItemRecord`]s and a
/// `HashMap<String, u32>` took about 270, which in a shard of 130k items is 26 MB of a Worker's
/// 128).
#[derive(Debug, Clone, Default)]
pub struct ItemTable {
    ids: StrColumn,
    titles: StrColumn,
    /// Empty when no item has a description.
    descriptions: StrColumn,
    /// Every distinct tag.
    tags: Vec<String>,
    /// Per item, where its tag numbers end in `tag_numbers` (empty when no item has tags).
    tag_ends: Vec<u32>,
    tag_numbers: Vec<u32>,
    /// Item numbers, hashed by their id (xxh3).
    index: HashTable<u32>,
}

fn id_hash(id: &str) -> u64 {
    xxh3_64(id.as_bytes())
}

impl ItemTable {
    /// The table of `records` (format 2's section, and tests), laid out as format 3's columns.
    pub fn from_records(records: &[ItemRecord]) -> Result<Self, String> {
        from_columns(&columns(records))
    }

    /// Checks that the columns agree, then indexes the ids (a repeated id is a defect).
    fn finish(mut self) -> Result<Self, String> {
        let n = self.ids.len();
        if self.titles.len() != n
            || !(self.descriptions.is_empty() || self.descriptions.len() == n)
            || !(self.tag_ends.is_empty() || self.tag_ends.len() == n)
        {
            return Err("items: the columns disagree in length".into());
        }
        if self.tag_numbers.iter().any(|&t| t as usize >= self.tags.len()) {
            return Err("items: a tag number refers to no tag".into());
        }
        for c in [&mut self.ids, &mut self.titles, &mut self.descriptions] {
            c.shrink();
        }
        self.tag_ends.shrink_to_fit();
        self.tag_numbers.shrink_to_fit();
        let Self { ids, index, .. } = &mut self;
        index.reserve(n, |&j| id_hash(ids.get(j as usize)));
        for i in 0..n {
            let id = ids.get(i);
            match index.entry(id_hash(id), |&j| ids.get(j as usize) == id, |&j| id_hash(ids.get(j as usize))) {
                Entry::Occupied(_) => return Err(format!("duplicate item id {id:?}")),
                Entry::Vacant(v) => {
                    v.insert(i as u32);
                }
            }
        }
        Ok(self)
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when there are no items.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Item `i`'s id.
    pub fn id(&self, i: usize) -> &str {
        self.ids.get(i)
    }

    /// Item `i`'s title.
    pub fn title(&self, i: usize) -> &str {
        self.titles.get(i)
    }

    /// Item `i`'s description ("" when it has none).
    pub fn description(&self, i: usize) -> &str {
        if self.descriptions.is_empty() {
            ""
        } else {
            self.descriptions.get(i)
        }
    }

    /// Item `i`'s tags.
    pub fn tags(&self, i: usize) -> impl Iterator<Item = &str> {
        let range = if i < self.tag_ends.len() { span(&self.tag_ends, i) } else { 0..0 };
        self.tag_numbers[range].iter().map(|&t| self.tags[t as usize].as_str())
    }

    /// Item `i` as a record of its own.
    pub fn record(&self, i: usize) -> ItemRecord {
        ItemRecord {
            id: self.id(i).to_string(),
            title: self.title(i).to_string(),
            description: self.description(i).to_string(),
            tags: self.tags(i).map(str::to_string).collect(),
        }
    }

    /// The items of `range` as records of their own (for writing them elsewhere).
    pub fn records(&self, range: Range<usize>) -> Vec<ItemRecord> {
        range.map(|i| self.record(i)).collect()
    }

    /// Every item as a record of its own.
    pub fn to_records(&self) -> Vec<ItemRecord> {
        self.records(0..self.len())
    }

    /// The number of the item with this id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.index.find(id_hash(id), |&j| self.ids.get(j as usize) == id).map(|&j| j as usize)
    }
}

/// Reads format 3's columns straight into an [`ItemTable`]: the strings are copied from the
/// JSON into the columns as they are read, never held as a `String` each (a load's high-water
/// mark is what a Worker's memory limit sees).
struct ColumnsSeed<'a>(&'a mut ItemTable);

impl<'de> DeserializeSeed<'de> for ColumnsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ColumnsSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("the items' columns (an object of ids, titles, descriptions, tags, item_tags)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        const FIELDS: &[&str] = &["ids", "titles", "descriptions", "tags", "item_tags"];
        let t = self.0;
        let mut seen = [false; 5];
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let Some(k) = FIELDS.iter().position(|f| *f == key) else {
                return Err(de::Error::unknown_field(&key, FIELDS));
            };
            if std::mem::replace(&mut seen[k], true) {
                return Err(de::Error::duplicate_field(FIELDS[k]));
            }
            match k {
                0 => map.next_value_seed(StrsSeed(&mut t.ids))?,
                1 => map.next_value_seed(StrsSeed(&mut t.titles))?,
                2 => map.next_value_seed(StrsSeed(&mut t.descriptions))?,
                3 => t.tags = map.next_value()?,
                _ => map.next_value_seed(TagListsSeed { ends: &mut t.tag_ends, numbers: &mut t.tag_numbers })?,
            }
        }
        for (k, field) in FIELDS.iter().enumerate().take(2) {
            if !seen[k] {
                return Err(de::Error::missing_field(field));
            }
        }
        Ok(())
    }
}

/// An array of strings appended to a column.
struct StrsSeed<'a>(&'a mut StrColumn);

impl<'de> DeserializeSeed<'de> for StrsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for StrsSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of strings")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(StrSeed(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

/// One string appended to a column.
struct StrSeed<'a>(&'a mut StrColumn);

impl<'de> DeserializeSeed<'de> for StrSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for StrSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        self.0.push(s).map_err(E::custom)
    }
}

/// `item_tags`: an array of arrays of tag numbers, appended end to end.
struct TagListsSeed<'a> {
    ends: &'a mut Vec<u32>,
    numbers: &'a mut Vec<u32>,
}

impl<'de> DeserializeSeed<'de> for TagListsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for TagListsSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of arrays of tag numbers")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // One small list at a time: freed before the next, it adds nothing to the high-water mark.
        while let Some(list) = seq.next_element::<Vec<u32>>()? {
            self.numbers.extend(list);
            let end = u32::try_from(self.numbers.len()).map_err(|_| de::Error::custom("items: over 4G tag numbers"))?;
            self.ends.push(end);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, description: &str, tags: &[&str]) -> ItemRecord {
        ItemRecord {
            id: id.into(),
            title: format!("Title {id}"),
            description: description.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn columns_round_trip_and_store_each_tag_once() {
        let items = vec![item("a", "", &["x", "y"]), item("b", "about b", &["y"]), item("c", "", &[])];
        let bytes = columns(&items);
        assert_eq!(decode(&bytes, 3, 3).unwrap().to_records(), items);
        assert_eq!(decode(&encode(&items), DEFLATED_FROM, 3).unwrap().to_records(), items);
        assert_eq!(String::from_utf8_lossy(&bytes).matches("\"y\"").count(), 1);
        let plain = vec![item("a", "", &[]), item("b", "", &[])];
        let bytes = columns(&plain);
        assert!(!String::from_utf8_lossy(&bytes).contains("tags"), "no empty columns");
        assert_eq!(decode(&bytes, 3, 2).unwrap().to_records(), plain);
        assert_eq!(decode(&serde_json::to_vec(&plain).unwrap(), 2, 2).unwrap().to_records(), plain);
    }

    #[test]
    fn the_table_reads_fields_and_finds_ids() {
        let items = vec![item("a", "", &["x", "y"]), item("b\"é\n", "about b", &["y"]), item("c", "", &[])];
        for t in [decode(&encode(&items), DEFLATED_FROM, 3).unwrap(), ItemTable::from_records(&items).unwrap()] {
            assert_eq!(
                (t.len(), t.id(1), t.title(1), t.description(1), t.description(0)),
                (3, "b\"é\n", "Title b\"é\n", "about b", "")
            );
            assert_eq!(t.tags(0).collect::<Vec<_>>(), ["x", "y"]);
            assert_eq!(t.tags(2).count(), 0);
            assert_eq!(t.record(1), items[1]);
            assert_eq!(t.records(1..3), items[1..]);
            for (i, it) in items.iter().enumerate() {
                assert_eq!(t.index_of(&it.id), Some(i));
            }
            assert_eq!(t.index_of("b"), None);
        }
        // Escaped strings in the JSON are read as their text.
        let t = decode(br#"{"ids":["\u00e9\"q"],"titles":["t\\"]}"#, 3, 1).unwrap();
        assert_eq!((t.id(0), t.title(0), t.tags(0).count()), ("é\"q", "t\\", 0));
        assert_eq!(t.index_of("é\"q"), Some(0));
    }

    #[test]
    fn repeated_ids_and_fields_are_defects() {
        for (json, want) in [
            (r#"{"ids":["a","b","a"],"titles":["1","2","3"]}"#, "duplicate item id \"a\""),
            (r#"{"ids":["a"],"ids":["b"],"titles":["t"]}"#, "duplicate field"),
            (r#"{"titles":["t"]}"#, "missing field `ids`"),
            (r#"{"ids":["a"]}"#, "missing field `titles`"),
            (r#"{"ids":[1],"titles":["t"]}"#, "items:"),
            (r#"{"ids":["a"],"titles":["t"],"item_tags":[["x"]],"tags":["x"]}"#, "items:"),
        ] {
            let e = decode(json.as_bytes(), 3, 1).unwrap_err();
            assert!(e.contains(want), "{json}: {e}");
        }
        let twice = vec![item("a", "", &[]), item("a", "", &[])];
        assert!(ItemTable::from_records(&twice).unwrap_err().contains("duplicate item id"));
    }

    #[test]
    fn defects_are_named() {
        for (json, want) in [
            (r#"{"ids":["a"],"titles":[]}"#, "disagree"),
            (r#"{"ids":["a"],"titles":["t"],"item_tags":[[3]],"tags":["x"]}"#, "no tag"),
            (r#"{"ids":["a"],"titles":["t"],"extra":1}"#, "unknown field"),
            (r#"[{"id":"a"}]"#, "items:"),
        ] {
            let e = decode(json.as_bytes(), 3, 1).unwrap_err();
            assert!(e.contains(want), "{json}: {e}");
        }
    }

    #[test]
    fn deflated_columns_are_a_fraction_and_their_defects_are_named() {
        let items: Vec<ItemRecord> = (0..500).map(|i| item(&format!("item-{i}"), "", &["Comedy", "Drama"])).collect();
        let bytes = encode(&items);
        assert!(bytes.len() * 3 < columns(&items).len(), "{} of {}", bytes.len(), columns(&items).len());
        assert_eq!(decode(&bytes, DEFLATED_FROM, 500).unwrap().to_records(), items);
        let stated = |bytes: &[u8], len: u64| [&len.to_le_bytes()[..], &bytes[8..]].concat();
        let len = u64::from_le_bytes(bytes[..8].try_into().unwrap());
        for (bad, want) in [
            (bytes[..7].to_vec(), "shorter than its length"),
            (bytes[..bytes.len() / 2].to_vec(), "not a deflate stream"),
            (stated(&bytes, len - 1), "not a deflate stream"),
            (stated(&bytes, len + 1), "inflated"),
            (stated(&bytes, u64::MAX), "more than"),
            // The columns of format 3, taken for a deflate stream.
            (columns(&items), "items:"),
        ] {
            let e = decode(&bad, DEFLATED_FROM, 500).unwrap_err();
            assert!(e.contains(want), "{want}: {e}");
        }
        // A length the stream could reach, but not the items the header claims.
        let e = decode(&stated(&bytes, 2 * MAX_BYTES_PER_ITEM as u64), DEFLATED_FROM, 0).unwrap_err();
        assert!(e.contains("an item"), "{e}");
    }
}
