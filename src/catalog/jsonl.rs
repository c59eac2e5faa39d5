//! Reading `items.jsonl` and `boards.jsonl` (the dataset format), with line numbers in errors.

use std::collections::HashSet;

use serde::Deserialize;

use super::{ItemRecord, MAX_ITEMS};
use crate::error::{Error, Result};

/// One line of `boards.jsonl`: a user's board and its items in the order they were saved.
/// Other fields (such as a dataset's `heldout`) are ignored.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
pub struct BoardRecord {
    /// The board's owner.
    #[serde(default)]
    pub user: String,
    /// The board's name.
    #[serde(default)]
    pub board: String,
    /// Item ids, oldest first.
    pub items: Vec<String>,
}

fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())).filter(|(_, l)| !l.is_empty())
}

/// Parses `items.jsonl`: one `{id, title, description, tags}` object per line. Duplicate or empty
/// ids are errors naming the line.
pub fn read_items_jsonl(text: &str) -> Result<Vec<ItemRecord>> {
    let mut items = Vec::new();
    let mut seen = HashSet::new();
    for (n, line) in lines(text) {
        let item: ItemRecord =
            serde_json::from_str(line).map_err(|e| Error::InvalidInput(format!("items.jsonl line {n}: {e}")))?;
        if item.id.is_empty() {
            return Err(Error::InvalidInput(format!("items.jsonl line {n}: empty id")));
        }
        if !seen.insert(item.id.clone()) {
            return Err(Error::InvalidInput(format!("items.jsonl line {n}: duplicate id {:?}", item.id)));
        }
        items.push(item);
        if items.len() > MAX_ITEMS {
            return Err(Error::LimitExceeded { what: "catalog items".into(), actual: items.len(), limit: MAX_ITEMS });
        }
    }
    if items.is_empty() {
        return Err(Error::InvalidInput("items.jsonl has no items".into()));
    }
    Ok(items)
}

/// Parses `boards.jsonl`: one `{user, board, items}` object per line.
pub fn read_boards_jsonl(text: &str) -> Result<Vec<BoardRecord>> {
    lines(text)
        .map(|(n, line)| serde_json::from_str(line).map_err(|e| Error::InvalidInput(format!("boards.jsonl line {n}: {e}"))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_and_empty_ids_name_the_line() {
        let e = read_items_jsonl("{\"id\":\"a\"}\n\n{\"id\":\"a\",\"title\":\"x\"}\n").unwrap_err();
        assert!(e.to_string().contains("line 3: duplicate id \"a\""), "{e}");
        let e = read_items_jsonl("{\"id\":\"\"}").unwrap_err();
        assert!(e.to_string().contains("line 1: empty id"), "{e}");
        let e = read_items_jsonl("{\"id\": 5}").unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
        assert!(read_items_jsonl("\n").is_err());
    }

    #[test]
    fn boards_ignore_extra_fields() {
        let b = read_boards_jsonl(r#"{"user":"1","board":"liked","items":["a","b"],"heldout":"c"}"#).unwrap();
        assert_eq!(b[0].items, vec!["a", "b"]);
        assert!(read_boards_jsonl("{\"user\":\"1\"}").is_err());
    }
}
