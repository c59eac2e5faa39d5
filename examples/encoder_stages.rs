//! Where the int8 edge encoder spends its time at one text per call (issue 13): every stage of
//! the pass timed by `EdgeEncoder::embed_timed`, over the first N movielens item texts, native.
//! Rounds alternate the untimed pass and the timed one, so the clock's own cost shows as a ratio.
//! Usage: cargo run --example encoder_stages [-- EDGE_BUNDLE [N_TEXTS [ROUNDS]]]
//! (defaults: .cache/assets/all-MiniLM-L6-v2.edgerec, 256, 5; the data from $EDGEREC_DATA_DIR or
//! ../shared/data/movielens-small)

use std::path::PathBuf;
use std::time::Instant;

use edgerec::catalog::read_items_jsonl;
use edgerec::encoder::edge::{EdgeEncoder, STAGES};
use edgerec::Encoder;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut args = std::env::args().skip(1);
    let bundle = args.next().map(PathBuf::from).unwrap_or_else(|| root.join(".cache/assets/all-MiniLM-L6-v2.edgerec"));
    let n: usize = args.next().map(|s| s.parse().expect("N_TEXTS")).unwrap_or(256);
    let rounds: usize = args.next().map(|s| s.parse().expect("ROUNDS")).unwrap_or(5);
    let data =
        std::env::var_os("EDGEREC_DATA_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("../shared/data/movielens-small"));
    let items = read_items_jsonl(&std::fs::read_to_string(data.join("items.jsonl")).expect("movielens items.jsonl"))
        .expect("movielens items");
    let texts: Vec<String> = items.iter().take(n).map(|it| it.text()).collect();
    let enc = EdgeEncoder::from_file(&bundle).expect("edge bundle loads");
    let tokens: usize = texts.iter().map(|t| enc.tokenize(t).unwrap().len()).sum();

    let start = Instant::now();
    let now = || start.elapsed().as_secs_f64() * 1e3;
    for t in texts.iter().take(8) {
        enc.embed(&[t]).unwrap(); // warm-up
    }
    let (mut plain_ms, mut timed_ms) = (0f64, 0f64);
    let mut spent = [0f64; STAGES.len()];
    for _ in 0..rounds {
        let t0 = now();
        for t in &texts {
            std::hint::black_box(enc.embed(&[t]).unwrap());
        }
        let t1 = now();
        for t in &texts {
            let (v, s) = enc.embed_timed(&[t], &now).unwrap();
            std::hint::black_box(v);
            spent.iter_mut().zip(s).for_each(|(a, b)| *a += b);
        }
        plain_ms += t1 - t0;
        timed_ms += now() - t1;
    }
    let calls = (rounds * texts.len()) as f64;
    let total: f64 = spent.iter().sum();
    println!(
        "edge encoder stages, one text per call: {} texts ({:.1} tokens each), {rounds} rounds, ISA {}",
        texts.len(),
        tokens as f64 / texts.len() as f64,
        edgerec::encoder::edge::Isa::current().name()
    );
    println!(
        "untimed {:.1} µs per text ({:.0} texts/s); timed {:.1} µs (clock overhead ×{:.2})\n",
        plain_ms * 1e3 / calls,
        calls / plain_ms * 1e3,
        timed_ms * 1e3 / calls,
        timed_ms / plain_ms
    );
    println!("| stage | µs per text | share |");
    println!("| --- | ---: | ---: |");
    let mut order: Vec<usize> = (0..STAGES.len()).collect();
    order.sort_by(|&a, &b| spent[b].total_cmp(&spent[a]));
    for i in order {
        println!("| {} | {:.1} | {:.1}% |", STAGES[i], spent[i] * 1e3 / calls, 100.0 * spent[i] / total);
    }
}
