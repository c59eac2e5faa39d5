//! The catalog's `items` section: ids and display fields. Format 3 stores them as columns, each
//! distinct tag once (catalog tags repeat: genres, categories), so that an item costs its id, its
//! title and a few tag numbers; format 2 stored an array of [`ItemRecord`] objects, which still
//! load.

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

/// The section's bytes for `items` (format 3).
pub(crate) fn encode(items: &[ItemRecord]) -> Vec<u8> {
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

/// The items of a section in `version`'s layout; describes the first defect.
pub(crate) fn decode(bytes: &[u8], version: u32) -> Result<Vec<ItemRecord>, String> {
    if version == 2 {
        return serde_json::from_slice(bytes).map_err(|e| format!("items: {e}"));
    }
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
        let bytes = encode(&items);
        assert_eq!(decode(&bytes, 3).unwrap(), items);
        assert_eq!(String::from_utf8_lossy(&bytes).matches("\"y\"").count(), 1);
        let plain = vec![item("a", "", &[]), item("b", "", &[])];
        let bytes = encode(&plain);
        assert!(!String::from_utf8_lossy(&bytes).contains("tags"), "no empty columns");
        assert_eq!(decode(&bytes, 3).unwrap(), plain);
        assert_eq!(decode(&serde_json::to_vec(&plain).unwrap(), 2).unwrap(), plain);
    }

    #[test]
    fn defects_are_named() {
        for (json, want) in [
            (r#"{"ids":["a"],"titles":[]}"#, "disagree"),
            (r#"{"ids":["a"],"titles":["t"],"item_tags":[[3]],"tags":["x"]}"#, "no tag"),
            (r#"{"ids":["a"],"titles":["t"],"extra":1}"#, "unknown field"),
            (r#"[{"id":"a"}]"#, "items:"),
        ] {
            let e = decode(json.as_bytes(), 3).unwrap_err();
            assert!(e.contains(want), "{json}: {e}");
        }
    }
}
