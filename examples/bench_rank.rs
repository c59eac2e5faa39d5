//! Native half of the ranking benchmark (bench/rank.mjs runs it and then the wasm half).
//! Builds synthetic catalogs (10k and 100k items, 384-d unit vectors, random boards) with each
//! vector coding (int8, rotated4), writes them and a 5-board × 20-pin request to OUT_DIR, times
//! native recommend in interleaved rounds (int8, rotated4, int8 again: the A/A), prints JSON.
//! Usage: bench_rank OUT_DIR [ITERATIONS]

use std::time::Instant;

use edgerec::catalog::{self, BoardRecord, BuildOptions, ItemRecord, VectorBits};
use edgerec::context::{Board, BoardContext, Pin};
use edgerec::rank::Ranker;

/// xorshift64*: deterministic, dependency-free noise for synthetic data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn main() {
    let out = std::path::PathBuf::from(std::env::args().nth(1).expect("usage: bench_rank OUT_DIR [ITERATIONS]"));
    let iters: usize = std::env::args().nth(2).map(|s| s.parse().expect("iterations")).unwrap_or(100);
    std::fs::create_dir_all(&out).expect("out dir");
    let dim = 384;
    let mut results = Vec::new();
    for n in [10_000usize, 100_000] {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ n as u64);
        let items: Vec<ItemRecord> = (0..n)
            .map(|i| ItemRecord { id: format!("item{i}"), title: format!("Synthetic item {i}"), ..Default::default() })
            .collect();
        // Vectors around 200 topics, so that neighbourhoods exist.
        let topics: Vec<Vec<f32>> = (0..200).map(|_| (0..dim).map(|_| rng.unit()).collect()).collect();
        let mut vectors = Vec::with_capacity(n * dim);
        for i in 0..n {
            let t = &topics[i % topics.len()];
            let mut v: Vec<f32> = t.iter().map(|x| x + 0.8 * rng.unit()).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter_mut().for_each(|x| *x /= norm);
            vectors.extend(v);
        }
        let boards: Vec<BoardRecord> = (0..n / 10)
            .map(|b| BoardRecord {
                user: format!("u{}", b / 3),
                board: format!("board {}", b % 50),
                items: (0..20).map(|_| format!("item{}", rng.below(n))).collect(),
            })
            .collect();
        let build = |bits: VectorBits| {
            let opts = BuildOptions { vector_bits: bits, ..Default::default() };
            catalog::build(items.clone(), &vectors, dim, &boards, "synthetic", &opts).unwrap().0
        };
        let (int8, four) = (build(VectorBits::Int8), build(VectorBits::Four));
        std::fs::write(out.join(format!("catalog-{n}-int8.bin")), int8.to_bytes()).unwrap();
        std::fs::write(out.join(format!("catalog-{n}-four.bin")), four.to_bytes()).unwrap();
        let req = BoardContext {
            boards: (0..5)
                .map(|b| Board {
                    name: format!("board {b}"),
                    pins: (0..20).map(|_| Pin { id: Some(format!("item{}", rng.below(n))), ..Default::default() }).collect(),
                })
                .collect(),
            target_board: Some("board 0".into()),
            k: Some(10),
            ..Default::default()
        };
        std::fs::write(out.join(format!("request-{n}.json")), serde_json::to_vec(&req).unwrap()).unwrap();

        // A, B, A': int8, rotated4, int8 again, in interleaved rounds.
        let rankers = [Ranker::new(int8).unwrap(), Ranker::new(four).unwrap()];
        for r in &rankers {
            for _ in 0..5 {
                r.recommend(None, &req).unwrap();
            }
        }
        let mut ms: [Vec<f64>; 3] = Default::default();
        let rounds = 5;
        for _ in 0..rounds {
            for (slot, r) in [(0, &rankers[0]), (1, &rankers[1]), (2, &rankers[0])] {
                for _ in 0..iters.div_ceil(rounds) {
                    let t = Instant::now();
                    std::hint::black_box(r.recommend(None, &req).unwrap());
                    ms[slot].push(t.elapsed().as_secs_f64() * 1e3);
                }
            }
        }
        let stats = |m: &mut Vec<f64>| {
            m.sort_by(f64::total_cmp);
            format!("{{\"p50_ms\": {:.3}, \"p95_ms\": {:.3}}}", m[m.len() / 2], m[(m.len() * 95 / 100).min(m.len() - 1)])
        };
        let [a, b, a2] = &mut ms;
        results.push(format!("\"{n}\": {{\"int8\": {}, \"four\": {}, \"int8_again\": {}}}", stats(a), stats(b), stats(a2)));
    }
    println!("{{{}}}", results.join(", "));
}
