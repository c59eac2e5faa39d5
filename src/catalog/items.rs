//! The catalog's `items` section: ids and display fields. Format 3 stores them as columns, each
//! distinct tag once (catalog tags repeat: genres, categories), so that an item costs its id, its
//! title and a few tag numbers; format 6 deflates those columns (raw deflate, after their length
//! as a u64): text is what is left, and deflate takes it to about a third (movielens: 465 KB →
//! 164 KB, 48 → 17 bytes an item). Format 2 stored an array of [`ItemRecord`] objects. Every
//! older layout still loads.

use serde::{Deserialize, Serialize};

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
    let mut tag_index = std::collections::HashMap::new();
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
pub(crate) fn decode(bytes: &[u8], version: u32, n: usize) -> Result<Vec<ItemRecord>, String> {
    if version == 2 {
        return serde_json::from_slice(bytes).map_err(|e| format!("items: {e}"));
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

fn from_columns(bytes: &[u8]) -> Result<Vec<ItemRecord>, String> {
    let c: Columns = serde_json::from_slice(bytes).map_err(|e| format!("items: {e}"))?;
    let n = c.ids.len();
    if c.titles.len() != n
        || !(c.descriptions.is_empty() || c.descriptions.len() == n)
        || !(c.item_tags.is_empty() || c.item_tags.len() == n)
    {
        return Err("items: the columns disagree in length".into());
    }
    if c.item_tags.iter().flatten().any(|&t| t as usize >= c.tags.len()) {
        return Err("items: a tag number refers to no tag".into());
    }
    let mut descriptions = c.descriptions.into_iter();
    let mut item_tags = c.item_tags.into_iter();
    Ok(c.ids
        .into_iter()
        .zip(c.titles)
        .map(|(id, title)| ItemRecord {
            id,
            title,
            description: descriptions.next().unwrap_or_default(),
            tags: item_tags.next().unwrap_or_default().into_iter().map(|t| c.tags[t as usize].clone()).collect(),
        })
        .collect())
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
        assert_eq!(decode(&bytes, 3, 3).unwrap(), items);
        assert_eq!(decode(&encode(&items), DEFLATED_FROM, 3).unwrap(), items);
        assert_eq!(String::from_utf8_lossy(&bytes).matches("\"y\"").count(), 1);
        let plain = vec![item("a", "", &[]), item("b", "", &[])];
        let bytes = columns(&plain);
        assert!(!String::from_utf8_lossy(&bytes).contains("tags"), "no empty columns");
        assert_eq!(decode(&bytes, 3, 2).unwrap(), plain);
        assert_eq!(decode(&serde_json::to_vec(&plain).unwrap(), 2, 2).unwrap(), plain);
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
        assert_eq!(decode(&bytes, DEFLATED_FROM, 500).unwrap(), items);
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
