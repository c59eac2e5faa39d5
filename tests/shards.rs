//! Sharded catalogs: the movielens catalog cut into 1, 2 and 4 shards answers every request as
//! the whole catalog does (ids, order, scores within 1e-5, reasons), with every message through
//! its wire form; a shard of another set, or in the wrong place, is a typed error.

mod common;

use common::*;
use edgerec::catalog::shard::{split, Front};
use edgerec::catalog::{read_boards_jsonl, BoardRecord, Catalog};
use edgerec::context::{Board, BoardContext, Pin};
use edgerec::rank::fanout::Shard;
use edgerec::rank::front::SetFront;
use edgerec::rank::{Ranker, Recommendations};

fn catalog() -> Catalog {
    let path = repo().join(".cache/assets/movielens.bin");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run scripts/build-assets.sh", path.display()));
    Catalog::from_bytes(&bytes).unwrap()
}

fn boards() -> Vec<BoardRecord> {
    let dir = std::env::var_os("EDGEREC_DATA_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/data/movielens-small"));
    read_boards_jsonl(&std::fs::read_to_string(dir.join("boards.jsonl")).unwrap()).unwrap()
}

/// Requests of every kind: each evaluated user's boards (as `eval` sends them), and variants
/// with free-text pins, exclusions, another k, diversity, named boards and unknown ids.
fn requests() -> Vec<BoardContext> {
    let boards = boards();
    let mut users: Vec<&str> = boards.iter().map(|b| b.user.as_str()).collect();
    users.sort_unstable();
    users.dedup();
    let mut out = Vec::new();
    for (n, user) in users.iter().enumerate().step_by(3) {
        let liked = boards.iter().find(|b| &b.user == user && b.board == "liked");
        let board = liked.map_or("liked", |b| b.board.as_str());
        let mut ctx = edgerec::eval::request_for(&boards, user, board, 10);
        match n % 4 {
            0 => {}
            1 => {
                ctx.boards[0].pins.push(Pin { title: Some("a cozy heist comedy in Paris".into()), ..Default::default() });
                ctx.diversity = Some(0.3);
            }
            2 => {
                ctx.k = Some(25);
                ctx.exclude = ctx.boards[0].pins.iter().take(3).filter_map(|p| p.id.clone()).collect();
                ctx.exclude.push("1".into());
                ctx.boards.push(Board {
                    name: "Sci-fi night".into(),
                    pins: vec![Pin { id: Some("no-such-id".into()), ..Default::default() }],
                });
            }
            _ => {
                ctx.boards.push(Board {
                    name: "space".into(),
                    pins: vec![
                        Pin { id: Some("1".into()), ..Default::default() },
                        Pin {
                            title: Some("astronauts stranded on Mars".into()),
                            tags: vec!["space".into()],
                            ..Default::default()
                        },
                    ],
                });
                ctx.target_board = Some("space".into());
            }
        }
        out.push(ctx);
    }
    out
}

fn assert_same(whole: &Recommendations, sharded: &Recommendations, what: &str) {
    let ids = |r: &Recommendations| r.items.iter().map(|i| i.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(whole), ids(sharded), "{what}: ids or order");
    for (a, b) in whole.items.iter().zip(&sharded.items) {
        assert!((a.score - b.score).abs() <= 1e-5, "{what}: {} scored {} and {}", a.id, a.score, b.score);
        assert_eq!(a.reason, b.reason, "{what}: reason of {}", a.id);
        assert_eq!(a.title, b.title);
    }
    assert_eq!((whole.embedded_texts, whole.unknown_pins), (sharded.embedded_texts, sharded.unknown_pins), "{what}");
    assert_eq!((&whole.model_id, &whole.catalog_id), (&sharded.model_id, &sharded.catalog_id), "{what}");
}

#[test]
fn one_two_and_four_shards_answer_as_the_whole_catalog() {
    let whole = catalog();
    let ranker = Ranker::new(whole.clone()).unwrap();
    let enc = default_edge_encoder();
    let reqs = requests();
    assert!(reqs.len() >= 200, "{} requests", reqs.len());
    let answers: Vec<Recommendations> = reqs.iter().map(|c| ranker.recommend(Some(enc), c).unwrap()).collect();
    assert!(answers.iter().any(|a| a.embedded_texts > 0) && answers.iter().all(|a| !a.items.is_empty()));
    for count in [1, 2, 4] {
        let set = split(&whole, count).unwrap();
        let front = SetFront::new(Front::from_bytes(&set.front).unwrap()).unwrap();
        let shards: Vec<Shard> = set
            .shards
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let c = Catalog::from_bytes(b).unwrap();
                front.front().check_shard(i, c.shard().unwrap(), c.catalog_id()).unwrap();
                Shard::new(c)
            })
            .collect();
        assert_eq!(front.knobs().0, ranker.knobs());
        for (n, (ctx, want)) in reqs.iter().zip(&answers).enumerate() {
            let got = front.recommend(Some(enc), ctx, &shards).unwrap();
            assert_same(want, &got, &format!("{count} shards, request {n}"));
        }
        println!("{count} shards: {} requests answered as the whole catalog", reqs.len());
    }
}

#[test]
fn a_missing_foreign_or_misplaced_shard_is_a_typed_error() {
    let whole = catalog();
    let set = split(&whole, 3).unwrap();
    let front = Front::from_bytes(&set.front).unwrap();
    let shard = |b: &[u8]| Catalog::from_bytes(b).unwrap();
    let s1 = shard(&set.shards[1]);
    let e = front.check_shard(0, s1.shard().unwrap(), s1.catalog_id()).unwrap_err();
    assert_eq!(e.code(), "invalid_catalog");
    assert!(e.to_string().contains("shard 0 is shard 1 of 3"), "{e}");
    let e = front.check_shard(3, s1.shard().unwrap(), s1.catalog_id()).unwrap_err();
    assert!(e.to_string().contains("the set has 3 shards"), "{e}");
    // A shard of another set: the same catalog cut in two.
    let other = split(&whole, 2).unwrap();
    let o0 = shard(&other.shards[0]);
    let e = front.check_shard(0, o0.shard().unwrap(), o0.catalog_id()).unwrap_err();
    assert_eq!(e.code(), "invalid_catalog", "{e}");
    // A shard of another build, whose messages are laid out otherwise (older shards say none).
    let protocol = edgerec::rank::fanout::PROTOCOL;
    front.check_protocol(0, protocol).unwrap();
    for other in [0, protocol + 1] {
        let e = front.check_protocol(0, other).unwrap_err();
        assert_eq!(e.code(), "invalid_catalog", "{e}");
        assert!(e.to_string().contains("deploy the front and its shards from the same build"), "{e}");
    }
    // A shard is not a catalog (its format), and a front is not a catalog.
    assert_eq!(Catalog::from_bytes(&set.front).unwrap_err().code(), "invalid_catalog");
    let e = Front::from_bytes(&set.shards[0]).unwrap_err();
    assert!(e.to_string().contains("this file is an edgerec catalog bundle"), "{e}");
    let mut cut = set.front.clone();
    cut.truncate(cut.len() / 2);
    assert_eq!(Front::from_bytes(&cut).unwrap_err().code(), "invalid_catalog");
    // A shard cannot be split again, nor a count the catalog cannot hold.
    assert_eq!(split(&s1, 2).err().unwrap().code(), "invalid_input");
    assert_eq!(split(&whole, 0).err().unwrap().code(), "invalid_input");
    // Wire messages that are not messages are typed errors, not panics.
    let e = edgerec::rank::fanout::decode::<edgerec::rank::fanout::Query>(&[0xff, 0xff], "query").unwrap_err();
    assert_eq!(e.code(), "invalid_input");
}

#[test]
fn every_item_is_owned_once_and_found_by_its_id() {
    let whole = catalog();
    let set = split(&whole, 4).unwrap();
    let front = Front::from_bytes(&set.front).unwrap();
    let shards: Vec<Catalog> = set.shards.iter().map(|b| Catalog::from_bytes(b).unwrap()).collect();
    assert_eq!(shards.iter().map(Catalog::len).sum::<usize>(), whole.len());
    for i in (0..whole.len()).step_by(7) {
        let id = whole.id(i);
        assert_eq!(front.index_of(id), Some(i), "{id}");
        let s = front.owner(i);
        assert_eq!(shards[s].items().record(i - shards[s].start()), whole.items().record(i));
    }
    assert_eq!(front.index_of("no such id"), None);
    // Bytes: the shards and the front together stay near the whole catalog's size.
    let total: usize = set.shards.iter().map(Vec::len).sum::<usize>() + set.front.len();
    println!("whole {} bytes; 4 shards + front {} bytes", whole.to_bytes().len(), total);
    assert!(total < whole.to_bytes().len() * 3 / 2, "{total}");
}

#[test]
fn a_shard_holding_more_of_the_best_than_it_scored_is_asked_for_the_rest() {
    // movielens items are in id order, roughly by release: one of 4 shards often holds most of
    // a request's best by the coarse score, more than the twice-its-share it sends scored.
    let whole = catalog();
    let set = split(&whole, 4).unwrap();
    let front = SetFront::new(Front::from_bytes(&set.front).unwrap()).unwrap();
    let shards: Vec<Shard> = set.shards.iter().map(|b| Shard::new(Catalog::from_bytes(b).unwrap())).collect();
    let enc = default_edge_encoder();
    let reqs = requests();
    let mut asked = 0;
    for ctx in &reqs {
        let (mut p, lookup) = front.begin(Some(enc), ctx).unwrap();
        let replies = shards.iter().map(|s| s.lookup(&lookup).unwrap()).collect();
        let q = edgerec::rank::front::query(front.whole(), &mut p, replies).unwrap();
        assert_eq!((q.exact, q.exact_new), (250, 63), "twice the even share of 500 and 125");
        let candidates: Vec<_> = shards.iter().map(|s| s.candidates(&q).unwrap()).collect();
        assert!(candidates.iter().all(|c| c.shortlist.len() <= 250 && c.shortlist.len() + c.shortlist_rest.len() <= 500));
        let ask = edgerec::rank::front::pick(&mut p, candidates);
        if !ask.exact.is_empty() {
            asked += 1;
            // Every asked item is a whole-catalog candidate its owner did not score: asking it
            // scores it.
            for (s, m) in shards.iter().zip(front.asks(&p, &ask)) {
                let Some(m) = m else { continue };
                let reply = s.more(&m).unwrap();
                assert_eq!(reply.scored.len(), m.exact.len());
                assert!(reply.scored.iter().zip(&m.exact).all(|(r, e)| r.item == e.0 && r.coarse == e.1));
            }
        }
    }
    println!("4 shards: {asked} of {} requests asked a shard for more of its best", reqs.len());
    assert!(asked > 0 && asked < reqs.len(), "{asked}");
}

#[test]
fn a_bad_more_message_is_a_typed_error_and_the_shard_answers_on() {
    use edgerec::rank::fanout::More;
    let whole = catalog();
    let set = split(&whole, 2).unwrap();
    let shard = Shard::new(Catalog::from_bytes(&set.shards[0]).unwrap());
    let n = whole.len() as u32;
    let bad = [
        More { exact: vec![(0, 1.0)], ..Default::default() }, // items to score without the query
        More { exact: vec![(n, 1.0)], ..Default::default() }, // not in the catalog
        More { exact: vec![(0, f32::NAN)], ..Default::default() }, // a NaN coarse score
        More { levels: vec![n + 7], ..Default::default() },   // levels of no item
        More { levels: vec![0; 100_001], ..Default::default() }, // more than the limit
    ];
    for m in &bad {
        let e = shard.more(m).unwrap_err();
        assert_eq!(e.code(), "invalid_input", "{e}");
    }
    let ok = shard.more(&More { levels: vec![0, 1], ..Default::default() }).unwrap();
    assert_eq!(ok.levels.iter().map(|l| l.item).collect::<Vec<_>>(), vec![0, 1]);
    assert!(ok.scored.is_empty());
}
