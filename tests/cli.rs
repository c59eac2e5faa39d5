//! The `edgerec index` and `eval` commands end to end, on small files written by the test.

mod common;

use std::path::Path;

use common::*;
use edgerec::catalog::Catalog;

fn edgerec(args: &[&str], cache: &Path) -> std::process::Output {
    edgerec_with_stdin(args, cache, "")
}

fn edgerec_with_stdin(args: &[&str], cache: &Path, stdin: &str) -> std::process::Output {
    run_cli(env!("CARGO_BIN_EXE_edgerec"), args, &[("EDGEREC_CACHE_DIR", cache)], stdin)
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("edgerec-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

const ITEMS: &str = r#"{"id":"a","title":"Creamy tomato penne","tags":["pasta"]}
{"id":"b","title":"Garlic butter spaghetti","tags":["pasta"]}
{"id":"c","title":"Trail running shoes","tags":["running"]}
{"id":"d","title":"Marathon training plan","tags":["running"]}
"#;

#[test]
fn index_builds_a_bundle_that_loads_and_matches_the_model() {
    let d = tmp("index");
    std::fs::write(d.join("items.jsonl"), ITEMS).unwrap();
    std::fs::write(d.join("boards.jsonl"), "{\"user\":\"u\",\"board\":\"dinner\",\"items\":[\"a\",\"b\"]}\n").unwrap();
    let out = d.join("catalog.bin");
    let o = edgerec(
        &[
            "index",
            "--items",
            d.join("items.jsonl").to_str().unwrap(),
            "--boards",
            d.join("boards.jsonl").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &d.join("cache"),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Not a terminal: the progress comes as lines a captured log keeps.
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(log.contains("embedding 4/4 texts"), "{log}");
    assert!(log.contains("fitting the ranker to the catalog's boards (1 of them"), "{log}");
    assert!(log.contains("bytes per item: ") && log.contains("co-saved "), "{log}");
    let c = Catalog::from_bytes(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(c.len(), 4);
    c.check_model(encoder_for_cli().as_str()).unwrap();
    assert_eq!(c.neighbours().of(0).map(|(j, _)| j).collect::<Vec<_>>(), vec![1]);
    // The second run reuses the vector cache and writes the same bundle.
    let first = std::fs::read(&out).unwrap();
    let o = edgerec(
        &[
            "index",
            "--items",
            d.join("items.jsonl").to_str().unwrap(),
            "--boards",
            d.join("boards.jsonl").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &d.join("cache"),
    );
    assert!(o.status.success());
    assert_eq!(std::fs::read(&out).unwrap(), first);
}

fn encoder_for_cli() -> String {
    use edgerec::Encoder;
    encoder().model_id().to_string()
}

#[test]
fn index_rejects_duplicate_ids_and_bad_lines_with_the_line_number() {
    let d = tmp("dup");
    std::fs::write(d.join("items.jsonl"), format!("{ITEMS}{{\"id\":\"b\",\"title\":\"again\"}}\n")).unwrap();
    let o =
        edgerec(&["index", "--items", d.join("items.jsonl").to_str().unwrap(), "--out", d.join("x.bin").to_str().unwrap()], &d);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("error[invalid_input]") && err.contains("line 5: duplicate id \"b\""), "{err}");
    assert!(!d.join("x.bin").exists());

    std::fs::write(d.join("bad.jsonl"), "{\"id\":\"a\"}\nnot json\n").unwrap();
    let o = edgerec(&["index", "--items", d.join("bad.jsonl").to_str().unwrap(), "--out", d.join("x.bin").to_str().unwrap()], &d);
    assert!(String::from_utf8_lossy(&o.stderr).contains("line 2"));
}

#[test]
fn eval_reports_every_method_and_rejects_a_folder_that_is_not_a_dataset() {
    let d = tmp("eval");
    std::fs::write(d.join("items.jsonl"), ITEMS).unwrap();
    std::fs::write(
        d.join("boards.jsonl"),
        "{\"user\":\"u\",\"board\":\"liked\",\"items\":[\"a\",\"c\"]}\n{\"user\":\"v\",\"board\":\"liked\",\"items\":[\"a\",\"b\",\"c\"]}\n",
    )
    .unwrap();
    std::fs::write(d.join("split.json"), r#"{"targets":[{"user":"u","board":"liked","target":"b"}]}"#).unwrap();
    let run = d.join("run.jsonl");
    let o = edgerec(&["eval", d.to_str().unwrap(), "--run", run.to_str().unwrap(), "--k", "2"], &d.join("cache"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = String::from_utf8_lossy(&o.stdout);
    for m in ["| popularity |", "| mean item embedding, cosine |", "| edgerec |"] {
        assert!(table.contains(m), "{table}");
    }
    // b is co-saved with a: edgerec must find it (recall 1).
    assert!(table.contains("| edgerec | 1.0000 |"), "{table}");
    let line: serde_json::Value = serde_json::from_str(std::fs::read_to_string(&run).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(line["user"], "u");
    assert_eq!(line["ranked"][0], "b");

    let o = edgerec(&["eval", "/nonexistent"], &d);
    assert!(String::from_utf8_lossy(&o.stderr).contains("error[io]"));
}

#[test]
fn recommend_reads_a_context_and_rejects_bad_json() {
    let d = tmp("rec");
    std::fs::write(d.join("items.jsonl"), ITEMS).unwrap();
    std::fs::write(d.join("boards.jsonl"), "{\"user\":\"u\",\"board\":\"dinner\",\"items\":[\"a\",\"b\"]}\n").unwrap();
    let cat = d.join("catalog.bin");
    let o = edgerec(
        &[
            "index",
            "--items",
            d.join("items.jsonl").to_str().unwrap(),
            "--boards",
            d.join("boards.jsonl").to_str().unwrap(),
            "--out",
            cat.to_str().unwrap(),
        ],
        &d.join("cache"),
    );
    assert!(o.status.success());
    let run = |stdin: &str| edgerec_with_stdin(&["recommend", "--catalog", cat.to_str().unwrap()], &d.join("cache"), stdin);
    let o = run(r#"{"boards":[{"name":"dinner","pins":[{"id":"a"}]}],"k":2}"#);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["items"][0]["id"], "b");
    assert_eq!(v["items"][0]["reason"]["signal"], "co_saved");
    let o = run(r#"{"boards":[{"name":"dinner","pins":[{"id":"a"}]}],"k":"two"}"#);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("error[invalid_input]: invalid input: board context"));
}

#[test]
fn recommend_table_aligns_long_and_wide_titles_and_names_ignored_pins() {
    let d = tmp("table");
    let items = r#"{"id":"a","title":"Creamy tomato penne","tags":["pasta"]}
{"id":"b","title":"The Extraordinarily Long-Titled Garlic Butter Spaghetti of the Old Harbour Town (1999)","tags":["pasta"]}
{"id":"c","title":"千と千尋の神隠し 特別なパスタ","tags":["pasta"]}
{"id":"d","title":"Pasta al limone","tags":["pasta"]}
"#;
    std::fs::write(d.join("items.jsonl"), items).unwrap();
    std::fs::write(d.join("boards.jsonl"), "{\"user\":\"u\",\"board\":\"dinner\",\"items\":[\"a\",\"b\",\"c\",\"d\"]}\n")
        .unwrap();
    let cat = d.join("catalog.bin");
    let paths = [d.join("items.jsonl"), d.join("boards.jsonl")];
    let (items_path, boards_path) = (paths[0].to_str().unwrap(), paths[1].to_str().unwrap());
    let o = edgerec(&["index", "--items", items_path, "--boards", boards_path, "--out", cat.to_str().unwrap()], &d.join("cache"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdin = r#"{"boards":[{"name":"dinner","pins":[{"id":"a"},{"id":"no-such-id"},{"id":"gone"}]}],"k":3}"#;
    let o = edgerec_with_stdin(&["recommend", "--catalog", cat.to_str().unwrap(), "--table"], &d.join("cache"), stdin);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = String::from_utf8(o.stdout).unwrap();
    assert!(table.contains("2 pins ignored: an id that is not in the catalog, and no text"), "{table}");
    assert!(table.contains("score: the blended signals"), "{table}");
    assert!(table.contains("The Extraordinarily Long-Titled Garlic Butt…"), "{table}");
    // Every row's score column ends at the same terminal column as the header's, whatever the
    // title's script (CJK characters take two columns).
    use unicode_width::UnicodeWidthChar;
    let header = table.lines().find(|l| l.trim_start().starts_with('#')).expect("a header row");
    let end = header.find("score").unwrap() + "score".len();
    let head_at = |l: &str| -> Option<(String, String)> {
        let mut w = 0;
        for (i, c) in l.char_indices() {
            if w == end {
                return Some((l[..i].to_string(), l[i..].to_string()));
            }
            w += c.width().unwrap_or(0);
        }
        None
    };
    let rows: Vec<&str> =
        table.lines().filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()) && l.contains("  ")).collect();
    assert_eq!(rows.len(), 3, "{table}");
    for row in rows {
        let (head, rest) = head_at(row).unwrap_or_else(|| panic!("row too short or split inside a character: {row}\n{table}"));
        assert!(rest.starts_with("  "), "misaligned: {row}\n{table}");
        let score: String = head.chars().rev().take(6).collect::<Vec<_>>().into_iter().rev().collect();
        assert!(score.trim().parse::<f32>().is_ok(), "no score where the header says: {row}\n{table}");
    }
}

#[test]
fn quantize_writes_an_edge_bundle_that_embed_and_index_take_as_model() {
    let d = tmp("quantize");
    let bundle = d.join("model.edgerec");
    let o = edgerec(&["quantize", default_model_dir().to_str().unwrap(), bundle.to_str().unwrap()], &d.join("cache"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("int8"));
    let size = std::fs::metadata(&bundle).unwrap().len();
    assert!(size < 25_000_000, "bundle is {size} bytes");
    let o =
        edgerec_with_stdin(&["embed", "--model", bundle.to_str().unwrap(), "--preview"], &d.join("cache"), "pasta\nnoodles\n");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("-int8:"));
    // A catalog indexed with the edge model lives in the f32 model's embedding space.
    std::fs::write(d.join("items.jsonl"), ITEMS).unwrap();
    let out = d.join("catalog.bin");
    let o = edgerec(
        &[
            "index",
            "--items",
            d.join("items.jsonl").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--model",
            bundle.to_str().unwrap(),
        ],
        &d.join("cache"),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    Catalog::from_bytes(&std::fs::read(&out).unwrap()).unwrap().check_model(&encoder_for_default()).unwrap();
    // bundle: the folder a page or Worker serves, in shards that concatenate to the files.
    let served = d.join("served");
    let (c, m, o_) = (out.to_str().unwrap(), bundle.to_str().unwrap(), served.to_str().unwrap());
    let o = edgerec(&["bundle", "--catalog", c, "--model", m, "--out", o_, "--shard-bytes", "5000000"], &d.join("cache"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(served.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["format"], 2);
    assert_eq!(manifest["items"], 4);
    for (key, file) in [("catalog", &out), ("model", &bundle)] {
        let shards = manifest[key]["shards"].as_array().unwrap();
        let joined: Vec<u8> =
            shards.iter().flat_map(|s| std::fs::read(served.join(s["url"].as_str().unwrap())).unwrap()).collect();
        assert_eq!(joined, std::fs::read(file).unwrap(), "{key}");
        assert!(shards.iter().all(|s| s["bytes"].as_u64().unwrap() <= 5_000_000));
    }
    assert_eq!(manifest["model"]["shards"].as_array().unwrap().len(), size.div_ceil(5_000_000) as usize);
    // A second bundle into the same folder needs --force; a model file that is not one is refused.
    let o = edgerec(&["bundle", "--catalog", c, "--out", o_], &d.join("cache"));
    assert!(String::from_utf8_lossy(&o.stderr).contains("error[output_exists]"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = edgerec(&["bundle", "--catalog", c, "--model", c, "--out", o_, "--force"], &d.join("cache"));
    assert!(String::from_utf8_lossy(&o.stderr).contains("error[invalid_model]"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = edgerec(&["bundle", "--catalog", m, "--out", o_, "--force"], &d.join("cache"));
    assert!(String::from_utf8_lossy(&o.stderr).contains("error[invalid_catalog]"), "{}", String::from_utf8_lossy(&o.stderr));
    // --force replaces the earlier bundle only: a file of the user's beside it stays.
    std::fs::write(served.join("model").join("mine.txt"), "keep me").unwrap();
    let o = edgerec(&["bundle", "--catalog", c, "--out", o_, "--force"], &d.join("cache"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(served.join("model").join("mine.txt")).unwrap(), "keep me");
    let left: Vec<_> = std::fs::read_dir(served.join("model")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("mine.txt")], "the earlier model shards are gone");
    // A folder that is not an earlier bundle is refused, --force or not.
    let other = d.join("not-a-bundle");
    std::fs::create_dir_all(other.join("catalog")).unwrap();
    std::fs::write(other.join("catalog").join("photo.jpg"), "mine").unwrap();
    let o = edgerec(&["bundle", "--catalog", c, "--out", other.to_str().unwrap(), "--force"], &d.join("cache"));
    assert!(String::from_utf8_lossy(&o.stderr).contains("error[output_exists]"), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(other.join("catalog").join("photo.jpg").exists());
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(served.join("manifest.json")).unwrap()).unwrap();
    assert!(manifest["model"].is_null());
    // A folder that is not a model is a typed error, not a panic.
    let o = edgerec(&["quantize", d.to_str().unwrap(), d.join("x").to_str().unwrap()], &d.join("cache"));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("error[invalid_model]"));
}

fn encoder_for_default() -> String {
    use edgerec::Encoder;
    default_encoder().model_id().to_string()
}

#[test]
fn index_in_slices_merges_into_the_bundle_one_process_writes() {
    let d = tmp("slices");
    // Three batches of embedding (256 texts each, the last one short), unique texts.
    let colours = ["red", "blue", "green", "amber", "violet", "grey", "ochre", "teal"];
    let things = ["lamp", "sofa", "kettle", "rug", "mirror", "chair", "vase", "desk", "shelf", "clock"];
    let items: String = (0..600)
        .map(|i| {
            let (c, t) = (colours[i % 8], things[(i / 8) % 10]);
            format!("{{\"id\":\"i{i}\",\"title\":\"{c} {t} number {i}\",\"tags\":[\"{t}\"]}}\n")
        })
        .collect();
    std::fs::write(d.join("items.jsonl"), items).unwrap();
    let boards: String = (0..40)
        .map(|u| {
            let pins: Vec<String> = (0..12).map(|k| format!("\"i{}\"", (u * 37 + k * 8) % 600)).collect();
            format!("{{\"user\":\"u{u}\",\"board\":\"{}\",\"items\":[{}]}}\n", things[u % 10], pins.join(","))
        })
        .collect();
    std::fs::write(d.join("boards.jsonl"), boards).unwrap();
    let (items, boards) = (d.join("items.jsonl"), d.join("boards.jsonl"));
    let (items, boards) = (items.to_str().unwrap(), boards.to_str().unwrap());
    let whole = d.join("whole.bin");
    let o = edgerec(&["index", "--items", items, "--boards", boards, "--out", whole.to_str().unwrap()], &d.join("cache-whole"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Each slice in its own process with its own cache, as on separate machines.
    let parts: Vec<String> = (0..3).map(|i| d.join(format!("part-{i}.vec")).to_str().unwrap().to_string()).collect();
    for (i, part) in parts.iter().enumerate() {
        let o = edgerec(&["index", "--items", items, "--slice", &format!("{i}/3"), "--out", part], &d.join(format!("cache-{i}")));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let merged = d.join("merged.bin");
    let mut args = vec!["index", "--items", items, "--boards", boards, "--out", merged.to_str().unwrap(), "--slices"];
    args.extend([2, 0, 1].map(|i| parts[i].as_str()));
    let o = edgerec(&args, &d.join("cache-merge"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        std::fs::read(&whole).unwrap() == std::fs::read(&merged).unwrap(),
        "the merged bundle differs from the one-process build"
    );
    assert!(!d.join("cache-merge").exists(), "the merge embeds nothing");

    let fails = |args: &[&str], code: &str, words: &str| {
        let o = edgerec(args, &d.join("cache-merge"));
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(!o.status.success() && err.contains(&format!("error[{code}]")) && err.contains(words), "{args:?}: {err}");
    };
    let out = d.join("x.bin");
    let out = out.to_str().unwrap();
    fails(&["index", "--items", items, "--out", out, "--slices", &parts[0], &parts[2]], "invalid_input", "missing 1/3");
    fails(
        &["index", "--items", items, "--out", out, "--slices", &parts[0], &parts[0], &parts[1], &parts[2]],
        "invalid_input",
        "twice",
    );
    // Slices of other items do not merge.
    let other = d.join("other.jsonl");
    std::fs::write(&other, std::fs::read_to_string(d.join("items.jsonl")).unwrap().replace("number 5\"", "number five\""))
        .unwrap();
    fails(
        &["index", "--items", other.to_str().unwrap(), "--out", out, "--slices", &parts[0], &parts[1], &parts[2]],
        "invalid_input",
        "another items file",
    );
    // A truncated slice, and a file that is not one.
    let cut = d.join("cut.vec");
    let bytes = std::fs::read(&parts[1]).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    fails(
        &["index", "--items", items, "--out", out, "--slices", &parts[0], cut.to_str().unwrap(), &parts[2]],
        "invalid_input",
        "cut.vec",
    );
    fails(
        &["index", "--items", items, "--out", out, "--slices", &parts[0], whole.to_str().unwrap(), &parts[2]],
        "invalid_input",
        "this file is an edgerec catalog bundle",
    );
    let o = edgerec(&["index", "--items", items, "--slice", "3/3", "--out", out], &d.join("cache-merge"));
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("0 ≤ i < n"));
}
