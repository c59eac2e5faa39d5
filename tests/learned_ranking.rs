//! The ranker fitted per catalog, on small synthetic catalogs that need no model: what the fit
//! learns depends on what the boards carry, new items compete on their content, and every pin of
//! a request is heard.

use edgerec::catalog::{self, BoardRecord, BuildOptions, Catalog, ItemRecord};
use edgerec::context::{Board, BoardContext, Pin};
use edgerec::rank::{Knobs, KnobsSource, Ranker, Signal};
use edgerec::train::{self, FitOptions};
use edgerec::{Encoder, Result};

const DIM: usize = 32;

/// splitmix64: a small deterministic generator.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn normal(&mut self) -> f32 {
        // Sum of uniforms: close enough to normal for test vectors.
        (0..6).map(|_| (self.next() >> 11) as f32 / (1u64 << 53) as f32).sum::<f32>() - 3.0
    }
}

fn unit(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= n);
}

/// `topics` random unit directions; an item of topic `t` is its direction plus `noise`.
fn topic_vectors(rng: &mut Rng, topics: usize) -> Vec<Vec<f32>> {
    (0..topics)
        .map(|_| {
            let mut v: Vec<f32> = (0..DIM).map(|_| rng.normal()).collect();
            unit(&mut v);
            v
        })
        .collect()
}

fn item_vector(rng: &mut Rng, dir: Option<&[f32]>, noise: f32) -> Vec<f32> {
    let mut v: Vec<f32> = (0..DIM).map(|i| dir.map_or(0.0, |d| d[i]) + noise * rng.normal() / (DIM as f32).sqrt()).collect();
    unit(&mut v);
    v
}

fn item(id: String, title: String) -> ItemRecord {
    ItemRecord { id, title, ..Default::default() }
}

fn board(user: usize, name: &str, items: Vec<String>) -> BoardRecord {
    BoardRecord { user: format!("u{user}"), board: name.into(), items }
}

struct Synthetic {
    items: Vec<ItemRecord>,
    vectors: Vec<f32>,
    boards: Vec<BoardRecord>,
}

impl Synthetic {
    fn fit(&self) -> train::FitReport {
        let opts = FitOptions { max_examples: 300, ..Default::default() };
        train::fit(&self.items, &self.vectors, DIM, &self.boards, "synthetic", &BuildOptions::default(), &opts).unwrap()
    }
    fn catalog(&self) -> Catalog {
        let opts = FitOptions { max_examples: 300, ..Default::default() };
        train::index(self.items.clone(), &self.vectors, DIM, &self.boards, "synthetic", &BuildOptions::default(), Some(&opts))
            .unwrap()
            .0
    }
}

/// Boards whose content is set by their name: each name owns 40 items (of no particular
/// content), and a board of that name holds 3 of them at random. Every item belongs to two
/// names (name `n` owns items `20n .. 20n + 40`, wrapping), so what a pin was saved with —
/// co-saved items, boards that hold it — points at both of its names' items; only the board's
/// name says which.
fn named_catalog() -> Synthetic {
    let mut rng = Rng(1);
    let (names, per, step) = (12, 40, 20);
    let mut items = Vec::new();
    let mut vectors = Vec::new();
    for i in 0..names * step {
        items.push(item(format!("i{i}"), format!("item {i}")));
        vectors.extend(item_vector(&mut rng, None, 1.0));
    }
    let mut boards = Vec::new();
    for u in 0..400 {
        let n = rng.below(names);
        let picks: Vec<String> = (0..3).map(|_| format!("i{}", (n * step + rng.below(per)) % (names * step))).collect();
        let mut picks = picks;
        picks.dedup();
        boards.push(board(u, &format!("collection {n}"), picks));
    }
    Synthetic { items, vectors, boards }
}

/// Boards made of items saved together (groups of 6 items, no content, unique board names).
fn cosaved_catalog() -> Synthetic {
    let mut rng = Rng(2);
    let (groups, per) = (60, 6);
    let mut items = Vec::new();
    let mut vectors = Vec::new();
    for i in 0..groups * per {
        items.push(item(format!("i{i}"), format!("item {i}")));
        vectors.extend(item_vector(&mut rng, None, 1.0));
    }
    let mut boards = Vec::new();
    for u in 0..500 {
        let g = rng.below(groups);
        let mut picks: Vec<String> = (0..4).map(|_| format!("i{}", g * per + rng.below(per))).collect();
        picks.dedup();
        boards.push(board(u, &format!("board {u}"), picks));
    }
    Synthetic { items, vectors, boards }
}

/// Topical content: 10 topics of 30 items, boards of one topic; item `new0` is of topic 0 and
/// on no board.
fn topical_catalog() -> (Synthetic, Vec<Vec<f32>>) {
    let mut rng = Rng(3);
    let dirs = topic_vectors(&mut rng, 10);
    let mut items = Vec::new();
    let mut vectors = Vec::new();
    for (t, dir) in dirs.iter().enumerate() {
        for i in 0..30 {
            items.push(item(format!("t{t}-{i}"), format!("topic {t} item {i}")));
            vectors.extend(item_vector(&mut rng, Some(dir), 0.6));
        }
    }
    items.push(item("new0".into(), "a new topic 0 item".into()));
    vectors.extend(item_vector(&mut rng, Some(&dirs[0]), 0.3));
    let mut boards = Vec::new();
    for u in 0..300 {
        let t = rng.below(10);
        let mut picks: Vec<String> = (0..5).map(|_| format!("t{t}-{}", rng.below(30))).collect();
        picks.dedup();
        boards.push(board(u, &format!("my board {u}"), picks));
    }
    (Synthetic { items, vectors, boards }, dirs)
}

fn pins(ids: &[&str]) -> Vec<Pin> {
    ids.iter().map(|id| Pin { id: Some(id.to_string()), ..Default::default() }).collect()
}

fn effective(k: &Knobs, pins: f32) -> edgerec::rank::Features {
    edgerec::rank::signals::weights(k, pins).warm
}

#[test]
fn boards_set_by_their_names_learn_a_high_board_name_weight() {
    let s = named_catalog();
    let r = s.fit();
    assert!(r.kept, "{r:?}");
    // At one pin, where a board is its name more than its pins (the fit may also learn how fast
    // the name fades as pins come: `name_half_pins`).
    let (fitted, default) = (effective(&r.knobs, 1.0), effective(&Knobs::default(), 1.0));
    // Relative to co-saving (the scale of a blend is free).
    let rel = |w: edgerec::rank::Features| w[3] / w[0].max(1e-3);
    assert!(rel(fitted) > 2.0 * rel(default), "name weight {fitted:?} vs defaults {default:?}");
    assert!(r.validation.objective.1 > r.validation.objective.0, "{r:?}");
}

#[test]
fn boards_of_items_saved_together_learn_a_high_co_saved_weight() {
    let s = cosaved_catalog();
    let r = s.fit();
    let w = effective(&r.knobs, 3.0);
    assert!(w[0] > 0.0 && w[0] >= w[1] && w[0] >= w[3], "co-saved should lead: {w:?} ({r:?})");
}

#[test]
fn a_new_item_with_the_right_content_reaches_the_top_k() {
    let (s, _) = topical_catalog();
    let catalog = s.catalog();
    let ranker = Ranker::new(catalog).unwrap();
    assert_eq!(ranker.knobs_source(), KnobsSource::Fitted);
    let ctx = BoardContext {
        boards: vec![Board { name: "mine".into(), pins: pins(&["t0-1", "t0-2", "t0-3", "t0-4"]) }],
        k: Some(10),
        ..Default::default()
    };
    let out = ranker.recommend(None, &ctx).unwrap();
    let ids: Vec<&str> = out.items.iter().map(|i| i.id.as_str()).collect();
    assert!(ids.contains(&"new0"), "the new topic-0 item is not in the top 10: {ids:?}");
    let new = out.items.iter().find(|i| i.id == "new0").unwrap();
    assert_eq!(new.reason.signal, Signal::Similar, "{new:?}");
}

#[test]
fn the_new_items_share_of_slots_holds_even_when_items_with_data_outscore_them() {
    let (s, _) = topical_catalog();
    let ctx = BoardContext {
        boards: vec![Board { name: "mine".into(), pins: pins(&["t0-1", "t0-2", "t0-3", "t0-4"]) }],
        k: Some(10),
        ..Default::default()
    };
    // A new item's offset so low that it loses to every item with data on score alone.
    // And a slot whatever the new item's content score (the threshold has its own check below).
    let buried = Knobs { w_new: -1e3, new_slot_min_z: -10.0, ..Knobs::default() };
    let new_ids_with = |share: f32, min_z: f32| -> Vec<String> {
        let r = Ranker::with_knobs(s.catalog(), Knobs { new_share: share, new_slot_min_z: min_z, ..buried.clone() });
        let out = r.recommend(None, &ctx).unwrap();
        assert_eq!(out.items.len(), 10);
        out.items.into_iter().filter(|i| i.id.starts_with("new")).map(|i| i.id).collect()
    };
    let new_ids = |share: f32| new_ids_with(share, -10.0);
    assert!(new_ids(0.0).is_empty(), "without a share, the offset buries new items: {:?}", new_ids(0.0));
    // One slot in ten, and it goes to the new item whose content matches the pins.
    assert_eq!(new_ids(0.1), vec!["new0".to_string()]);
    let more = new_ids(0.3);
    assert!(more.contains(&"new0".to_string()) && !more.is_empty() && more.len() <= 3, "{more:?}");
    // A slot needs the content to vouch for the item: above any content score, none is given.
    assert!(new_ids_with(0.3, 1e3).is_empty(), "{:?}", new_ids_with(0.3, 1e3));
}

/// Embeds a text as the topic direction its first word names ("topic3 ...").
struct TopicEncoder(Vec<Vec<f32>>);
impl Encoder for TopicEncoder {
    fn dim(&self) -> usize {
        DIM
    }
    fn model_id(&self) -> &str {
        "synthetic"
    }
    fn tokenize(&self, _: &str) -> Result<Vec<u32>> {
        Ok(Vec::new())
    }
    fn max_seq_length(&self) -> usize {
        16
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<f32>> {
        Ok(texts
            .iter()
            .flat_map(|t| {
                let n: usize = t.trim_start_matches("topic").split(' ').next().unwrap().parse().unwrap();
                self.0[n].clone()
            })
            .collect())
    }
}

#[test]
fn every_pin_is_heard_a_text_pin_and_the_older_catalog_pins() {
    let (s, dirs) = topical_catalog();
    let ranker = Ranker::new(s.catalog()).unwrap();
    let enc = TopicEncoder(dirs);
    // Three catalog pins of three topics, then a free-text pin of a fourth.
    let mut board_pins = pins(&["t1-0", "t2-0", "t3-0"]);
    board_pins.push(Pin { title: Some("topic7 something cozy".into()), ..Default::default() });
    let ctx = BoardContext { boards: vec![Board { name: "mixed".into(), pins: board_pins }], k: Some(10), ..Default::default() };
    let out = ranker.recommend(Some(&enc), &ctx).unwrap();
    let topic7: Vec<_> = out.items.iter().filter(|i| i.id.starts_with("t7-")).collect();
    assert!(!topic7.is_empty(), "the text pin brought nothing: {:?}", out.items);
    assert!(topic7.iter().all(|i| i.reason.pin.as_deref() == Some("topic7 something cozy")), "{topic7:?}");
    // The catalog pins are heard too, not only the newest of them.
    let named: std::collections::HashSet<_> = out.items.iter().filter_map(|i| i.reason.pin.clone()).collect();
    assert!(named.len() >= 3, "reasons name only {named:?}: {:?}", out.items);
}

#[test]
fn a_text_pin_is_heard_even_when_content_weighs_nothing_in_the_blend() {
    // Knobs that give content no weight at all (as a fit on a catalog with weak text might):
    // no ranked item's reason can name the text pin, and its slot still goes to its nearest item.
    let (s, dirs) = topical_catalog();
    let kn = Knobs { w_similar: 0.0, w_similar_mean: 0.0, w_new_similar: 0.0, w_new_similar_mean: 0.0, ..Knobs::default() };
    let ranker = Ranker::with_knobs(s.catalog(), kn);
    let enc = TopicEncoder(dirs);
    let mut board_pins = pins(&["t1-0", "t2-0"]);
    board_pins.push(Pin { title: Some("topic7 something cozy".into()), ..Default::default() });
    let ctx = BoardContext { boards: vec![Board { name: "mixed".into(), pins: board_pins }], k: Some(10), ..Default::default() };
    let out = ranker.recommend(Some(&enc), &ctx).unwrap();
    let heard: Vec<_> = out.items.iter().filter(|i| i.reason.pin.as_deref() == Some("topic7 something cozy")).collect();
    assert_eq!(heard.len(), 1, "{:?}", out.items);
    assert!(heard[0].id.starts_with("t7-"), "the text pin's slot holds {:?}", heard[0]);
    assert_eq!(heard[0].reason.signal, edgerec::rank::Signal::Similar);
}

#[test]
fn a_catalog_without_boards_uses_the_defaults_and_a_corrupt_section_is_refused() {
    let (s, _) = topical_catalog();
    let (bare, _, fit) =
        train::index(s.items.clone(), &s.vectors, DIM, &[], "synthetic", &BuildOptions::default(), Some(&FitOptions::default()))
            .unwrap();
    assert!(fit.is_none());
    let r = Ranker::new(bare.clone()).unwrap();
    assert_eq!((r.knobs_source(), r.knobs()), (KnobsSource::Defaults, &Knobs::default()));
    for bad in [
        &b"not json"[..],
        br#"{"format":9,"knobs":{}}"#,
        br#"{"format":1,"knobs":{"shortlist":0}}"#,
        br#"{"format":1,"knobs":{"w_new":"x"}}"#,
    ] {
        let c = bare.with_ranker(Some(bad)).unwrap();
        let e = Ranker::new(Catalog::from_bytes(&c.to_bytes()).unwrap()).err().expect("refused");
        assert_eq!(e.code(), "invalid_catalog", "{e}");
    }
    let _ = catalog::build; // the plain builder stays available for catalogs without a fit
}
