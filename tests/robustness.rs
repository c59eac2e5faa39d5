//! Property-based robustness tests for every parser of untrusted input: catalog bundles, edge
//! model bundles, board contexts (JSON), items.jsonl and boards.jsonl.
//!
//! Every property has the same shape: hostile bytes or text go in, and the answer is `Ok` (the
//! change was harmless) or a typed `edgerec::Error` with the expected `code()`, never a panic,
//! never a stack overflow. Whatever loads must then survive being used (a recommend call, an
//! embed call). proptest catches panics and shrinks them to a minimal failing input, which it
//! prints; a stack overflow aborts the test binary (the deep-nesting cases run on a 1 MiB stack,
//! the size of the default wasm stack, to make that likely to show).
//!
//! Runs are deterministic (fixed RNG seed) and write no files (`failure_persistence: None`).
//! The edge-model properties need the default model (scripts/fetch-model.sh); quantizing it
//! takes 10–30 s once per test binary.

mod common;

use std::ops::Range;
use std::sync::OnceLock;

use edgerec::catalog::{self, BoardRecord, Catalog, ItemRecord};
use edgerec::context::{Board, BoardContext, Pin, MAX_FIELD_BYTES};
use edgerec::rank::Ranker;
use edgerec::{EdgeEncoder, Encoder};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{RngSeed, TestCaseError};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// `cases` deterministic cases, no regression files, bounded shrinking.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x0ED6_E2EC),
        max_shrink_iters: 512,
        ..ProptestConfig::default()
    }
}

/// As [`cfg`], for properties whose every case loads a 24 MB model: shrinking stays short.
fn cfg_model(cases: u32) -> ProptestConfig {
    ProptestConfig { max_shrink_iters: 48, ..config(cases) }
}

const DIGEST: usize = 16;

/// The bundle trailer: XXH3-128 of every byte before it, little-endian.
fn seal(mut body: Vec<u8>) -> Vec<u8> {
    let d = xxhash_rust::xxh3::xxh3_128(&body).to_le_bytes();
    body.extend_from_slice(&d);
    body
}

/// The bytes of a bundle before its trailer.
fn body(bytes: &[u8]) -> &[u8] {
    &bytes[..bytes.len() - DIGEST]
}

/// `Ok`, or an error whose code is one of `codes`.
fn expect_codes<T>(r: &edgerec::Result<T>, codes: &[&str], what: &str) -> Result<(), TestCaseError> {
    if let Err(e) = r {
        prop_assert!(
            codes.contains(&e.code()),
            "{what}: unexpected error code {:?} ({e}); expected Ok or one of {codes:?}",
            e.code()
        );
    }
    Ok(())
}

/// Runs `f` on a thread with a 1 MiB stack (the default wasm stack); a panic is re-raised here.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(f)
        .expect("spawn")
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// A tiny deterministic PRNG (splitmix64) for fixtures.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

/// Flips bit `bit` of byte `at` (both reduced into range).
fn flip(bytes: &mut [u8], at: usize, bit: u8) {
    let n = bytes.len();
    bytes[at % n] ^= 1 << (bit % 8);
}

/// Writes `value` little-endian at `at` (clipped to the end of `bytes`).
fn overwrite(bytes: &mut [u8], at: usize, value: &[u8]) {
    for (i, &b) in value.iter().enumerate() {
        if let Some(x) = bytes.get_mut(at + i) {
            *x = b;
        }
    }
}

/// Length-looking values a hostile file would put in a length or count field.
fn huge_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(u32::MAX.to_le_bytes().to_vec()),
        Just(u64::MAX.to_le_bytes().to_vec()),
        Just((u32::MAX as u64).to_le_bytes().to_vec()),
        Just((u32::MAX as u64 + 1).to_le_bytes().to_vec()),
        Just((1u64 << 63).to_le_bytes().to_vec()),
        Just((i64::MAX as u64).to_le_bytes().to_vec()),
        Just(0x8000_0000u32.to_le_bytes().to_vec()),
        Just((u64::MAX / 4 + 1).to_le_bytes().to_vec()),
        Just(0u64.to_le_bytes().to_vec()),
        Just(0u32.to_le_bytes().to_vec()),
    ]
}

/// A value for a length field, relative to its true value `len` and the file size `file`.
fn length_like(len: u64, file: u64, pick: u8) -> u64 {
    match pick % 12 {
        0 => 0,
        1 => len.saturating_sub(1),
        2 => len + 1,
        3 => len * 2,
        4 => file,
        5 => file + 1,
        6 => u32::MAX as u64,
        7 => u32::MAX as u64 + 1,
        8 => u64::MAX,
        9 => i64::MAX as u64,
        10 => u64::MAX - len,
        _ => 1 << 32 | len,
    }
}

// ----- JSON: random values and targeted edits -------------------------------------------------

/// Keys that the parsers know (so random objects often have the right shape) and others.
fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "boards", "name", "pins", "id", "title", "description", "tags", "saved_at", "target_board", "k",
            "exclude", "diversity", "recency_half_life", "user", "board", "items", "heldout", "model_id", "dim",
        ])
        .prop_map(String::from),
        1 => "[a-z_]{0,8}",
        1 => "\\PC{0,6}",
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|x| json!(x)),
        any::<u64>().prop_map(|x| json!(x)),
        (-3i64..600).prop_map(|x| json!(x)),
        any::<f64>().prop_filter_map("finite", |x| serde_json::Number::from_f64(x).map(Value::Number)),
        prop::sample::select(vec![0.0, -0.0, 0.5, 1.0, 1.0000001, -1.0, 1e-45, 1e38, 3.5e38, 1e308, f64::MIN_POSITIVE])
            .prop_map(|x| json!(x)),
        "\\PC{0,12}".prop_map(Value::String),
        (0usize..40).prop_map(|i| json!(format!("item-{i}"))),
        prop::sample::select(vec!["", " ", "NaN", "Infinity", "-Infinity", "null", "1", "\u{0}", "é", "🚀", "sci fi"])
            .prop_map(|s| json!(s)),
    ]
}

/// Random JSON values of bounded depth and size.
fn arb_json() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((json_key(), inner), 0..8).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Values a hostile writer would put in a JSON header or section.
fn evil_json() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => prop::sample::select(vec![
            json!(0), json!(1), json!(-1), json!(2), json!(u32::MAX), json!(u32::MAX as u64 + 1),
            json!(u64::MAX), json!(i64::MIN), json!(1u64 << 53), json!(u64::MAX / 4 + 1), json!(usize::MAX / 64 + 1),
            json!(1e308), json!(-1e308), json!(0.5), json!(3.5e38), json!(1e-45), Value::Null, json!(true),
            json!(""), json!("x".repeat(5000)), json!("\u{0}\u{ffff}é🚀"), json!([]), json!({}), json!([0]),
            json!([0, 0]), json!([u64::MAX, u64::MAX]), json!([0, u64::MAX]), json!([[]]), json!("i8"),
            json!("f32"), json!("u32"), json!("mean"), json!("cls"), json!("max"), json!("gelu_tanh"),
        ]),
        1 => any::<u64>().prop_map(|x| json!(x)),
        1 => (0u64..100_000).prop_map(|x| json!(x)),
        1 => "[ -~]{0,10}".prop_map(Value::String),
        1 => arb_json(),
    ]
}

/// One edit of one node of a JSON document.
#[derive(Debug, Clone)]
enum JsonEdit {
    /// Replace the node.
    Replace(Value),
    /// A number becomes `n + delta` (near misses test consistency checks best).
    Nudge(i64),
    /// Remove the node from its parent.
    Remove,
    /// Repeat an array element right after itself.
    Duplicate,
    /// Add a key to an object.
    AddKey(String, Value),
}

fn json_edit() -> impl Strategy<Value = JsonEdit> {
    prop_oneof![
        4 => evil_json().prop_map(JsonEdit::Replace),
        3 => prop::sample::select(vec![-1i64, 1, -64, 64, -4, 4, 1 << 20, i64::MIN, i64::MAX]).prop_map(JsonEdit::Nudge),
        1 => Just(JsonEdit::Remove),
        1 => Just(JsonEdit::Duplicate),
        1 => (json_key(), evil_json()).prop_map(|(k, v)| JsonEdit::AddKey(k, v)),
    ]
}

/// JSON pointers of every node of `v` (the root included) accepted by `keep`.
fn pointers(v: &Value, keep: &dyn Fn(&str) -> bool) -> Vec<String> {
    fn walk(v: &Value, at: &mut String, keep: &dyn Fn(&str) -> bool, out: &mut Vec<String>) {
        if keep(at.as_str()) {
            out.push(at.clone());
        }
        let len = at.len();
        match v {
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    at.push_str(&format!("/{i}"));
                    walk(x, at, keep, out);
                    at.truncate(len);
                }
            }
            Value::Object(o) => {
                for (k, x) in o {
                    at.push('/');
                    at.push_str(&k.replace('~', "~0").replace('/', "~1"));
                    walk(x, at, keep, out);
                    at.truncate(len);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut String::new(), keep, &mut out);
    out
}

fn unescape(seg: &str) -> String {
    seg.replace("~1", "/").replace("~0", "~")
}

/// An integer as JSON, clamped to what JSON numbers in serde_json can hold.
fn int_json(x: i128) -> Value {
    let x = x.clamp(i64::MIN as i128, u64::MAX as i128);
    if x >= 0 {
        json!(x as u64)
    } else {
        json!(x as i64)
    }
}

/// Applies `edit` at `pointer` (which exists in `doc`).
fn apply_edit(doc: &mut Value, pointer: &str, edit: &JsonEdit) {
    let (parent, last) = match pointer.rfind('/') {
        Some(i) => (&pointer[..i], Some(unescape(&pointer[i + 1..]))),
        None => ("", None),
    };
    match edit {
        JsonEdit::Replace(v) => *doc.pointer_mut(pointer).expect("pointer exists") = v.clone(),
        JsonEdit::Nudge(d) => {
            let node = doc.pointer_mut(pointer).expect("pointer exists");
            *node = match &*node {
                Value::Number(n) if n.is_u64() => int_json(n.as_u64().unwrap() as i128 + *d as i128),
                Value::Number(n) if n.is_i64() => int_json(n.as_i64().unwrap() as i128 + *d as i128),
                Value::Number(n) => json!(n.as_f64().unwrap() + *d as f64),
                Value::String(s) if *d > 0 => json!(format!("{s}{}", "a".repeat((*d as usize).min(5000)))),
                Value::String(s) => json!(s.chars().skip(1).collect::<String>()),
                other => other.clone(),
            };
        }
        JsonEdit::Remove | JsonEdit::Duplicate => {
            let Some(last) = last else { return };
            match doc.pointer_mut(parent).expect("parent exists") {
                Value::Object(o) if matches!(edit, JsonEdit::Remove) => {
                    o.remove(&last);
                }
                Value::Array(a) => {
                    let i: usize = last.parse().expect("array index");
                    if matches!(edit, JsonEdit::Remove) {
                        a.remove(i);
                    } else {
                        let x = a[i].clone();
                        a.insert(i, x);
                    }
                }
                _ => {}
            }
        }
        JsonEdit::AddKey(k, v) => {
            if let Some(Value::Object(o)) = doc.pointer_mut(pointer) {
                o.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Edits of a text: the mutations of a fuzzer, on bytes, then read back as (lossy) UTF-8.
#[derive(Debug, Clone)]
enum TextEdit {
    Delete(Index, u8),
    Insert(Index, String),
    Byte(Index, u8),
    Copy(Index, Index, u8),
}

fn text_edit() -> impl Strategy<Value = TextEdit> {
    let piece = prop_oneof![
        prop::sample::select(vec![
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"",
            "\\",
            "null",
            "true",
            "0",
            "-",
            "1e999",
            "-1",
            "1.5",
            "NaN",
            "Infinity",
            "\\u0000",
            "\\ud800",
            "\\uDFFF",
            "\u{0}",
            "é",
            "🚀",
            "\"k\":1,",
            "\"boards\":",
            "\"pins\":[",
            "\"id\":",
            "\"tags\":[",
            "99999999999999999999999",
            "\"saved_at\":",
            "\"k\":",
            "[[[[[[[[",
            "{\"a\":{\"a\":",
        ])
        .prop_map(String::from),
        "\\PC{0,6}",
    ];
    prop_oneof![
        (any::<Index>(), 1u8..16).prop_map(|(i, n)| TextEdit::Delete(i, n)),
        (any::<Index>(), piece).prop_map(|(i, s)| TextEdit::Insert(i, s)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| TextEdit::Byte(i, b)),
        (any::<Index>(), any::<Index>(), 1u8..32).prop_map(|(a, b, n)| TextEdit::Copy(a, b, n)),
    ]
}

fn apply_text_edits(text: &str, edits: &[TextEdit]) -> String {
    let mut b = text.as_bytes().to_vec();
    for e in edits {
        let n = b.len().max(1);
        match e {
            TextEdit::Delete(i, k) => {
                let at = i.index(n).min(b.len());
                let end = (at + *k as usize).min(b.len());
                b.drain(at..end);
            }
            TextEdit::Insert(i, s) => {
                let at = i.index(n + 1).min(b.len());
                b.splice(at..at, s.bytes());
            }
            TextEdit::Byte(i, x) => {
                if !b.is_empty() {
                    let at = i.index(b.len());
                    b[at] = *x;
                }
            }
            TextEdit::Copy(from, to, k) => {
                if !b.is_empty() {
                    let a = from.index(b.len());
                    let piece = b[a..(a + *k as usize).min(b.len())].to_vec();
                    let at = to.index(b.len() + 1).min(b.len());
                    b.splice(at..at, piece);
                }
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

// ---------------------------------------------------------------------------------------------
// The bundle envelope (both kinds: src/bundle/mod.rs)
// ---------------------------------------------------------------------------------------------

/// Where a bundle's parts are: magic, u32 version, u32 header length (at 12), the JSON header,
/// zero padding to 64 bytes, the data region (sections at offsets the header names), trailer.
#[derive(Debug)]
struct Env {
    header: Value,
    header_end: usize,
    data_start: usize,
}

fn envelope(bytes: &[u8], magic: &[u8; 8]) -> Env {
    assert_eq!(&bytes[..8], magic, "bundle magic");
    let hlen = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let header_end = 16 + hlen;
    let header: Value = serde_json::from_slice(&bytes[16..header_end])
        .expect("the bundle header is JSON after a 16-byte prefix: update envelope() in tests/robustness.rs");
    Env { header, header_end, data_start: header_end.div_ceil(64) * 64 }
}

/// Where a section appended by [`rebuilt`] starts, relative to the data region.
fn appended_offset(bytes: &[u8], env: &Env) -> usize {
    (body(bytes).len() - env.data_start).div_ceil(64) * 64
}

/// The file with `header` instead of its own (re-padded) and `extra` appended to the data region
/// at [`appended_offset`], trailer recomputed: what a hostile writer can make.
fn rebuilt(bytes: &[u8], env: &Env, header: &Value, extra: Option<&[u8]>) -> Vec<u8> {
    let data = &body(bytes)[env.data_start..];
    let json = serde_json::to_vec(header).unwrap();
    let mut out = Vec::with_capacity(bytes.len() + json.len() + extra.map_or(0, |x| x.len()) + 256);
    out.extend_from_slice(&bytes[..12]);
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    out.resize(out.len().div_ceil(64) * 64, 0);
    let start = out.len();
    out.extend_from_slice(data);
    if let Some(x) = extra {
        out.resize(start + appended_offset(bytes, env), 0);
        out.extend_from_slice(x);
    }
    seal(out)
}

// ---------------------------------------------------------------------------------------------
// Catalog bundles
// ---------------------------------------------------------------------------------------------

const N_ITEMS: usize = 30;

fn fixture_items() -> Vec<ItemRecord> {
    let genres = ["Sci-Fi", "Comedy", "Drama", "Animation", "Thriller", "Documentary"];
    (0..N_ITEMS)
        .map(|i| ItemRecord {
            id: format!("item-{i}"),
            title: format!("Title {i} {}", ["", "é", "🚀 space", "東京"][i % 4]),
            description: if i % 3 == 0 { String::new() } else { format!("A story about {i} things") },
            tags: (0..i % 4).map(|t| genres[(i + t) % genres.len()].to_string()).collect(),
        })
        .collect()
}

fn fixture_boards() -> Vec<BoardRecord> {
    let ids = |v: &[usize]| v.iter().map(|i| format!("item-{i}")).collect::<Vec<_>>();
    let b = |user: &str, board: &str, items: &[usize]| BoardRecord { user: user.into(), board: board.into(), items: ids(items) };
    let mut boards = vec![
        b("u1", "Sci-Fi", &[0, 1, 2, 3, 4]),
        b("u2", "sci fi!", &[1, 2, 5, 6]),
        b("u3", "SCI FI", &[2, 3, 7]),
        b("u1", "Cozy reads", &[10, 11, 12, 13]),
        b("u4", "cozy  reads", &[11, 12, 14, 15, 16]),
        b("", "Thrillers", &[20, 21, 22]),
        b("u5", "thrillers", &[21, 22, 23, 24, 25, 26]),
        b("u6", "", &[27, 28, 29, 0]),
    ];
    boards[0].items.push("no-such-item".into());
    boards
}

fn fixture_vectors(dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng(seed);
    let mut v = Vec::with_capacity(N_ITEMS * dim);
    for _ in 0..N_ITEMS {
        let row: Vec<f32> = (0..dim).map(|_| rng.unit()).collect();
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
        v.extend(row.iter().map(|x| x / norm));
    }
    v
}

struct CatFixture {
    bytes: Vec<u8>,
    env: Env,
    dim: usize,
}

impl CatFixture {
    /// Section `name` of the header's table, as an absolute byte range.
    fn section(&self, name: &str) -> Option<Range<usize>> {
        let s = self.env.header.get("sections")?.get(name)?;
        let (o, l) = (s.get("offset")?.as_u64()? as usize, s.get("len")?.as_u64()? as usize);
        Some(self.env.data_start + o..self.env.data_start + o + l)
    }
    fn section_names(&self) -> Vec<String> {
        self.env.header["sections"].as_object().expect("header.sections: update CatFixture").keys().cloned().collect()
    }
}

/// The fitted-ranker section of the third fixture: the default knobs.
fn fitted_section() -> Vec<u8> {
    serde_json::to_vec(&edgerec::rank::FittedSection {
        format: edgerec::rank::FITTED_FORMAT,
        knobs: edgerec::rank::Knobs::default(),
        report: json!({"note": "test fixture"}),
    })
    .unwrap()
}

fn make_cat_fixture(dim: usize, fitted: bool) -> CatFixture {
    let vectors = fixture_vectors(dim, dim as u64);
    let (cat, report) =
        catalog::build(fixture_items(), &vectors, dim, &fixture_boards(), "model-x", &catalog::BuildOptions::default())
            .expect("the fixture catalog builds");
    assert_eq!(report.unknown_ids, 1);
    assert!(!cat.names().names.is_empty(), "the fixture should have a board-name table");
    let cat = if fitted { cat.with_ranker(Some(&fitted_section())).expect("with a fitted ranker") } else { cat };
    let bytes = cat.to_bytes();
    let env = envelope(&bytes, b"EDGERECC");
    let f = CatFixture { bytes, env, dim };
    for part in ["items", "names"] {
        assert!(f.section(part).is_some(), "the header names the items and names sections: update CatFixture");
        assert!(serde_json::from_slice::<Value>(&section_json(&f, part)).is_ok(), "the {part} section is no longer JSON");
    }
    f
}

/// The JSON of a JSON section (the items section inflated: format 6 deflates it).
fn section_json(f: &CatFixture, part: &str) -> Vec<u8> {
    let bytes = &f.bytes[f.section(part).expect("section")];
    if part != "items" {
        return bytes.to_vec();
    }
    let (len, stream) = bytes.split_at(8);
    let len = u64::from_le_bytes(len.try_into().unwrap()) as usize;
    miniz_oxide::inflate::decompress_to_vec_with_limit(stream, len).expect("the items section inflates")
}

/// A JSON section's bytes as the catalog stores them (the items deflated, after their length).
fn section_of_json(part: &str, json: &[u8]) -> Vec<u8> {
    if part != "items" {
        return json.to_vec();
    }
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend(miniz_oxide::deflate::compress_to_vec(json, 6));
    out
}

/// 0: dim 16; 1: dim 384; 2: dim 16 with a fitted-ranker section.
fn cat_fixture(which: usize) -> &'static CatFixture {
    static F: [OnceLock<CatFixture>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    F[which % 3].get_or_init(|| match which % 3 {
        0 => make_cat_fixture(16, false),
        1 => make_cat_fixture(384, false),
        _ => make_cat_fixture(16, true),
    })
}

fn pins_of(ids: &[String]) -> Vec<Pin> {
    ids.iter().map(|id| Pin { id: Some(id.clone()), ..Default::default() }).collect()
}

/// Uses a loaded catalog: a write/read round trip, the ranker (whose fitted section is read
/// here: invalid_catalog or Ok), and recommend calls (any result but a panic).
fn exercise_catalog(cat: Catalog) -> Result<(), TestCaseError> {
    // Whatever the loader accepts, the writer must write back loadably.
    let again = Catalog::from_bytes(&cat.to_bytes());
    prop_assert!(again.is_ok(), "a loaded catalog does not reload after to_bytes: {:?}", again.err());
    let n = cat.len();
    let ids: Vec<String> = (0..n.min(4)).map(|i| cat.id(i).to_string()).collect();
    let later: Vec<String> = (n.saturating_sub(3)..n).map(|i| cat.id(i).to_string()).collect();
    let name = cat.names().names.first().cloned().unwrap_or_else(|| "sci fi".into());
    let ranker = match Ranker::new(cat) {
        Ok(r) => r,
        Err(e) => {
            prop_assert_eq!(e.code(), "invalid_catalog", "Ranker::new: {}", e);
            return Ok(());
        }
    };
    let contexts = [
        BoardContext { boards: vec![Board { name: "Sci-Fi".into(), pins: pins_of(&ids) }], ..Default::default() },
        BoardContext {
            boards: vec![
                Board { name: name.clone(), pins: pins_of(&later) },
                Board { name: "other".into(), pins: pins_of(&["item-3".to_string(), "no-such-id".to_string()]) },
                Board { name: "cozy reads".into(), pins: vec![] },
            ],
            target_board: Some(name),
            k: Some(500),
            exclude: ids.clone(),
            diversity: Some(0.7),
            recency_half_life: Some(0.5),
        },
        BoardContext { boards: vec![Board { name: "thrillers".into(), pins: vec![] }], k: Some(3), ..Default::default() },
    ];
    for ctx in &contexts {
        if ctx.validate().is_ok() {
            let _ = ranker.recommend(None, ctx);
        }
    }
    Ok(())
}

fn check_catalog(bytes: &[u8]) -> Result<(), TestCaseError> {
    match Catalog::from_bytes(bytes) {
        Ok(cat) => exercise_catalog(cat),
        Err(e) => {
            prop_assert_eq!(e.code(), "invalid_catalog", "{}", e);
            Ok(())
        }
    }
}

/// The catalog with JSON part `part` ("header", or a JSON section: "items", "names", "ranker")
/// replaced: a section is appended and the header pointed at it; trailer recomputed.
fn cat_with_json(f: &CatFixture, part: &str, json: &[u8]) -> Vec<u8> {
    if part == "header" {
        let header: Value = serde_json::from_slice(json).unwrap_or(Value::Null);
        // An edited header that is not an object still goes in as it is.
        if header.is_null() {
            let mut out = f.bytes[..12].to_vec();
            out.extend_from_slice(&(json.len() as u32).to_le_bytes());
            out.extend_from_slice(json);
            out.resize(out.len().div_ceil(64) * 64, 0);
            out.extend_from_slice(&body(&f.bytes)[f.env.data_start..]);
            return seal(out);
        }
        return rebuilt(&f.bytes, &f.env, &header, None);
    }
    let bytes = section_of_json(part, json);
    let mut h = f.env.header.clone();
    h["sections"][part] = json!({ "offset": appended_offset(&f.bytes, &f.env), "len": bytes.len() });
    rebuilt(&f.bytes, &f.env, &h, Some(&bytes))
}

fn cat_json_part(f: &CatFixture, part: &str) -> Value {
    if part == "header" {
        return f.env.header.clone();
    }
    serde_json::from_slice(&section_json(f, part)).expect("JSON section")
}

#[test]
fn catalog_fixture_loads_and_recommends() {
    for which in 0..3 {
        let f = cat_fixture(which);
        let cat = Catalog::from_bytes(&f.bytes).expect("fixture loads");
        assert_eq!((cat.len(), cat.dim()), (N_ITEMS, f.dim));
        let ranker = Ranker::new(cat).expect("the fixture's ranker");
        let ctx = BoardContext {
            boards: vec![Board { name: "Sci-Fi".into(), pins: pins_of(&["item-1".into(), "item-2".into()]) }],
            k: Some(5),
            ..Default::default()
        };
        let want = ids_of(&ranker.recommend(None, &ctx).expect("the fixture recommends"));
        assert_eq!(want.len(), 5);
        // The helpers are faithful, or the edit properties test nothing.
        assert_eq!(seal(body(&f.bytes).to_vec()), f.bytes, "the trailer is XXH3-128 of the body");
        for bytes in [
            rebuilt(&f.bytes, &f.env, &f.env.header, None),
            cat_with_json(f, "header", &serde_json::to_vec(&f.env.header).unwrap()),
            cat_with_json(f, "items", &section_json(f, "items")),
            cat_with_json(f, "names", &section_json(f, "names")),
        ] {
            let r = Ranker::new(Catalog::from_bytes(&bytes).expect("a faithful rebuild loads")).unwrap();
            assert_eq!(ids_of(&r.recommend(None, &ctx).unwrap()), want);
        }
    }
    assert!(cat_fixture(2).section("ranker").is_some(), "fixture 2 has a fitted-ranker section");
}

fn ids_of(r: &edgerec::rank::Recommendations) -> Vec<String> {
    r.items.iter().map(|i| i.id.clone()).collect()
}

proptest! {
    #![proptest_config(config(1500))]

    /// Cut anywhere: always an error (the checksum or the magic cannot match).
    #[test]
    fn catalog_truncated_anywhere_is_invalid_catalog(which in 0usize..3, cut in any::<Index>()) {
        let f = cat_fixture(which);
        let bytes = &f.bytes[..cut.index(f.bytes.len())];
        let r = Catalog::from_bytes(bytes);
        prop_assert!(r.is_err(), "a bundle cut at {} of {} bytes loaded", bytes.len(), f.bytes.len());
        prop_assert_eq!(r.err().unwrap().code(), "invalid_catalog");
    }

    /// Cut anywhere and resealed (a valid trailer over the shorter body): the parser proper
    /// must notice every missing byte (the last section ends the file).
    #[test]
    fn catalog_truncated_and_resealed_is_invalid_catalog(which in 0usize..3, cut in any::<Index>()) {
        let f = cat_fixture(which);
        let b = body(&f.bytes);
        let bytes = seal(b[..cut.index(b.len())].to_vec());
        let r = Catalog::from_bytes(&bytes);
        prop_assert!(r.is_err(), "a resealed bundle cut at {} of {} body bytes loaded", bytes.len() - DIGEST, b.len());
        prop_assert_eq!(r.err().unwrap().code(), "invalid_catalog");
    }

    /// Bit flips anywhere, trailer left as it was (the checksum should catch them).
    #[test]
    fn catalog_bit_flips_are_invalid_catalog(which in 0usize..3, flips in prop::collection::vec((any::<Index>(), 0u8..8), 1..4)) {
        let f = cat_fixture(which);
        let mut bytes = f.bytes.clone();
        for (at, bit) in &flips {
            let pos = at.index(bytes.len());
            flip(&mut bytes, pos, *bit);
        }
        let r = Catalog::from_bytes(&bytes);
        prop_assert!(r.is_err(), "a corrupt bundle passed the checksum");
        prop_assert_eq!(r.err().unwrap().code(), "invalid_catalog");
    }

    /// Bit flips in the header, the header length, a section, or anywhere, trailer recomputed.
    #[test]
    fn catalog_bit_flips_resealed(
        which in 0usize..3,
        region in 0u8..4,
        flips in prop::collection::vec((any::<Index>(), 0u8..8), 1..4),
    ) {
        let f = cat_fixture(which);
        let names = f.section_names();
        let mut b = body(&f.bytes).to_vec();
        for (at, bit) in &flips {
            let pos = match region {
                0 => at.index(f.env.header_end),
                1 => 12 + at.index(4),
                2 => {
                    let r = f.section(&names[at.index(names.len())]).unwrap();
                    if r.is_empty() { r.start } else { r.start + at.index(r.len()) }
                }
                _ => at.index(b.len()),
            };
            flip(&mut b, pos, *bit);
        }
        check_catalog(&seal(b))?;
    }

    /// Byte overwrites (random bytes, 1..16 of them) in the header or anywhere, trailer recomputed.
    #[test]
    fn catalog_overwrites_resealed(
        which in 0usize..3,
        in_header in any::<bool>(),
        at in any::<Index>(),
        value in prop::collection::vec(any::<u8>(), 1..16),
    ) {
        let f = cat_fixture(which);
        let mut b = body(&f.bytes).to_vec();
        let pos = if in_header { at.index(f.env.header_end) } else { at.index(b.len()) };
        overwrite(&mut b, pos, &value);
        check_catalog(&seal(b))?;
    }

    /// u32/u64 huge values written at random positions, trailer recomputed.
    #[test]
    fn catalog_huge_values_at_random_positions(which in 0usize..3, in_header in any::<bool>(), at in any::<Index>(), value in huge_value()) {
        let f = cat_fixture(which);
        let mut b = body(&f.bytes).to_vec();
        let pos = if in_header { at.index(f.env.header_end) } else { at.index(b.len()) };
        overwrite(&mut b, pos, &value);
        check_catalog(&seal(b))?;
    }

    /// The header length field set to a near miss or a huge value: always an error.
    #[test]
    fn catalog_header_length_field(which in 0usize..3, pick in any::<u8>()) {
        let f = cat_fixture(which);
        let mut b = body(&f.bytes).to_vec();
        let hlen = u32::from_le_bytes(b[12..16].try_into().unwrap()) as u64;
        let v = length_like(hlen, b.len() as u64, pick) as u32;
        overwrite(&mut b, 12, &v.to_le_bytes());
        let bytes = seal(b);
        if v as u64 != hlen {
            let r = Catalog::from_bytes(&bytes);
            prop_assert!(r.is_err(), "the header length set from {hlen} to {v} still loads");
        }
        check_catalog(&bytes)?;
    }

    /// A section's offset or length (in the header's table) set to a near miss or a huge value,
    /// header re-laid out and trailer recomputed.
    #[test]
    fn catalog_section_table_lengths(which in 0usize..3, section in any::<Index>(), len_field in any::<bool>(), pick in any::<u8>()) {
        let f = cat_fixture(which);
        let names = f.section_names();
        let name = &names[section.index(names.len())];
        let field = if len_field { "len" } else { "offset" };
        let mut h = f.env.header.clone();
        let old = h["sections"][name][field].as_u64().unwrap();
        let data_len = (body(&f.bytes).len() - f.env.data_start) as u64;
        h["sections"][name][field] = json!(length_like(old, data_len, pick));
        check_catalog(&rebuilt(&f.bytes, &f.env, &h, None))?;
    }

    /// Bytes appended after the trailer (an error), or to the data region with the trailer
    /// recomputed (harmless: nothing points there).
    #[test]
    fn catalog_appended_bytes(which in 0usize..3, reseal in any::<bool>(), extra in prop::collection::vec(any::<u8>(), 1..64)) {
        let f = cat_fixture(which);
        if reseal {
            let mut b = body(&f.bytes).to_vec();
            b.extend_from_slice(&extra);
            check_catalog(&seal(b))?;
        } else {
            let mut b = f.bytes.clone();
            b.extend_from_slice(&extra);
            let r = Catalog::from_bytes(&b);
            prop_assert!(r.is_err(), "a bundle with {} bytes after its trailer loaded", extra.len());
            prop_assert_eq!(r.err().unwrap().code(), "invalid_catalog");
        }
    }

    /// The JSON parts (header with its section table, items, names, the fitted ranker) edited as
    /// a hostile writer would, re-laid out and resealed: the checks after the checksum are all
    /// that stands, and the ranker reads its section too.
    #[test]
    fn catalog_json_parts_edited(
        which in 0usize..3,
        part in prop::sample::select(vec!["header", "items", "names", "ranker"]),
        edits in prop::collection::vec((any::<Index>(), json_edit()), 1..4),
    ) {
        let f = cat_fixture(if part == "ranker" { 2 } else { which });
        let mut doc = cat_json_part(f, part);
        for (at, edit) in &edits {
            let ptrs = pointers(&doc, &|_: &str| true);
            let p = ptrs[at.index(ptrs.len())].clone();
            apply_edit(&mut doc, &p, edit);
        }
        check_catalog(&cat_with_json(f, part, &serde_json::to_vec(&doc).unwrap()))?;
    }

    /// The items section's deflate stream cut, bit-flipped or replaced by random bytes, under
    /// its stated length or another: an `invalid_catalog` error or a catalog that works.
    #[test]
    fn catalog_items_section_deflate_stream_damaged(
        which in 0usize..3,
        cut in any::<Index>(),
        flips in prop::collection::vec((any::<Index>(), 0u8..8), 0..4),
        random in prop::option::weighted(0.2, prop::collection::vec(any::<u8>(), 0..256)),
        stated in prop::option::weighted(0.3, any::<u64>()),
    ) {
        let f = cat_fixture(which);
        let mut items = f.bytes[f.section("items").unwrap()].to_vec();
        if let Some(random) = random {
            items.truncate(8);
            items.extend(random);
        }
        if items.len() > 8 {
            for (at, bit) in &flips {
                let i = 8 + at.index(items.len() - 8);
                items[i] ^= 1 << bit;
            }
        }
        let keep = 8 + cut.index(items.len() - 7);
        items.truncate(keep.min(items.len()));
        if let Some(stated) = stated {
            items[..8].copy_from_slice(&stated.to_le_bytes());
        }
        let mut h = f.env.header.clone();
        h["sections"]["items"] = json!({ "offset": appended_offset(&f.bytes, &f.env), "len": items.len() });
        check_catalog(&rebuilt(&f.bytes, &f.env, &h, Some(&items)))?;
    }

    /// Random JSON (and random bytes) as the fitted-ranker section.
    #[test]
    fn catalog_ranker_section_random(v in arb_json(), raw in prop::option::weighted(0.2, prop::collection::vec(any::<u8>(), 0..64))) {
        let f = cat_fixture(2);
        let bytes = raw.unwrap_or_else(|| serde_json::to_vec(&v).unwrap());
        check_catalog(&cat_with_json(f, "ranker", &bytes))?;
    }
}

/// Adversarial contents of the same length for the binary sections (vectors, scales,
/// popularity, neighbours): non-finite floats, out-of-range indices, unsorted offsets.
#[derive(Debug, Clone)]
enum Word {
    F32(f32),
    U32(u32),
}

fn evil_word() -> impl Strategy<Value = Word> {
    prop_oneof![
        prop::sample::select(vec![
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            f32::MIN,
            -0.0,
            0.0,
            f32::MIN_POSITIVE,
            1e-45,
            -1.0,
            1e30,
        ])
        .prop_map(Word::F32),
        prop::sample::select(vec![0u32, 1, 29, 30, 31, u32::MAX, u32::MAX - 1, 1 << 31, 1000]).prop_map(Word::U32),
        any::<u32>().prop_map(Word::U32),
    ]
}

const BINARY_SECTIONS: [&str; 6] = ["vectors", "scales", "popularity", "nbr_offsets", "nbr_packed", "nbr_scales"];

proptest! {
    #![proptest_config(config(1500))]

    #[test]
    fn catalog_binary_sections_with_hostile_words(
        which in 0usize..3,
        words in prop::collection::vec((prop::sample::select(BINARY_SECTIONS.to_vec()), any::<Index>(), evil_word()), 1..4),
    ) {
        let f = cat_fixture(which);
        let mut b = body(&f.bytes).to_vec();
        for (s, at, w) in &words {
            let r = f.section(s).unwrap_or_else(|| panic!("the header names no {s} section: update BINARY_SECTIONS"));
            if r.len() < 4 {
                continue;
            }
            let pos = r.start + at.index(r.len() / 4) * 4;
            let v = match w { Word::F32(x) => x.to_le_bytes(), Word::U32(x) => x.to_le_bytes() };
            overwrite(&mut b, pos, &v);
        }
        check_catalog(&seal(b))?;
    }
}

// ---------------------------------------------------------------------------------------------
// Edge model bundles
// ---------------------------------------------------------------------------------------------

/// Where an edge bundle's parts are.
struct EdgeLayout {
    env: Env,
    /// The tokenizer's bytes in the file.
    tokenizer: Range<usize>,
    /// The tokenizer's JSON.
    tokenizer_json: Value,
}

fn edge_bytes() -> &'static [u8] {
    common::default_edge_bundle()
}

fn edge_layout() -> &'static EdgeLayout {
    static L: OnceLock<EdgeLayout> = OnceLock::new();
    L.get_or_init(|| {
        let b = edge_bytes();
        let env = envelope(b, b"EDGERECM");
        let tok = env.header["tokenizer"].as_array().expect("header.tokenizer is [offset, length]: update edge_layout");
        let (at, len) = (tok[0].as_u64().unwrap() as usize, tok[1].as_u64().unwrap() as usize);
        let tokenizer = env.data_start + at..env.data_start + at + len;
        let tokenizer_json: Value = serde_json::from_slice(&b[tokenizer.clone()]).expect("the tokenizer is JSON");
        EdgeLayout { env, tokenizer, tokenizer_json }
    })
}

/// A bundle with another header and optionally another tokenizer (appended to the data region,
/// the header pointing at it), trailer recomputed: what a hostile writer can make.
fn edge_rebuilt(header: &Value, tokenizer: Option<&[u8]>) -> Vec<u8> {
    let (b, l) = (edge_bytes(), edge_layout());
    let mut h = header.clone();
    if let Some(t) = tokenizer {
        h["tokenizer"] = json!([appended_offset(b, &l.env), t.len()]);
    }
    rebuilt(b, &l.env, &h, tokenizer)
}

const PROBE_TEXTS: [&str; 3] = ["a text", "Astronauts stranded on Mars [UNK] [CLS] é 東京 🚀 ##ing", ""];

/// Loads a (mutated) edge bundle: `Ok`, or invalid_model / invalid_tokenizer; what loads must
/// embed without panicking.
fn check_edge(bytes: Vec<u8>) -> Result<(), TestCaseError> {
    match EdgeEncoder::from_bytes(bytes) {
        Ok(enc) => {
            let _ = enc.embed(&["a text"]);
            let _ = enc.embed(&PROBE_TEXTS);
            for t in PROBE_TEXTS {
                let _ = enc.tokenize(t);
            }
            Ok(())
        }
        Err(e) => {
            prop_assert!(matches!(e.code(), "invalid_model" | "invalid_tokenizer"), "unexpected error code {:?}: {e}", e.code());
            Ok(())
        }
    }
}

#[test]
fn edge_fixture_loads_and_its_rebuild_is_equivalent() {
    let l = edge_layout();
    let enc = EdgeEncoder::from_bytes(edge_bytes().to_vec()).expect("the default edge bundle loads");
    let want = enc.embed(&["a text"]).unwrap();
    // The rebuild helper itself must be faithful, or the edit properties test nothing.
    let same = EdgeEncoder::from_bytes(edge_rebuilt(&l.env.header, None)).expect("rebuilt bundle loads");
    assert_eq!(same.embed(&["a text"]).unwrap(), want);
    let tok = serde_json::to_vec(&l.tokenizer_json).unwrap();
    let moved = EdgeEncoder::from_bytes(edge_rebuilt(&l.env.header, Some(&tok))).expect("moved tokenizer loads");
    assert_eq!(moved.embed(&["a text"]).unwrap(), want);
}

/// Pointers of the tokenizer's nodes outside the 30k-entry vocabulary (settings, added tokens,
/// normalizer, pre-tokenizer, post-processor, decoder, model parameters).
fn tokenizer_setting_pointers() -> &'static [String] {
    static P: OnceLock<Vec<String>> = OnceLock::new();
    P.get_or_init(|| pointers(&edge_layout().tokenizer_json, &|p: &str| !p.starts_with("/model/vocab/")))
}

/// Vocabulary entries to edit: the probe texts' tokens first.
fn vocab_token() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["a", "text", "[CLS]", "[SEP]", "[UNK]", "[PAD]", "[MASK]", "##s", "the", "mars"]).prop_map(String::from),
        1 => any::<Index>().prop_map(|i| {
            let vocab = edge_layout().tokenizer_json["model"]["vocab"].as_object().expect("WordPiece vocab");
            vocab.keys().nth(i.index(vocab.len())).unwrap().clone()
        }),
    ]
}

fn vocab_id() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            json!(30521),
            json!(30522),
            json!(30523),
            json!(100_000),
            json!(u32::MAX),
            json!(u32::MAX as u64 + 1),
            json!(u64::MAX),
            json!(-1),
            json!(0),
            json!(101),
            json!(102),
            json!(1.5),
            json!("7"),
            Value::Null,
        ]),
        any::<u32>().prop_map(|x| json!(x)),
    ]
}

/// A header whose config and tensor table agree on a huge size (so the shape checks pass and
/// only the size arithmetic and the bounds stand): invalid_model, never an overflow or a panic.
#[test]
fn edge_consistent_huge_sizes_are_invalid_model() {
    let l = edge_layout();
    let hidden = l.env.header["config"]["hidden_size"].as_u64().unwrap();
    for v in [(1u64 << 32) / hidden + 1, 1 << 26, u32::MAX as u64, 1 << 32, u64::MAX / hidden + 1, u64::MAX] {
        for (field, prefix) in [("vocab_size", "embeddings.word."), ("max_positions", "embeddings.position")] {
            let mut h = l.env.header.clone();
            h["config"][field] = json!(v);
            for t in h["tensors"].as_array_mut().unwrap() {
                if t["name"].as_str().unwrap().starts_with(prefix) {
                    t["shape"][0] = json!(v);
                }
            }
            let r = EdgeEncoder::from_bytes(edge_rebuilt(&h, None));
            assert_eq!(r.as_ref().err().map(|e| e.code()), Some("invalid_model"), "{field} = {v}: {:?}", r.err());
        }
    }
}

/// src/encoder/text.rs promises that "a tokenizer that can emit ids beyond [the embedding table]
/// is refused here rather than failing on some rare text later". A vocabulary entry (or an added
/// token) whose id is at or past `vocab_size`, with the entry count unchanged, must therefore be
/// refused at load (invalid_model / invalid_tokenizer), not load and fail at embed time.
#[test]
fn edge_tokenizer_ids_beyond_the_embedding_table_are_refused_at_load() {
    let l = edge_layout();
    let vocab_size = l.env.header["config"]["vocab_size"].as_u64().unwrap();
    let mut failures = Vec::new();
    for (token, id) in [("a", vocab_size), ("a", vocab_size + 1000), ("text", u32::MAX as u64), ("[SEP]", vocab_size)] {
        let mut t = l.tokenizer_json.clone();
        t["model"]["vocab"][token] = json!(id);
        // Keep added_tokens consistent with the vocabulary when the token is one of them.
        if let Some(added) = t["added_tokens"].as_array_mut() {
            for a in added.iter_mut().filter(|a| a["content"] == token) {
                a["id"] = json!(id);
            }
        }
        let bytes = edge_rebuilt(&l.env.header, Some(&serde_json::to_vec(&t).unwrap()));
        match EdgeEncoder::from_bytes(bytes) {
            Err(e) => assert!(matches!(e.code(), "invalid_model" | "invalid_tokenizer"), "{token} -> {id}: {e}"),
            Ok(enc) => failures.push(format!(
                "vocab[{token:?}] = {id} (vocab_size {vocab_size}) loads; embed([{token:?}]) then gives {:?}",
                enc.embed(&[token]).map(|v| v.len()).map_err(|e| format!("{}: {e}", e.code()))
            )),
        }
    }
    assert!(failures.is_empty(), "token ids beyond the embedding table are not refused at load:\n{}", failures.join("\n"));
}

/// The same contract for the f32 model folder (same tokenizer loader, candle's embedding
/// lookup): refused at load, and in any case never a panic at embed.
#[test]
fn f32_tokenizer_ids_beyond_the_embedding_table_are_refused_at_load() {
    let files = common::model_files();
    let tok: Value = serde_json::from_slice(&files.tokenizer).unwrap();
    let cfg: Value = serde_json::from_slice(&files.config).unwrap();
    let vocab_size = cfg["vocab_size"].as_u64().unwrap();
    let mut failures = Vec::new();
    for (token, id) in [("a", vocab_size), ("[SEP]", vocab_size + 7)] {
        let mut t = tok.clone();
        t["model"]["vocab"][token] = json!(id);
        if let Some(added) = t["added_tokens"].as_array_mut() {
            for a in added.iter_mut().filter(|a| a["content"] == token) {
                a["id"] = json!(id);
            }
        }
        let mut f = files.clone();
        f.tokenizer = serde_json::to_vec(&t).unwrap();
        match edgerec::BertEncoder::from_files(&f) {
            Err(e) => assert!(matches!(e.code(), "invalid_model" | "invalid_tokenizer"), "{token} -> {id}: {e}"),
            Ok(enc) => {
                // (candle's message carries a backtrace: its first line is enough.)
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    enc.embed(&[token])
                        .map(|v| v.len())
                        .map_err(|e| format!("{}: {}", e.code(), e.to_string().lines().next().unwrap_or("")))
                }));
                failures.push(format!(
                    "vocab[{token:?}] = {id} (vocab_size {vocab_size}) loads; embed([{token:?}]) then {}",
                    match r {
                        Ok(r) => format!("gives {r:?}"),
                        Err(p) => format!(
                            "PANICS: {:?}",
                            p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        ),
                    }
                ));
            }
        }
    }
    assert!(failures.is_empty(), "token ids beyond the embedding table are not refused at load:\n{}", failures.join("\n"));
}

proptest! {
    #![proptest_config(cfg_model(24))]

    #[test]
    fn edge_truncated_anywhere_is_invalid_model(cut in any::<Index>()) {
        let b = edge_bytes();
        let r = EdgeEncoder::from_bytes(b[..cut.index(b.len())].to_vec());
        prop_assert!(r.is_err(), "an edge bundle cut at {} loaded", cut.index(b.len()));
        prop_assert_eq!(r.err().unwrap().code(), "invalid_model");
    }

    #[test]
    fn edge_truncated_and_resealed(near_header in any::<bool>(), cut in any::<Index>()) {
        let b = body(edge_bytes());
        let l = edge_layout();
        let at = if near_header { cut.index(l.env.data_start + 4096) } else { cut.index(b.len()) };
        let r = EdgeEncoder::from_bytes(seal(b[..at].to_vec()));
        prop_assert!(r.is_err(), "an edge bundle cut at {at} and resealed loaded");
        let e = r.err().unwrap();
        prop_assert!(matches!(e.code(), "invalid_model" | "invalid_tokenizer"), "{}: {e}", e.code());
    }

    #[test]
    fn edge_bit_flips_unsealed(flips in prop::collection::vec((any::<Index>(), 0u8..8), 1..3)) {
        let mut b = edge_bytes().to_vec();
        for (at, bit) in &flips {
            let n = b.len();
            flip(&mut b, at.index(n), *bit);
        }
        check_edge(b)?;
    }

    #[test]
    fn edge_appended_bytes(reseal in any::<bool>(), extra in prop::collection::vec(any::<u8>(), 1..64)) {
        let b = if reseal {
            let mut b = body(edge_bytes()).to_vec();
            b.extend_from_slice(&extra);
            seal(b)
        } else {
            let mut b = edge_bytes().to_vec();
            b.extend_from_slice(&extra);
            b
        };
        check_edge(b)?;
    }
}

proptest! {
    #![proptest_config(cfg_model(64))]

    /// Flips with the trailer recomputed: in the header (fixed fields and JSON), the tokenizer,
    /// or anywhere (mostly weights).
    #[test]
    fn edge_bit_flips_resealed(region in 0u8..3, flips in prop::collection::vec((any::<Index>(), 0u8..8), 1..4)) {
        let l = edge_layout();
        let mut b = body(edge_bytes()).to_vec();
        for (at, bit) in &flips {
            let pos = match region {
                0 => at.index(l.env.header_end),
                1 => l.tokenizer.start + at.index(l.tokenizer.len()),
                _ => at.index(b.len()),
            };
            flip(&mut b, pos, *bit);
        }
        check_edge(seal(b))?;
    }

    /// Huge u32/u64 values over the header (the header length at 12..16 included), or anywhere.
    #[test]
    fn edge_huge_values_resealed(anywhere in any::<bool>(), at in any::<Index>(), value in huge_value()) {
        let l = edge_layout();
        let mut b = body(edge_bytes()).to_vec();
        let pos = if anywhere { at.index(b.len()) } else { 8 + at.index(l.env.header_end - 8) };
        overwrite(&mut b, pos, &value);
        check_edge(seal(b))?;
    }

    /// The header length field itself set to near misses and huge values.
    #[test]
    fn edge_header_length_field(pick in any::<u8>()) {
        let mut b = body(edge_bytes()).to_vec();
        let hlen = u32::from_le_bytes(b[12..16].try_into().unwrap()) as u64;
        let v = length_like(hlen, b.len() as u64, pick) as u32;
        overwrite(&mut b, 12, &v.to_le_bytes());
        check_edge(seal(b))?;
    }

    /// The JSON header edited (config, tensor table, tokenizer place), re-laid out and resealed.
    #[test]
    fn edge_header_json_edited(edits in prop::collection::vec((any::<Index>(), json_edit()), 1..3)) {
        let mut h = edge_layout().env.header.clone();
        for (at, edit) in &edits {
            let ptrs = pointers(&h, &|_: &str| true);
            let p = ptrs[at.index(ptrs.len())].clone();
            apply_edit(&mut h, &p, edit);
        }
        check_edge(edge_rebuilt(&h, None))?;
    }

    /// tokenizer.json's settings edited (normalizer, pre-tokenizer, post-processor, added
    /// tokens, model parameters), the bundle re-laid out and resealed.
    #[test]
    fn edge_tokenizer_settings_edited(edits in prop::collection::vec((any::<Index>(), json_edit()), 1..3)) {
        let l = edge_layout();
        let mut t = l.tokenizer_json.clone();
        for (at, edit) in &edits {
            let ptrs = tokenizer_setting_pointers();
            let p = &ptrs[at.index(ptrs.len())];
            if t.pointer(p).is_some() {
                apply_edit(&mut t, p, edit);
            }
        }
        check_edge(edge_rebuilt(&l.env.header, Some(&serde_json::to_vec(&t).unwrap())))?;
    }

    /// Vocabulary ids edited (beyond the embedding table, negative, duplicated, not numbers),
    /// tokens removed or added: ids the model cannot look up must be refused at load or be an
    /// error at embed, never an out-of-bounds panic.
    #[test]
    fn edge_tokenizer_vocab_edited(
        edits in prop::collection::vec((vocab_token(), prop::option::weighted(0.85, vocab_id())), 1..4),
        new_tokens in prop::collection::vec(("[a-z]{1,6}", vocab_id()), 0..3),
    ) {
        let l = edge_layout();
        let mut t = l.tokenizer_json.clone();
        let vocab = t["model"]["vocab"].as_object_mut().expect("WordPiece vocab");
        for (token, id) in &edits {
            match id {
                Some(id) => { vocab.insert(token.clone(), id.clone()); }
                None => { vocab.remove(token); }
            }
        }
        for (token, id) in &new_tokens {
            vocab.insert(format!("zz{token}"), id.clone());
        }
        check_edge(edge_rebuilt(&l.env.header, Some(&serde_json::to_vec(&t).unwrap())))?;
    }
}

// ---------------------------------------------------------------------------------------------
// Board contexts
// ---------------------------------------------------------------------------------------------

/// The ranker the context properties send valid contexts to.
fn context_ranker() -> &'static Ranker {
    static R: OnceLock<Ranker> = OnceLock::new();
    R.get_or_init(|| Ranker::new(Catalog::from_bytes(&cat_fixture(0).bytes).unwrap()).unwrap())
}

const CONTEXT_CODES: [&str; 2] = ["invalid_input", "limit_exceeded"];

/// Decodes a context text through every entry point: `BoardContext::from_json` (the text entry:
/// limits while decoding), `BoardContext::from_value` of the parsed value (the route of a JS
/// value), and plain serde. Every decode is Ok or invalid_input / limit_exceeded; what decodes
/// is validated (the same codes) and, when valid, recommended from (no panic, the same codes, or
/// encoder_unavailable for text pins: there is no encoder).
fn check_context_text(text: &str) -> Result<(), TestCaseError> {
    let mut decoded = Vec::new();
    let direct = BoardContext::from_json(text);
    expect_codes(&direct, &CONTEXT_CODES, "BoardContext::from_json")?;
    decoded.extend(direct.ok());
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        let via_value = BoardContext::from_value(v);
        expect_codes(&via_value, &CONTEXT_CODES, "BoardContext::from_value")?;
        decoded.extend(via_value.ok());
    }
    match serde_json::from_str::<BoardContext>(text) {
        Err(e) => prop_assert!(!e.is_io(), "{e}"),
        Ok(ctx) => decoded.push(ctx),
    }
    for ctx in decoded {
        let r = ctx.validate();
        expect_codes(&r, &CONTEXT_CODES, "validate")?;
        if r.is_ok() {
            // No encoder here: a text pin is encoder_unavailable.
            let out = context_ranker().recommend(None, &ctx);
            expect_codes(&out, &["invalid_input", "limit_exceeded", "encoder_unavailable"], "recommend")?;
        }
    }
    Ok(())
}

/// A field value: usually of the right type, sometimes anything.
fn or_junk<S: Strategy<Value = Value> + 'static>(good: S) -> BoxedStrategy<Value> {
    prop_oneof![5 => good, 1 => arb_json()].boxed()
}

fn short_text() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => "[ -~]{0,16}".prop_map(Value::String),
        1 => "\\PC{0,8}".prop_map(Value::String),
        1 => (4090usize..4100, prop::sample::select(vec!["a", "é", "東", "🚀"])).prop_map(|(n, c)| {
            let mut s = c.repeat(n / c.len());
            while s.len() < n { s.push('a'); }
            Value::String(s)
        }),
    ]
    .boxed()
}

fn arb_pin() -> BoxedStrategy<Value> {
    let id = or_junk(prop_oneof![4 => (0usize..40).prop_map(|i| json!(format!("item-{i}"))), 1 => short_text()]);
    let tags = or_junk(prop::collection::vec(short_text(), 0..4).prop_map(Value::Array));
    let saved = or_junk(prop_oneof![
        any::<i32>().prop_map(|x| json!(x)),
        any::<f64>().prop_filter_map("finite", |x| serde_json::Number::from_f64(x).map(Value::Number))
    ]);
    (
        prop::option::weighted(0.8, id),
        prop::option::weighted(0.3, or_junk(short_text())),
        prop::option::weighted(0.1, or_junk(short_text())),
        prop::option::weighted(0.2, tags),
        prop::option::weighted(0.3, saved),
        prop::option::weighted(0.03, (json_key(), arb_json())),
    )
        .prop_map(|(id, title, description, tags, saved_at, extra)| {
            let mut o = serde_json::Map::new();
            for (k, v) in [("id", id), ("title", title), ("description", description), ("tags", tags), ("saved_at", saved_at)] {
                if let Some(v) = v {
                    o.insert(k.into(), v);
                }
            }
            if let Some((k, v)) = extra {
                o.insert(k, v);
            }
            Value::Object(o)
        })
        .boxed()
}

fn arb_board() -> BoxedStrategy<Value> {
    let name = or_junk(prop_oneof![
        prop::sample::select(vec!["Sci-Fi", "cozy reads", "thrillers", "", " "]).prop_map(|s| json!(s)),
        short_text()
    ]);
    (
        prop::option::weighted(0.9, name),
        prop::option::weighted(0.95, or_junk(prop::collection::vec(arb_pin(), 0..6).prop_map(Value::Array))),
    )
        .prop_map(|(name, pins)| {
            let mut o = serde_json::Map::new();
            if let Some(n) = name {
                o.insert("name".into(), n);
            }
            if let Some(p) = pins {
                o.insert("pins".into(), p);
            }
            Value::Object(o)
        })
        .boxed()
}

/// Context-shaped values: mostly the right structure, wrong types and values here and there.
fn arb_context() -> BoxedStrategy<Value> {
    let num = || {
        or_junk(prop_oneof![
            (-2i64..600).prop_map(|x| json!(x)),
            prop::sample::select(vec![0.0, 0.5, 1.0, 1.5, -0.5, 1e-40, 1e39, 1e308, -1e308]).prop_map(|x| json!(x)),
            Just(json!(u64::MAX)),
        ])
    };
    (
        prop::option::weighted(0.95, or_junk(prop::collection::vec(arb_board(), 0..4).prop_map(Value::Array))),
        prop::option::weighted(0.3, or_junk(prop::sample::select(vec!["Sci-Fi", "cozy reads", "nope"]).prop_map(|s| json!(s)))),
        prop::option::weighted(0.3, num()),
        prop::option::weighted(0.2, or_junk(prop::collection::vec(short_text(), 0..4).prop_map(Value::Array))),
        prop::option::weighted(0.2, num()),
        prop::option::weighted(0.2, num()),
        prop::option::weighted(0.05, (json_key(), arb_json())),
    )
        .prop_map(|(boards, target, k, exclude, diversity, half_life, extra)| {
            let mut o = serde_json::Map::new();
            for (key, v) in [
                ("boards", boards),
                ("target_board", target),
                ("k", k),
                ("exclude", exclude),
                ("diversity", diversity),
                ("recency_half_life", half_life),
            ] {
                if let Some(v) = v {
                    o.insert(key.into(), v);
                }
            }
            if let Some((k, v)) = extra {
                o.insert(k, v);
            }
            Value::Object(o)
        })
        .boxed()
}

const VALID_CONTEXTS: [&str; 3] = [
    r#"{"boards":[{"name":"Sci-Fi","pins":[{"id":"item-1"},{"id":"item-2","saved_at":3.5},{"title":"space","tags":["a","b"]}]},{"name":"cozy reads","pins":[]}],"target_board":"Sci-Fi","k":5,"exclude":["item-3"],"diversity":0.3,"recency_half_life":2.0}"#,
    r#"{"boards":[{"name":"thrillers","pins":[{"id":"item-20","title":"t","description":"d","tags":["x"],"saved_at":1}]}]}"#,
    r#"{"boards":[{"name":"","pins":[{"id":"item-0"},{"id":"item-1"},{"id":"no such"}]}],"k":500}"#,
];

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn context_random_json_values(v in arb_json()) {
        check_context_text(&v.to_string())?;
    }

    #[test]
    fn context_shaped_values(v in arb_context()) {
        check_context_text(&v.to_string())?;
    }

    #[test]
    fn context_text_mutations(base in 0usize..VALID_CONTEXTS.len(), edits in prop::collection::vec(text_edit(), 1..6)) {
        check_context_text(&apply_text_edits(VALID_CONTEXTS[base], &edits))?;
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// A string field at, just under and just over the 4 KiB limit (in bytes, multi-byte
    /// characters included): exactly the fields over the limit are limit_exceeded.
    #[test]
    fn context_field_limits_are_exact(
        field in 0usize..5,
        len in (MAX_FIELD_BYTES - 8)..(MAX_FIELD_BYTES + 8),
        ch in prop::sample::select(vec!["a", "é", "東", "🚀"]),
    ) {
        let mut s = ch.repeat(len / ch.len());
        while s.len() < len { s.push('b'); }
        let mut pin = json!({"id": "item-1"});
        let mut name = json!("board");
        match field {
            0 => name = json!(s),
            1 => pin["id"] = json!(s),
            2 => pin["title"] = json!(s),
            3 => pin["description"] = json!(s),
            _ => pin["tags"] = json!(["ok", s]),
        }
        let text = json!({"boards": [{"name": name, "pins": [pin]}]}).to_string();
        let ctx: BoardContext = serde_json::from_str(&text).unwrap();
        let r = ctx.validate();
        if len > MAX_FIELD_BYTES {
            prop_assert!(r.is_err(), "a {len}-byte field {field} passed validation");
            prop_assert_eq!(r.err().unwrap().code(), "limit_exceeded");
        } else {
            prop_assert!(r.is_ok(), "a {len}-byte field {field} was refused: {:?}", r.err());
        }
        check_context_text(&text)?;
    }
}

/// Deep nesting in every place of a context, as text: invalid_input, never a stack overflow
/// (on a 1 MiB stack, like wasm's).
#[test]
fn context_deep_nesting_is_an_error_not_a_stack_overflow() {
    on_small_stack(|| {
        let places: [(&str, &str); 8] = [
            ("", ""),
            (r#"{"boards":"#, "}"),
            (r#"{"boards":[{"name":"x","pins":"#, "}]}"),
            (r#"{"boards":[{"name":"x","pins":[{"id":"item-1","tags":"#, "}]}]}"),
            (r#"{"boards":[{"name":"x","pins":[{"id":"item-1"}]}],"exclude":"#, "}"),
            (r#"{"boards":[{"name":"x","pins":[{"id":"item-1"}]}],"unknown":"#, "}"),
            (r#"{"boards":[{"name":"x","pins":[{"id":"item-1"}]}],"k":"#, "}"),
            (r#"{"boards":[{"name":"x","pins":[{"id":"#, "}]}]}"),
        ];
        for depth in [127usize, 128, 129, 1_000, 5_000, 100_000] {
            for (open, close) in [("[", "]"), (r#"{"a":"#, "}")] {
                for (pre, post) in places {
                    for text in [
                        format!("{pre}{}1{}{post}", open.repeat(depth), close.repeat(depth)),
                        format!("{pre}{}", open.repeat(depth)),
                    ] {
                        let r = BoardContext::from_json(&text);
                        let what = format!("depth {depth} of {open} at {pre:?}");
                        assert_eq!(r.as_ref().err().map(|e| e.code()), Some("invalid_input"), "{what}: {:?}", r.err());
                        assert!(serde_json::from_str::<BoardContext>(&text).is_err(), "{what}");
                        if depth > 128 {
                            assert!(
                                serde_json::from_str::<Value>(&text).is_err(),
                                "{what}: serde_json's recursion limit did not apply"
                            );
                        }
                    }
                }
            }
        }
    });
    // A deep value (not text) through from_value: an error, not a recursion through all of it.
    std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(|| {
            let mut v = json!("x");
            for _ in 0..5_000 {
                v = json!([v]);
            }
            for ctx in [
                json!({ "boards": v.clone() }),
                json!({ "boards": [{ "name": "x", "pins": [{ "id": "item-1", "tags": v.clone() }] }] }),
                json!({ "boards": [{ "name": "x", "pins": [{ "id": "item-1" }] }], "extra": v.clone() }),
                v,
            ] {
                let r = BoardContext::from_value(ctx);
                assert_eq!(r.err().map(|e| e.code()), Some("invalid_input"));
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

/// Values JSON cannot carry, and numbers at the edges of each numeric field.
#[test]
fn context_nan_like_and_edge_numbers() {
    let base = |extra: &str, pin: &str| format!(r#"{{"boards":[{{"name":"b","pins":[{{"id":"item-1"{pin}}}]}}]{extra}}}"#);
    let cases = [
        base("", r#","saved_at":NaN"#),
        base("", r#","saved_at":Infinity"#),
        base("", r#","saved_at":-Infinity"#),
        base("", r#","saved_at":1e999"#),
        base("", r#","saved_at":"NaN""#),
        base("", r#","saved_at":null"#),
        base("", r#","saved_at":1e308"#),
        base("", r#","saved_at":-1e308"#),
        base(r#","k":NaN"#, ""),
        base(r#","k":-1"#, ""),
        base(r#","k":0"#, ""),
        base(r#","k":1.5"#, ""),
        base(r#","k":1e3"#, ""),
        base(r#","k":501"#, ""),
        base(r#","k":500"#, ""),
        base(r#","k":18446744073709551615"#, ""),
        base(r#","k":18446744073709551616"#, ""),
        base(r#","diversity":NaN"#, ""),
        base(r#","diversity":-0.0"#, ""),
        base(r#","diversity":1.0000001"#, ""),
        base(r#","diversity":1e-50"#, ""),
        base(r#","diversity":1e39"#, ""),
        base(r#","recency_half_life":0"#, ""),
        base(r#","recency_half_life":-1"#, ""),
        base(r#","recency_half_life":1e39"#, ""),
        base(r#","recency_half_life":1e-46"#, ""),
        base(r#","recency_half_life":3.4e38"#, ""),
        base(r#","unknown":1"#, ""),
        base("", r#","unknown":1"#),
        r#"{"boards":[{"name":"b","pins":[],"colour":"red"}]}"#.to_string(),
        r#"{"boards":[{"name":"b","pins":[{"id":"item-1"}]}],"boards":[]}"#.to_string(),
        r#"{"boards":[{"name":"b","pins":[{"id":"item-1","id":"item-2"}]}]}"#.to_string(),
    ];
    let mut runner = proptest::test_runner::TestRunner::new(config(1));
    for text in &cases {
        runner.run(&Just(text.clone()), |t| check_context_text(&t)).unwrap_or_else(|e| panic!("{text}: {e}"));
    }
    // Exact expectations for the validate step.
    let code = |text: &str| serde_json::from_str::<BoardContext>(text).map(|c| c.validate().map_err(|e| e.code()));
    assert!(
        code(&base(r#","recency_half_life":1e39"#, "")).is_ok_and(|r| r == Err("invalid_input")),
        "f32 overflow to inf must be refused"
    );
    assert!(code(&base(r#","diversity":1e39"#, "")).is_ok_and(|r| r == Err("invalid_input")));
    assert!(code(&base(r#","k":501"#, "")).is_ok_and(|r| r == Err("limit_exceeded")));
    assert!(code(&base("", r#","saved_at":NaN"#)).is_err(), "JSON has no NaN");
    assert!(code(&base(r#","unknown":1"#, "")).is_err(), "unknown fields are refused");
}

/// Big but well-formed contexts: the count limits, checked exactly at their bounds, in
/// `validate` and while decoding text.
#[test]
fn context_count_limits() {
    use edgerec::context::{MAX_BOARDS, MAX_EXCLUDE, MAX_PINS_PER_BOARD, MAX_PINS_TOTAL, MAX_TAGS_PER_PIN};
    let pin = Pin { id: Some("item-1".into()), ..Default::default() };
    let board = |i: usize, n: usize| Board { name: format!("b{i}"), pins: vec![pin.clone(); n] };
    let boards = |count: usize, n: usize| (0..count).map(|i| board(i, n)).collect::<Vec<_>>();
    let ctx = |boards: Vec<Board>| BoardContext { boards, ..Default::default() };
    let code = |c: &BoardContext| c.validate().err().map(|e| e.code());
    // Through the text decoder too: the same verdict (a limit refused while decoding or after).
    let text_code = |c: &BoardContext| {
        let text = serde_json::to_string(c).unwrap();
        BoardContext::from_json(&text).and_then(|c| c.validate()).err().map(|e| e.code())
    };
    let cases: Vec<(BoardContext, Option<&str>)> = vec![
        (ctx(boards(1, MAX_PINS_PER_BOARD)), None),
        (ctx(boards(1, MAX_PINS_PER_BOARD + 1)), Some("limit_exceeded")),
        (ctx(boards(MAX_BOARDS, 1)), None),
        (ctx(boards(MAX_BOARDS + 1, 1)), Some("limit_exceeded")),
        (ctx(boards(5, MAX_PINS_TOTAL / 5)), None),
        (
            ctx({
                let mut b = boards(5, MAX_PINS_TOTAL / 5);
                b.push(board(9, 1));
                b
            }),
            Some("limit_exceeded"),
        ),
        (BoardContext { exclude: vec!["x".into(); MAX_EXCLUDE], ..ctx(boards(1, 1)) }, None),
        (BoardContext { exclude: vec!["x".into(); MAX_EXCLUDE + 1], ..ctx(boards(1, 1)) }, Some("limit_exceeded")),
        (
            ctx(vec![Board {
                name: "b".into(),
                pins: vec![Pin { tags: vec!["t".into(); MAX_TAGS_PER_PIN], ..Default::default() }],
            }]),
            None,
        ),
        (
            ctx(vec![Board {
                name: "b".into(),
                pins: vec![Pin { tags: vec!["t".into(); MAX_TAGS_PER_PIN + 1], ..Default::default() }],
            }]),
            Some("limit_exceeded"),
        ),
    ];
    for (i, (c, want)) in cases.iter().enumerate() {
        assert_eq!(code(c), *want, "case {i} (validate)");
        assert_eq!(text_code(c), *want, "case {i} (from_json + validate)");
    }
    // 100k pins as text: refused while decoding, with the limit's own code.
    let text = format!(r#"{{"boards":[{{"name":"b","pins":[{}]}}]}}"#, vec![r#"{"id":"item-1"}"#; 100_000].join(","));
    assert_eq!(BoardContext::from_json(&text).err().map(|e| e.code()), Some("limit_exceeded"));
    let text =
        format!(r#"{{"boards":[{{"name":"b","pins":[{{"id":"item-1"}}]}}],"exclude":[{}]}}"#, vec!["\"x\""; 100_000].join(","));
    assert_eq!(BoardContext::from_json(&text).err().map(|e| e.code()), Some("limit_exceeded"));
}

// ---------------------------------------------------------------------------------------------
// items.jsonl / boards.jsonl
// ---------------------------------------------------------------------------------------------

fn check_items(text: &str) -> Result<(), TestCaseError> {
    let r = catalog::read_items_jsonl(text);
    expect_codes(&r, &["invalid_input", "limit_exceeded"], "read_items_jsonl")?;
    if let Ok(items) = &r {
        prop_assert!(!items.is_empty());
        let mut ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
        prop_assert!(ids.iter().all(|i| !i.is_empty()), "an empty id was accepted");
        ids.sort_unstable();
        let n = ids.len();
        ids.dedup();
        prop_assert_eq!(ids.len(), n, "duplicate ids were accepted");
    }
    Ok(())
}

fn check_boards(text: &str) -> Result<(), TestCaseError> {
    let r = catalog::read_boards_jsonl(text);
    expect_codes(&r, &["invalid_input", "limit_exceeded"], "read_boards_jsonl")?;
    Ok(())
}

fn jsonl_line() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => ("[a-d]{1,2}", "\\PC{0,10}", prop::collection::vec("[a-z]{0,5}", 0..3))
            .prop_map(|(id, title, tags)| json!({"id": id, "title": title, "tags": tags}).to_string()),
        2 => ("[a-z]{0,3}", "[a-z ]{0,8}", prop::collection::vec("[a-d]{1,2}", 0..5), any::<bool>())
            .prop_map(|(u, b, items, extra)| {
                let mut v = json!({"user": u, "board": b, "items": items});
                if extra { v["heldout"] = json!("a"); }
                v.to_string()
            }),
        2 => arb_json().prop_map(|v| v.to_string()),
        1 => "\\PC{0,40}",
        1 => prop::sample::select(vec!["", " ", "\t", "{}", "[]", "null", "{\"id\":\"\"}", "{\"id\":5}", "{\"items\":null}", "\u{feff}{\"id\":\"a\"}"]).prop_map(String::from),
    ]
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn jsonl_random_lines(lines in prop::collection::vec(jsonl_line(), 0..12), crlf in any::<bool>()) {
        let text = lines.join(if crlf { "\r\n" } else { "\n" });
        check_items(&text)?;
        check_boards(&text)?;
    }

    #[test]
    fn jsonl_mutated_lines(lines in prop::collection::vec(jsonl_line(), 1..6), edits in prop::collection::vec(text_edit(), 1..6)) {
        let text = apply_text_edits(&lines.join("\n"), &edits);
        check_items(&text)?;
        check_boards(&text)?;
    }

    /// Items with ids from a tiny alphabet: a duplicate is always refused, naming the line.
    #[test]
    fn jsonl_duplicate_ids_are_refused(ids in prop::collection::vec("[a-c]{1,2}", 0..10)) {
        let text: String = ids.iter().map(|id| format!("{}\n", json!({"id": id, "title": "t"}))).collect();
        let r = catalog::read_items_jsonl(&text);
        let mut uniq = ids.clone();
        uniq.sort();
        uniq.dedup();
        if ids.is_empty() {
            prop_assert_eq!(r.err().map(|e| e.code()), Some("invalid_input"));
        } else if uniq.len() < ids.len() {
            let e = r.err();
            prop_assert!(e.as_ref().is_some_and(|e| e.code() == "invalid_input" && e.to_string().contains("duplicate id")), "{:?}", e);
        } else {
            prop_assert_eq!(r.map(|v| v.len()).ok(), Some(ids.len()));
        }
    }

    /// Invalid UTF-8 anywhere, read back with replacement characters (as a lossy reader would).
    #[test]
    fn jsonl_invalid_utf8_replaced(lines in prop::collection::vec(jsonl_line(), 1..6), junk in prop::collection::vec((any::<Index>(), prop::collection::vec(0x80u8..=0xff, 1..4)), 1..4)) {
        let mut b = lines.join("\n").into_bytes();
        for (at, bytes) in &junk {
            let at = at.index(b.len() + 1).min(b.len());
            b.splice(at..at, bytes.iter().copied());
        }
        let text = String::from_utf8_lossy(&b);
        check_items(&text)?;
        check_boards(&text)?;
    }
}

#[test]
fn jsonl_long_lines_and_deep_nesting() {
    on_small_stack(|| {
        let mut runner = proptest::test_runner::TestRunner::new(config(1));
        let mut check = |text: String| {
            runner
                .run(&Just(text), |t| {
                    check_items(&t)?;
                    check_boards(&t)
                })
                .unwrap();
        };
        let long = "x".repeat(8 << 20);
        check(format!("{}\n", json!({"id": "a", "title": long})));
        check(format!("{}\n", json!({"user": "u", "board": long, "items": ["a"]})));
        check(long.clone());
        check(format!("{{\"id\":\"{long}"));
        for depth in [128usize, 129, 5_000, 1_000_000] {
            check("[".repeat(depth));
            check(format!("{{\"id\":\"a\",\"tags\":{}", "[".repeat(depth)));
            check(format!("{{\"items\":{}1{}}}", "[".repeat(depth), "]".repeat(depth)));
            check(r#"{"a":"#.repeat(depth));
        }
        // Many lines.
        let many: String = (0..200_000).map(|i| format!("{{\"id\":\"i{i}\"}}\n")).collect();
        assert_eq!(catalog::read_items_jsonl(&many).unwrap().len(), 200_000);
        let boards: String = (0..50_000).map(|i| format!("{{\"items\":[\"i{i}\",\"i{}\"]}}\r\n", i + 1)).collect();
        assert_eq!(catalog::read_boards_jsonl(&boards).unwrap().len(), 50_000);
    });
}
