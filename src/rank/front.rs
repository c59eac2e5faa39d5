//! The front's side of a request ([`super::fanout`]), in steps around the round trips to the
//! shards: [`begin`] resolves and weighs the pins; [`query`] builds the profile, the signals'
//! scales and the slots owed; [`pick`] merges the shards' candidates and keeps the pins' and the
//! new items' shares of the slots; [`finish`] picks and explains the results. A whole catalog
//! runs these steps with itself as its only shard; a sharded set's front with its shards.

use std::collections::{HashMap, HashSet};

use super::fanout::{
    self, CandidateVectors, Candidates, Entry, Levels, Lookup, LookupReply, More, MoreReply, PinItem, Query, Scored, Shard, Whole,
};
use super::profile::{build_profile, complete, Profile};
use super::reason::{self, Signal, Sources};
use super::select::{select, Candidate, Slot};
use super::signals::{blend, interest_vectors, refs, similar_boards, takes_new_slot, weights, Moments, Similarity};
use super::{Knobs, KnobsSource, Recommendation, Recommendations};
use crate::catalog::shard::Front;
use crate::context::{BoardContext, MAX_TEXT_PINS};
use crate::encoder::Encoder;
use crate::error::Result;

/// A request between the front's steps.
pub struct Pending {
    profile: Profile,
    knobs: Knobs,
    k: usize,
    diversity: f32,
    /// Items never returned: saved on the boards, or excluded (whole-catalog indices).
    out: HashSet<u32>,
    query: Option<Query>,
    /// The slots owed to pins and new items.
    need: HashMap<Slot, usize>,
    /// What select picks from, and what each is (id, title, reason).
    cands: Vec<Candidate>,
    scored: HashMap<u32, (Scored, Signal, Option<usize>, Option<usize>)>,
    /// The vector codes the shards sent, by item.
    levels: HashMap<u32, Levels>,
    /// The free-text pins' nearest items over every shard (see `pool`).
    nearest: Vec<Vec<Scored>>,
    /// The whole catalog's candidates while some still lack their features ([`pick`] asked).
    cut: Option<Vec<Entry>>,
}

impl Pending {
    /// The profile the request built.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }
}

/// Step 1: validates the request, resolves and weighs its pins (embedding free-text pins with
/// `encoder`), and says what to ask every shard.
pub fn begin(
    whole: Whole,
    encoder: Option<&dyn Encoder>,
    ctx: &BoardContext,
    knobs: &Knobs,
    max_text_pins: usize,
) -> Result<(Pending, Lookup)> {
    ctx.validate()?;
    let profile = build_profile(whole, encoder, ctx, knobs, max_text_pins)?;
    let (pins, boards) = refs(&profile);
    let mut items: Vec<u32> = pins.iter().map(|p| p.item).collect();
    items.sort_unstable();
    items.dedup();
    let out = ctx.exclude.iter().filter_map(|id| whole.index_of(id)).chain(profile.saved.iter().copied()).collect();
    let lookup = Lookup { pins, items, boards, cosaved_power: knobs.cosaved_power };
    let pending = Pending {
        profile,
        knobs: knobs.clone(),
        k: ctx.k.unwrap_or(10),
        diversity: ctx.diversity.unwrap_or(0.0),
        out,
        query: None,
        need: HashMap::new(),
        cands: Vec::new(),
        scored: HashMap::new(),
        levels: HashMap::new(),
        nearest: Vec::new(),
        cut: None,
    };
    Ok((pending, lookup))
}

/// Step 2: completes the profile from the shards' answers and says what to ask them next.
pub fn query(whole: Whole, p: &mut Pending, replies: Vec<LookupReply>) -> Result<Query> {
    let mut items: HashMap<u32, PinItem> = HashMap::new();
    let (mut cosaved, mut names) = (Moments::default(), Moments::default());
    for r in replies {
        cosaved = cosaved.plus(r.cosaved);
        names = names.plus(r.names);
        items.extend(r.items.into_iter().map(|it| (it.item, it)));
    }
    let kn = &p.knobs;
    let profile = std::mem::replace(&mut p.profile, empty_profile());
    p.profile = complete(profile, &items, kn, whole.coding().dim())?;
    let profile = &p.profile;
    let n = whole.len();
    let (sample_catalog, sample) = whole.sample();
    let interests = interest_vectors(profile, kn);
    // Each signal's scale over the sample only where the knobs weigh the signal (the shards
    // build it only then).
    let similar = if kn.weighs_similar() { Similarity::stats(sample_catalog, &sample, &interests) } else { (0.0, 0.0) };
    let similar_mean = match profile.centroid.as_deref() {
        Some(c) if kn.weighs_similar_mean() => Similarity::stats(sample_catalog, &sample, &[(c, 1.0)]),
        _ => (0.0, 0.0),
    };
    let sources = Sources::choose(profile);
    let nearest = sources.iter().filter(|(i, _, _)| profile.pins[*i as usize].text).map(|(i, v, _)| (*i, v.clone())).collect();
    let (pins, boards) = refs(profile);
    let similar_boards =
        if kn.w_similar_boards != 0.0 { similar_boards(whole.boards(), &pins, kn.similar_boards) } else { Vec::new() };
    let mut out: Vec<u32> = p.out.iter().copied().collect();
    out.sort_unstable();
    p.need = quotas(profile, sources.iter().map(|s| s.0 as usize), kn, p.k);
    let mut owed_pins: Vec<u32> =
        p.need.keys().filter_map(|s| if let Slot::Pin(i) = s { Some(*i as u32) } else { None }).collect();
    owed_pins.sort_unstable();
    let new_slots = p.need.get(&Slot::New).copied().unwrap_or(0) as u32;
    let q = Query {
        knobs: kn.clone(),
        focus_pins: profile.focus_pin_count(),
        pins,
        boards,
        cosaved_inv_std: cosaved.inv_std(n),
        names_inv_std: names.inv_std(n),
        similar_boards,
        interests: interests.iter().map(|(v, w)| (v.to_vec(), *w)).collect(),
        similar,
        centroid: profile.centroid.clone(),
        similar_mean,
        sources,
        nearest,
        out,
        pool: pool_size(p.k) as u32,
        owed_pins,
        new_slots,
        exact: exact_share(kn.shortlist.max(1), whole.shards()),
        exact_new: exact_share((kn.shortlist.max(1) / 4).max(1), whole.shards()),
    };
    p.query = Some(q.clone());
    Ok(q)
}

fn empty_profile() -> Profile {
    Profile {
        boards: Vec::new(),
        target: None,
        pins: Vec::new(),
        interests: Vec::new(),
        centroid: None,
        saved: HashSet::new(),
        embedded_texts: 0,
        unknown_pins: 0,
    }
}

/// How many of its best `n` by the coarse score each of `shards` shards sends with their
/// features: twice its even share, all of them for one or two shards. Of the whole catalog's
/// best, a shard holding more than that is asked for the rest ([`More`]): in a catalog whose
/// order follows what users save (by date, say), a shard can hold most of a request's best.
fn exact_share(n: usize, shards: usize) -> u32 {
    (2 * n).div_ceil(shards.max(1)).min(n) as u32
}

/// The pool MMR picks from, besides what the slots owed need: the best this many by score.
fn pool_size(k: usize) -> usize {
    (k * 5).max(50)
}

/// What the front still needs of the shards after their candidates (whole-catalog indices).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ask {
    /// Candidates of the whole catalog's best sent by coarse score alone, with that score.
    pub exact: Vec<(u32, f32)>,
    /// Items whose vector codes and display fields no shard sent.
    pub levels: Vec<u32>,
}

impl Ask {
    /// True when nothing is asked: [`finish`] follows at once.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.levels.is_empty()
    }
}

/// Step 3: merges the shards' candidates as a whole catalog ranks them and keeps the pool the
/// results are picked from (the best by score, and what the pins' and new items' slots need).
/// Returns what the shards still have to send (their answers go to [`more`]; usually nothing
/// is asked, and [`finish`] follows): the features and vector codes of the whole catalog's
/// best that a shard sent by coarse score alone (one holding more than its [`Query::exact`] of
/// them); else the pool's items whose vector codes no shard sent (rare: a shard sends those of
/// its own best, which an item of the whole catalog's best is nearly always among).
pub fn pick(p: &mut Pending, mut replies: Vec<Candidates>) -> Ask {
    for r in replies.iter_mut() {
        p.levels.extend(std::mem::take(&mut r.levels).into_iter().map(|l| (l.item, l)));
    }
    let Some(q) = p.query.as_ref() else { return Ask::default() }; // query() did not run: nothing to pick
    p.nearest = (0..q.nearest.len()).map(|at| fanout::nearest(&replies, at)).collect();
    let cut = fanout::cut(&mut replies, &p.knobs);
    let have: HashSet<u32> = cut.iter().filter(|e| e.scored.is_some()).map(|e| e.item).collect();
    let mut exact: Vec<(u32, f32)> = cut.iter().filter(|e| !have.contains(&e.item)).map(|e| (e.item, e.coarse)).collect();
    if exact.is_empty() {
        let ranked = fanout::rank(cut, &p.knobs, q.focus_pins);
        pool(p, ranked);
        return Ask { exact, levels: missing_levels(p) };
    }
    exact.sort_unstable_by_key(|e| e.0);
    exact.dedup_by_key(|e| e.0);
    let levels = exact.iter().map(|e| e.0).filter(|i| !p.levels.contains_key(i)).collect();
    p.cut = Some(cut);
    Ask { exact, levels }
}

/// The pool's items without vector codes yet.
fn missing_levels(p: &Pending) -> Vec<u32> {
    let mut levels: Vec<u32> = p.cands.iter().map(|c| c.item).filter(|i| !p.levels.contains_key(i)).collect();
    levels.sort_unstable();
    levels
}

/// Step 3's answers (what [`pick`], or the previous call, asked): returns what to ask next.
/// After features, the pool is known, and its items' vector codes not yet sent are asked
/// (rare); after vector codes, nothing: at most two rounds.
pub fn more(p: &mut Pending, replies: Vec<MoreReply>) -> Ask {
    let mut scored: HashMap<u32, Scored> = HashMap::new();
    for r in replies {
        p.levels.extend(r.levels.into_iter().map(|l| (l.item, l)));
        scored.extend(r.scored.into_iter().map(|s| (s.item, s)));
    }
    let Some(mut cut) = p.cut.take() else { return Ask::default() };
    for e in cut.iter_mut().filter(|e| e.scored.is_none()) {
        e.scored = scored.remove(&e.item);
    }
    let focus_pins = p.query.as_ref().map_or(0.0, |q| q.focus_pins);
    let ranked = fanout::rank(cut, &p.knobs, focus_pins);
    pool(p, ranked);
    Ask { exact: Vec::new(), levels: missing_levels(p) }
}

/// The messages that ask each shard for its part of `ask` (`None`: nothing for that shard);
/// `owner(i)` is item `i`'s shard, of `shards`.
pub fn asks(p: &Pending, ask: &Ask, shards: usize, owner: impl Fn(u32) -> Option<usize>) -> Vec<Option<More>> {
    let mut out: Vec<Option<More>> = vec![None; shards];
    let shard = |i: u32| owner(i).filter(|&s| s < shards);
    for &(i, coarse) in &ask.exact {
        if let Some(s) = shard(i) {
            out[s].get_or_insert_with(More::default).exact.push((i, coarse));
        }
    }
    for &i in &ask.levels {
        if let Some(s) = shard(i) {
            out[s].get_or_insert_with(More::default).levels.push(i);
        }
    }
    for m in out.iter_mut().flatten().filter(|m| !m.exact.is_empty()) {
        m.query = p.query.clone();
    }
    out
}

/// Step 4: picks the results from the pool (near-duplicates collapsed, MMR, the slots owed)
/// with their vectors, and explains each.
pub fn finish(whole: Whole, mut p: Pending) -> Recommendations {
    if p.cut.is_some() {
        more(&mut p, Vec::new()); // features asked, never answered: rank what has them
    }
    let vectors = CandidateVectors::new(std::mem::take(&mut p.levels), whole.coding());
    // A candidate whose owner did not answer for it (a shard lost after its candidates) cannot
    // be shown: it has no display fields here.
    p.cands.retain(|c| vectors.has(c.item));
    let picked = select(&p.cands, p.k, p.diversity, p.knobs.duplicate_cosine, &p.need, |a, b| vectors.cosine(a, b));
    let items = picked
        .into_iter()
        .map(|c| {
            let cand = &p.cands[c];
            let (_, signal, pin, board) = &p.scored[&cand.item];
            // Every candidate has its levels: pick() or more() asked for the ones not sent.
            let (id, title) = vectors.display(cand.item);
            Recommendation {
                id: id.to_string(),
                title: title.to_string(),
                score: cand.score,
                reason: reason::reason(&p.profile, *signal, *pin, *board),
            }
        })
        .collect();
    Recommendations {
        items,
        embedded_texts: p.profile.embedded_texts,
        unknown_pins: p.profile.unknown_pins,
        model_id: whole.model_id().to_string(),
        catalog_id: whole.catalog_id().to_string(),
    }
}

/// The pool: the merged candidates as a whole catalog ranks them (`ranked`), the best by score
/// and the first candidates of each owed slot, and a free-text pin's nearest items where
/// nothing else names it.
fn pool(p: &mut Pending, ranked: Vec<Scored>) {
    let Some(q) = p.query.as_ref() else { return }; // query() did not run: nothing to pick
    let kn = &p.knobs;
    let w = weights(kn, q.focus_pins);
    let pool_size = pool_size(p.k);
    // Three candidates per owed slot, so that near-duplicates cannot starve a quota.
    let mut owed: HashMap<Slot, usize> = p.need.iter().map(|(&s, &n)| (s, 3 * n)).collect();
    for (rank, s) in ranked.into_iter().enumerate() {
        let in_pool = rank < pool_size;
        if !in_pool && owed.is_empty() {
            break;
        }
        // Indices from a shard's answer: only the profile's own pins and boards are named.
        let pin = s.pin.map(|x| x as usize).filter(|&x| x < p.profile.pins.len());
        let (signal, board) = (s.signal, s.board.map(|x| x as usize).filter(|&x| x < p.profile.boards.len()));
        let source = pin.filter(|_| signal != Signal::BoardName);
        // Only a new item the content vouches for may take a slot kept for new items.
        let cand = Candidate { item: s.item, score: blend(&w, &s.features), source, new: takes_new_slot(kn, &s.features) };
        let mut owed_here = false;
        owed.retain(|&slot, n| {
            if cand.fills(slot) {
                owed_here = true;
                *n -= 1;
            }
            *n > 0
        });
        if in_pool || owed_here {
            p.cands.push(cand);
            p.scored.insert(s.item, (s, signal, pin, board));
        }
    }
    // A free-text pin is always heard: when no ranked candidate's reason names it (its nearest
    // items score low on every other signal, as with a weak text model), its nearest items by
    // content that are not candidates yet join them, explained by it.
    for (at, (pin, _)) in q.nearest.iter().enumerate() {
        let (pin, slot) = (*pin as usize, Slot::Pin(*pin as usize));
        if !p.need.contains_key(&slot) || p.cands.iter().any(|c| c.fills(slot)) {
            continue;
        }
        let taken: HashSet<u32> = p.cands.iter().map(|c| c.item).collect();
        for s in p.nearest[at].iter().filter(|s| !taken.contains(&s.item)).take(3).cloned() {
            let cand = Candidate {
                item: s.item,
                score: blend(&w, &s.features),
                source: Some(pin),
                new: takes_new_slot(kn, &s.features),
            };
            p.cands.push(cand);
            p.scored.insert(s.item, (s, Signal::Similar, Some(pin), None));
        }
    }
}

/// Slots owed: one to every free-text pin among the reasons' `sources`; one each to the focus
/// board's `pin_quota` × `k` (rounded) heaviest catalog pins, so that as many pins as there are
/// slots are heard; and `new_share` × `k` to the new items.
fn quotas(profile: &Profile, sources: impl Iterator<Item = usize>, kn: &Knobs, k: usize) -> HashMap<Slot, usize> {
    let mut need = HashMap::new();
    let new = (kn.new_share * k as f32).round() as usize;
    if new > 0 {
        need.insert(Slot::New, new);
    }
    let slots = (kn.pin_quota * k as f32).round() as usize;
    let mut pins: Vec<usize> = sources.collect();
    pins.sort_by(|&a, &b| profile.pins[b].weight.total_cmp(&profile.pins[a].weight).then(a.cmp(&b)));
    let (text, catalog): (Vec<usize>, Vec<usize>) = pins.into_iter().partition(|&i| profile.pins[i].text);
    for i in text.into_iter().chain(catalog.into_iter().take(slots)) {
        need.insert(Slot::Pin(i), 1);
    }
    need
}

/// The front of a sharded catalog: the set's [`Front`] file and the knobs it carries. It runs
/// the four steps; between them its caller asks the shards (over service bindings, or in this
/// process: [`SetFront::recommend`]).
pub struct SetFront {
    front: Front,
    knobs: Knobs,
    source: KnobsSource,
    max_text_pins: usize,
}

impl SetFront {
    /// The front of a set, with the whole catalog's fitted knobs (or the defaults).
    pub fn new(front: Front) -> Result<Self> {
        let (knobs, source) = match &front.header().ranker {
            Some(section) => (super::fitted_knobs(&serde_json::to_vec(section).expect("JSON"))?, KnobsSource::Fitted),
            None => (Knobs::default(), KnobsSource::Defaults),
        };
        Ok(Self { front, knobs, source, max_text_pins: MAX_TEXT_PINS })
    }

    /// The set's front file.
    pub fn front(&self) -> &Front {
        &self.front
    }

    /// The whole catalog, as the steps see it.
    pub fn whole(&self) -> Whole<'_> {
        Whole::Front(&self.front)
    }

    /// The knobs in use and where they came from.
    pub fn knobs(&self) -> (&Knobs, KnobsSource) {
        (&self.knobs, self.source)
    }

    /// See `Ranker::set_max_text_pins`.
    pub fn set_max_text_pins(&mut self, n: usize) {
        self.max_text_pins = n.min(MAX_TEXT_PINS);
    }

    /// How many pins one request may have embedded on the fly.
    pub fn max_text_pins(&self) -> usize {
        self.max_text_pins
    }

    /// Step 1: see [`begin`].
    pub fn begin(&self, encoder: Option<&dyn Encoder>, ctx: &BoardContext) -> Result<(Pending, Lookup)> {
        begin(self.whole(), encoder, ctx, &self.knobs, self.max_text_pins)
    }

    /// The shard that owns whole-catalog item `i`.
    pub fn owner(&self, i: u32) -> Option<usize> {
        ((i as usize) < self.front.header().items).then(|| self.front.owner(i as usize))
    }

    /// Step 3's messages: see [`asks`].
    pub fn asks(&self, p: &Pending, ask: &Ask) -> Vec<Option<More>> {
        asks(p, ask, self.front.header().shards.len(), |i| self.owner(i))
    }

    /// A request with every shard at hand in this process, each message through its wire form
    /// (what a Worker sends over a service binding): the sharded answer, for tests and the CLI.
    pub fn recommend(&self, encoder: Option<&dyn Encoder>, ctx: &BoardContext, shards: &[Shard]) -> Result<Recommendations> {
        use super::fanout::{decode, encode};
        let whole = self.whole();
        let (mut p, lookup) = self.begin(encoder, ctx)?;
        let lookup: Lookup = decode(&encode(&lookup), "lookup")?;
        let replies = shards.iter().map(|s| s.lookup(&lookup).map(|r| encode(&r))).collect::<Result<Vec<_>>>()?;
        let replies = replies.iter().map(|r| decode(r, "lookup reply")).collect::<Result<Vec<_>>>()?;
        let q = query(whole, &mut p, replies)?;
        let q: Query = decode(&encode(&q), "query")?;
        let replies = shards.iter().map(|s| s.candidates(&q).map(|r| encode(&r))).collect::<Result<Vec<_>>>()?;
        let replies = replies.iter().map(|r| decode(r, "candidates")).collect::<Result<Vec<_>>>()?;
        let mut ask = pick(&mut p, replies);
        while !ask.is_empty() {
            let mut replies = Vec::new();
            for (shard, m) in shards.iter().zip(self.asks(&p, &ask)) {
                let Some(m) = m else { continue };
                let m: More = decode(&encode(&m), "more")?;
                replies.push(decode::<MoreReply>(&encode(&shard.more(&m)?), "more reply")?);
            }
            ask = more(&mut p, replies);
        }
        Ok(finish(whole, p))
    }
}
