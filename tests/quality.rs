//! Recommendation quality on real data: the movielens-small dataset beside the repository
//! (`../shared/data/movielens-small`, or `$EDGEREC_DATA_DIR`), its fixed test split, the default
//! knobs (tuned on the dev split only), and the baselines computed in the same run.

mod common;

use common::*;
use edgerec::catalog::BuildOptions;
use edgerec::eval::{evaluate_split, Dataset, Methods, Scores, Split};
use edgerec::vector_cache::VectorCache;
use edgerec::Encoder;

fn data_dir() -> std::path::PathBuf {
    std::env::var_os("EDGEREC_DATA_DIR").map(Into::into).unwrap_or_else(|| repo().join("../shared/data/movielens-small"))
}

#[test]
fn movielens_recall_at_10_beats_the_floor_and_the_baselines() {
    let dir = data_dir();
    let ds = Dataset::load(&dir).unwrap_or_else(|e| panic!("cannot read the dataset at {} ({e})", dir.display()));
    let enc = default_encoder();
    let texts: Vec<String> = ds.items.iter().map(|it| it.text()).collect();
    let mut cache = VectorCache::open(&repo().join(".cache/vectors"), enc.model_id(), enc.dim()).unwrap();
    let vectors = cache.embed(enc, &texts, 256, |_, _| {}).unwrap();
    let r =
        evaluate_split(&ds, Split::Test, &vectors, enc.dim(), enc.model_id(), 10, &Methods::default(), &BuildOptions::default())
            .unwrap();
    let score = |name: &str| Scores::mean(&r.methods.iter().find(|m| m.0 == name).unwrap().1);
    let ours_name = r.methods[2].0.clone();
    let (pop, mean, ours) = (score("popularity"), score("mean item embedding, cosine"), score(&ours_name));
    println!(
        "Recall@10 / NDCG@10: popularity {:.4}/{:.4}, mean embedding {:.4}/{:.4}, edgerec {:.4}/{:.4} ({} targets)",
        pop.recall, pop.ndcg, mean.recall, mean.ndcg, ours.recall, ours.ndcg, ours.n
    );
    assert_eq!(ours.n, 603, "every target is evaluated");
    assert!(ours.recall >= 0.090, "Recall@10 {} is under 0.090", ours.recall);
    assert!(ours.recall > pop.recall && ours.recall > mean.recall);
    assert!(ours.ndcg > pop.ndcg && ours.ndcg > mean.ndcg);
    // Every ranked list excludes the user's own items and holds k distinct ids.
    for line in &r.lines {
        let own = edgerec::eval::user_items(&ds.boards, &line.user);
        assert_eq!(line.ranked.len(), 10);
        assert!(line.ranked.iter().all(|id| !own.contains(id.as_str())));
        let distinct: std::collections::HashSet<_> = line.ranked.iter().collect();
        assert_eq!(distinct.len(), 10);
    }
}
