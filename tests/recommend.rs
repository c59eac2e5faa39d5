//! The recommender on a small catalog built in the test: bundle round trip and bad bundles,
//! ranking behaviour, reasons, and bad requests.

mod common;

use common::*;
use edgerec::catalog::{self, BoardRecord, BuildOptions, Catalog, ItemRecord};
use edgerec::context::{Board, BoardContext, Pin, MAX_PINS_PER_BOARD};
use edgerec::rank::{Ranker, Signal};
use edgerec::Encoder;

fn item(id: &str, title: &str, tags: &[&str]) -> ItemRecord {
    ItemRecord {
        id: id.into(),
        title: title.into(),
        description: String::new(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
    }
}

fn items() -> Vec<ItemRecord> {
    vec![
        item("pasta1", "Creamy tomato penne", &["pasta", "dinner"]),
        item("pasta2", "Garlic butter spaghetti", &["pasta", "quick"]),
        item("pasta3", "Lemon ricotta pasta", &["pasta", "vegetarian"]),
        item("pasta3b", "Lemon ricotta pasta", &["pasta", "vegetarian"]),
        item("salad1", "Greek salad with feta", &["salad", "summer"]),
        item("run1", "Trail running shoes for rocky terrain", &["running", "gear"]),
        item("run2", "Beginner guide to mountain running", &["running", "training"]),
        item("run3", "Marathon training plan in 16 weeks", &["running", "training"]),
        item("read1", "Cozy reading nook ideas", &["home", "books"]),
        item("read2", "Small apartment library wall", &["home", "books"]),
        item("garden1", "Tomato growing tips for balconies", &["garden"]),
        item("garden2", "Raised bed vegetable garden", &["garden"]),
    ]
}

fn boards() -> Vec<BoardRecord> {
    let b = |user: &str, name: &str, ids: &[&str]| BoardRecord {
        user: user.into(),
        board: name.into(),
        items: ids.iter().map(|s| s.to_string()).collect(),
    };
    vec![
        b("a", "Dinner ideas", &["pasta1", "pasta2", "salad1"]),
        b("b", "dinner IDEAS!", &["pasta1", "pasta2", "garden1"]),
        b("c", "Running", &["run1", "run2", "run3"]),
        b("d", "running", &["run1", "run3", "unknown-id"]),
        b("e", "home", &["read1", "read2"]),
    ]
}

fn built() -> Catalog {
    let enc = encoder();
    let items = items();
    let texts: Vec<String> = items.iter().map(|it| it.text()).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors = enc.embed(&refs).unwrap();
    let (c, report) = catalog::build(items, &vectors, enc.dim(), &boards(), enc.model_id(), &BuildOptions::default()).unwrap();
    assert_eq!(report.unknown_ids, 1);
    c
}

fn pins(ids: &[&str]) -> Vec<Pin> {
    ids.iter().map(|id| Pin { id: Some(id.to_string()), ..Default::default() }).collect()
}

fn ctx(boards: Vec<Board>) -> BoardContext {
    BoardContext { boards, ..Default::default() }
}

#[test]
fn bundle_round_trips_and_rejects_bad_files() {
    let c = built();
    let bytes = c.to_bytes();
    let back = Catalog::from_bytes(&bytes).unwrap();
    assert_eq!(back.len(), 12);
    assert_eq!(back.catalog_id(), c.catalog_id());
    assert_eq!(back.to_bytes(), bytes);
    assert_eq!(back.index_of("run2"), Some(6));
    // co-occurrence: pasta1's neighbours include pasta2
    let nb: Vec<(u32, f32)> = back.neighbours().of(0).collect();
    assert!(nb.iter().any(|&(j, _)| j == 1) && nb.iter().all(|&(_, w)| w > 0.0));
    // names are normalised and need two boards
    assert!(back.names().lookup("Dinner Ideas").is_some());
    assert!(back.names().lookup("home").is_none());

    for cut in [0, 7, 20, bytes.len() / 2, bytes.len() - 1] {
        let e = Catalog::from_bytes(&bytes[..cut]).unwrap_err();
        assert_eq!(e.code(), "invalid_catalog", "cut at {cut}: {e}");
    }
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x40;
    assert!(Catalog::from_bytes(&flipped).unwrap_err().to_string().contains("checksum"));
    let foreign = &model_files().weights[..4096];
    assert!(Catalog::from_bytes(foreign).unwrap_err().to_string().contains("not an edgerec catalog"));
    let mut future = bytes.clone();
    future[8] = 9;
    assert!(Catalog::from_bytes(&future).unwrap_err().to_string().contains("format version 9"));

    assert!(c.check_model(encoder().model_id()).is_ok());
    assert_eq!(c.check_model("bert-6x384-mean:other").unwrap_err().code(), "model_mismatch");
}

#[test]
fn recommends_co_saved_items_with_reasons_and_never_saved_ones() {
    let r = Ranker::new(built()).unwrap();
    let mut req = ctx(vec![
        Board { name: "Weeknight dinners".into(), pins: pins(&["pasta1"]) },
        Board { name: "Running".into(), pins: pins(&["run1"]) },
    ]);
    req.target_board = Some("Weeknight dinners".into());
    req.k = Some(5);
    let out = r.recommend(Some(encoder()), &req).unwrap();
    assert_eq!(out.items.len(), 5);
    assert_eq!(out.embedded_texts, 0, "catalog pins need no encoder pass");
    let ids: Vec<&str> = out.items.iter().map(|i| i.id.as_str()).collect();
    assert!(!ids.contains(&"pasta1") && !ids.contains(&"run1"), "saved pins are never recommended: {ids:?}");
    assert_eq!(ids[0], "pasta2", "{ids:?}");
    assert_eq!(out.items[0].reason.signal, Signal::CoSaved);
    assert_eq!(out.items[0].reason.pin.as_deref(), Some("Creamy tomato penne"));
    assert!(out.items.windows(2).all(|w| w[0].score >= w[1].score));
    assert!(out.items.iter().all(|i| !i.reason.text.is_empty()));

    // exclude removes an item; the catalog does not need the encoder for this request
    req.exclude = vec!["pasta2".into()];
    let out = r.recommend(None, &req).unwrap();
    assert!(out.items.iter().all(|i| i.id != "pasta2"));
}

#[test]
fn free_text_pins_are_embedded_and_unknown_ids_counted() {
    let r = Ranker::new(built()).unwrap();
    let mut req = ctx(vec![Board {
        name: "Marathon".into(),
        pins: vec![
            Pin { title: Some("Half marathon training schedule".into()), tags: vec!["running".into()], ..Default::default() },
            Pin { id: Some("not-in-catalog".into()), ..Default::default() },
            Pin { id: Some("also-unknown".into()), title: Some("Long run nutrition".into()), ..Default::default() },
        ],
    }]);
    req.k = Some(3);
    let out = r.recommend(Some(encoder()), &req).unwrap();
    assert_eq!(out.embedded_texts, 2);
    assert_eq!(out.unknown_pins, 1);
    assert!(out.items.iter().take(2).all(|i| i.id.starts_with("run")), "{:?}", out.items);
    assert_eq!(out.items[0].reason.signal, Signal::Similar);
    // Without an encoder, text pins are a clear error.
    let e = r.recommend(None, &req).unwrap_err();
    assert!(e.to_string().contains("need the text encoder"), "{e}");
}

#[test]
fn pins_embedded_on_the_fly_are_limited_whether_or_not_they_carry_an_id() {
    let mut r = Ranker::new(built()).unwrap();
    assert_eq!(r.max_text_pins(), edgerec::context::MAX_TEXT_PINS);
    // Unknown ids with text are embedded too, so they count: 257 of them are over the limit.
    let many: Vec<Pin> = (0..=edgerec::context::MAX_TEXT_PINS)
        .map(|i| Pin { id: Some(format!("unknown-{i}")), title: Some(format!("text {i}")), ..Default::default() })
        .collect();
    let e = r.recommend(Some(encoder()), &ctx(vec![Board { name: "b".into(), pins: many }])).unwrap_err();
    assert_eq!(e.code(), "limit_exceeded");
    // Refused at the first pin over the limit, which the message names.
    assert!(
        e.to_string().contains(
            "pins embedded on the fly (text pins that are not catalog items) up to boards[0].pins[256] is 257, the limit is 256"
        ),
        "{e}"
    );
    // A deployment can lower it (never raise it); catalog pins never count.
    r.set_max_text_pins(1);
    let two = vec![
        Pin { title: Some("a".into()), ..Default::default() },
        Pin { id: Some("pasta1".into()), title: Some("catalog pin with text".into()), ..Default::default() },
        Pin { id: Some("nope".into()), title: Some("b".into()), ..Default::default() },
    ];
    let e = r.recommend(Some(encoder()), &ctx(vec![Board { name: "b".into(), pins: two.clone() }])).unwrap_err();
    assert!(e.to_string().contains("is 2, the limit is 1"), "{e}");
    assert_eq!(
        r.recommend(Some(encoder()), &ctx(vec![Board { name: "b".into(), pins: two[..2].to_vec() }])).unwrap().embedded_texts,
        1
    );
    r.set_max_text_pins(1_000_000);
    assert_eq!(r.max_text_pins(), edgerec::context::MAX_TEXT_PINS);
}

#[test]
fn near_duplicates_collapse_and_diversity_spreads() {
    let r = Ranker::new(built()).unwrap();
    let mut req = ctx(vec![Board {
        name: "pasta".into(),
        pins: vec![Pin { title: Some("Lemon ricotta pasta".into()), ..Default::default() }],
    }]);
    req.k = Some(6);
    let out = r.recommend(Some(encoder()), &req).unwrap();
    let ids: Vec<&str> = out.items.iter().map(|i| i.id.as_str()).collect();
    assert!(ids.contains(&"pasta3") != ids.contains(&"pasta3b"), "exactly one of two identical items: {ids:?}");
    req.diversity = Some(0.9);
    let diverse = r.recommend(Some(encoder()), &req).unwrap();
    let topics = |o: &edgerec::rank::Recommendations| {
        o.items
            .iter()
            .take(3)
            .map(|i| i.id.trim_end_matches(char::is_numeric).trim_end_matches('b').to_string())
            .collect::<std::collections::HashSet<_>>()
            .len()
    };
    assert!(topics(&diverse) > topics(&out), "{:?} vs {:?}", diverse.items, out.items);
}

#[test]
fn bad_requests_are_typed_errors() {
    let r = Ranker::new(built()).unwrap();
    let code = |c: BoardContext| r.recommend(Some(encoder()), &c).unwrap_err();
    let e = code(ctx(vec![]));
    assert_eq!(e.code(), "invalid_input");
    let huge = Board { name: "big".into(), pins: pins(&vec!["pasta1"; 10_000]) };
    let e = code(ctx(vec![huge]));
    assert_eq!(e.code(), "limit_exceeded");
    assert!(e.to_string().contains(&format!("boards[0].pins is 10000, the limit is {MAX_PINS_PER_BOARD}")), "{e}");
    let mut p = pins(&["pasta1"]);
    p[0].saved_at = Some(f64::NAN);
    assert!(code(ctx(vec![Board { name: "x".into(), pins: p }])).to_string().contains("saved_at must be a finite number"));
    let e = code(ctx(vec![Board { name: "x".into(), pins: vec![Pin::default()] }]));
    assert!(e.to_string().contains("neither an id nor any text"), "{e}");
    let mut c = ctx(vec![Board { name: "x".into(), pins: pins(&["pasta1"]) }]);
    c.target_board = Some("y".into());
    assert!(code(c.clone()).to_string().contains("not one of the boards"));
    c.target_board = None;
    c.k = Some(0);
    assert!(code(c.clone()).to_string().contains("k must be at least 1"));
    c.k = Some(1_000_000);
    assert_eq!(code(c.clone()).code(), "limit_exceeded");
    c.k = None;
    c.diversity = Some(1.5);
    assert!(code(c.clone()).to_string().contains("diversity"));
    c.diversity = None;
    c.boards[0].pins[0].title = Some("x".repeat(1 << 20));
    assert!(code(c.clone()).to_string().contains("boards[0].pins[0].title length in bytes"));
    // and still works
    c.boards[0].pins[0].title = None;
    assert_eq!(r.recommend(None, &c).unwrap().items.len(), 10);
    // a board with only a name is a valid request (name and popularity signals)
    let named = ctx(vec![Board { name: "Dinner ideas".into(), pins: vec![] }]);
    let out = r.recommend(Some(encoder()), &named).unwrap();
    assert_eq!(out.items[0].reason.signal, Signal::BoardName, "{:?}", out.items[0]);
}

#[test]
fn request_json_rejects_unknown_fields_and_wrong_types() {
    let ok: BoardContext = serde_json::from_str(r#"{"boards":[{"name":"a","pins":[{"id":"1","saved_at":3}]}],"k":5}"#).unwrap();
    assert_eq!(ok.k, Some(5));
    assert!(serde_json::from_str::<BoardContext>(r#"{"boards":[],"kk":5}"#).is_err());
    assert!(serde_json::from_str::<BoardContext>(r#"{"boards":[{"name":"a","pins":[{"title":5}]}]}"#).is_err());
}
