//! Board context → a profile: the resolved boards and target, weighted pins with vectors,
//! interests (clusters of the focus board's pins), and what is already saved.
//!
//! Everything later stages need about the request is here, resolved once: they never look at the
//! raw context again.

use std::collections::{HashMap, HashSet};

use super::fanout::{PinItem, Whole};
use super::Knobs;
use crate::catalog::item_text;
use crate::context::{BoardContext, Pin};
use crate::encoder::Encoder;
use crate::error::{Error, Result};
use crate::vector::{add_scaled, dot_f32, l2_normalize};

/// One board of the request, resolved.
#[derive(Debug, Clone)]
pub struct ProfileBoard {
    /// Its name as the user typed it.
    pub name: String,
    /// 1 for the target board (or every board when none is named), `other_boards` otherwise.
    pub weight: f32,
    /// How many pins it has.
    pub pins: usize,
}

/// One pin of the request, resolved.
#[derive(Debug, Clone)]
pub struct ProfilePin {
    /// Index of its board in the request.
    pub board: usize,
    /// Its catalog item, when its id is in the catalog.
    pub item: Option<u32>,
    /// True for a pin embedded from its text (not a catalog item).
    pub text: bool,
    /// Its unit vector (the catalog's, or embedded from its text), in the catalog's working
    /// space ([`crate::catalog::Vectors::to_working`]).
    pub vector: Vec<f32>,
    /// Its weight: board weight × recency, normalised per board.
    pub weight: f32,
    /// How to name it in a reason: the catalog title, else its own title, else its text.
    pub label: String,
}

/// A cluster of the focus board's pins: one of the user's interests.
#[derive(Debug, Clone)]
pub struct Interest {
    /// Unit centroid.
    pub vector: Vec<f32>,
    /// Share of the board's (recency-weighted) pins in it, the largest being 1.
    pub importance: f32,
}

/// Everything ranking needs to know about the request.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The request's boards, in request order.
    pub boards: Vec<ProfileBoard>,
    /// The target board, when the request names one.
    pub target: Option<usize>,
    /// All pins with a vector, on boards of weight > 0.
    pub pins: Vec<ProfilePin>,
    /// Interests of the focus pins (the target board's, or every board's when none is named).
    pub interests: Vec<Interest>,
    /// The weighted mean of the focus pins, unit length.
    pub centroid: Option<Vec<f32>>,
    /// Catalog items already saved on any board (never recommended).
    pub saved: HashSet<u32>,
    /// How many texts went through the encoder for this request.
    pub embedded_texts: usize,
    /// Pins whose id is not in the catalog and that had no text to embed.
    pub unknown_pins: usize,
}

impl Profile {
    /// Whether `pin` is on the focus board (the target, or any board without one).
    pub fn is_focus(&self, pin: &ProfilePin) -> bool {
        self.target.is_none_or(|t| pin.board == t)
    }

    /// Pins on the focus board: the target board's, or the mean per board without a target.
    pub fn focus_pin_count(&self) -> f32 {
        match self.target {
            Some(t) => self.boards[t].pins as f32,
            None => self.boards.iter().map(|b| b.pins).sum::<usize>() as f32 / self.boards.len().max(1) as f32,
        }
    }

    /// Boards whose name can be looked up (non-empty, weight > 0), with their weights.
    pub fn named_boards(&self) -> impl Iterator<Item = (usize, f32)> + '_ {
        self.boards.iter().enumerate().filter(|(_, b)| b.weight > 0.0 && !b.name.trim().is_empty()).map(|(i, b)| (i, b.weight))
    }
}

/// The order in which a board's pins were saved: by `saved_at` when every pin has one,
/// otherwise as listed.
fn save_order(pins: &[Pin]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..pins.len()).collect();
    if let Some(at) = pins.iter().map(|p| p.saved_at).collect::<Option<Vec<f64>>>() {
        order.sort_by(|&a, &b| at[a].total_cmp(&at[b]));
    }
    order
}

/// `0.5^(age / half_life)` for positions `0..len` in save order (the newest has age 0).
pub fn recency_weights(len: usize, half_life: f32) -> Vec<f32> {
    (0..len).map(|p| 0.5f32.powf((len - 1 - p) as f32 / half_life)).collect()
}

/// True when some pin of `ctx` needs the encoder (it is not a catalog item, and has text).
pub fn needs_encoder(whole: Whole, ctx: &BoardContext) -> bool {
    ctx.boards.iter().flat_map(|b| &b.pins).any(|p| p.id.as_deref().and_then(|id| whole.index_of(id)).is_none() && p.has_text())
}

/// Starts the profile: resolves pins against the catalog (`whole`: items are named by their
/// whole-catalog index), embeds the rest in one encoder call, weighs boards and recency. The
/// catalog pins' vectors and titles come from the items' owners ([`complete`]).
pub fn build_profile(
    whole: Whole,
    encoder: Option<&dyn Encoder>,
    ctx: &BoardContext,
    knobs: &Knobs,
    max_text_pins: usize,
) -> Result<Profile> {
    let coding = whole.coding();
    let dim = coding.dim();
    // Board names are unique (BoardContext::validate), so the target is one board.
    let target = ctx.target_board.as_ref().and_then(|t| ctx.boards.iter().position(|b| &b.name == t));
    let boards: Vec<ProfileBoard> = ctx
        .boards
        .iter()
        .enumerate()
        .map(|(b, board)| ProfileBoard {
            name: board.name.clone(),
            weight: if target.is_none_or(|t| t == b) { 1.0 } else { knobs.other_boards },
            pins: board.pins.len(),
        })
        .collect();
    let mut pins = Vec::new();
    let mut texts: Vec<(usize, String)> = Vec::new(); // (index into pins, text)
    let mut unknown_pins = 0;
    // Everything saved anywhere is excluded, whatever its board weighs.
    let saved =
        ctx.boards.iter().flat_map(|b| &b.pins).filter_map(|pin| pin.id.as_deref().and_then(|id| whole.index_of(id))).collect();
    for (b, board) in ctx.boards.iter().enumerate() {
        let board_weight = boards[b].weight;
        if board.pins.is_empty() || board_weight == 0.0 {
            continue;
        }
        let half = ctx.recency_half_life.unwrap_or_else(|| (knobs.recency_half_life * board.pins.len() as f32).max(1.0));
        let order = save_order(&board.pins);
        let rec = recency_weights(order.len(), half);
        let total: f32 = rec.iter().sum();
        for (pos, &p) in order.iter().enumerate() {
            let pin = &board.pins[p];
            let weight = board_weight * rec[pos] / total;
            let item = pin.id.as_deref().and_then(|id| whole.index_of(id));
            if item.is_some() {
                pins.push(ProfilePin { board: b, item, text: false, vector: Vec::new(), weight, label: String::new() });
            } else if pin.has_text() {
                let text = item_text(pin.title.as_deref().unwrap_or(""), pin.description.as_deref().unwrap_or(""), &pin.tags);
                let label = pin.title.clone().filter(|t| !t.trim().is_empty()).unwrap_or_else(|| text.clone());
                // Counted here, not in BoardContext::validate: whether a pin needs the encoder
                // depends on the catalog (an unknown id with text is embedded too). Refused at the
                // first pin over the limit, which the error names.
                if texts.len() == max_text_pins {
                    return Err(Error::LimitExceeded {
                        what: format!(
                            "pins embedded on the fly (text pins that are not catalog items) up to boards[{b}].pins[{p}]"
                        ),
                        actual: texts.len() + 1,
                        limit: max_text_pins,
                    });
                }
                texts.push((pins.len(), text));
                pins.push(ProfilePin { board: b, item: None, text: true, vector: Vec::new(), weight, label });
            } else {
                unknown_pins += 1;
            }
        }
    }

    let embedded_texts = texts.len();
    if !texts.is_empty() {
        let enc = encoder.ok_or_else(|| {
            Error::EncoderUnavailable(format!(
                "{} pins are not catalog items and need the text encoder, which is not loaded",
                texts.len()
            ))
        })?;
        whole.check_model(enc.space_id())?;
        let refs: Vec<&str> = texts.iter().map(|(_, t)| t.as_str()).collect();
        let vectors = enc.embed(&refs)?;
        for ((p, _), v) in texts.iter().zip(vectors.chunks_exact(dim)) {
            // Into the catalog's working space, where the profile is built (see `Vectors`).
            let mut v = v.to_vec();
            coding.vectors().to_working(&mut v);
            pins[*p].vector = v;
        }
    }

    Ok(Profile { boards, target, pins, interests: Vec::new(), centroid: None, saved, embedded_texts, unknown_pins })
}

/// Completes a profile with its catalog pins' vectors and titles (`items`: from their owners),
/// and clusters the focus pins into interests. A pin whose owner did not answer (a shard that
/// failed: the answer is partial) is left out.
pub fn complete(mut profile: Profile, items: &HashMap<u32, PinItem>, knobs: &Knobs, dim: usize) -> Result<Profile> {
    profile.pins.retain(|p| p.item.is_none_or(|i| items.contains_key(&i)));
    for pin in profile.pins.iter_mut() {
        let Some(i) = pin.item else { continue };
        let it = &items[&i];
        if it.vector.len() != dim {
            return Err(Error::InvalidCatalog(format!("item {i} has a vector of {} values, not {dim}", it.vector.len())));
        }
        pin.vector = it.vector.clone();
        pin.label = it.title.clone();
    }
    let focus: Vec<&ProfilePin> = profile.pins.iter().filter(|p| profile.is_focus(p)).collect();
    let catalog_pins: Vec<&ProfilePin> = focus.iter().copied().filter(|p| !p.text).collect();
    // A free-text pin is what the user typed just now: an interest of its own, never averaged
    // into the catalog pins' clusters.
    let mut interests = cluster(&catalog_pins, knobs.interests_per_sqrt_pin, dim);
    let top = focus.iter().map(|p| p.weight).fold(f32::MIN_POSITIVE, f32::max);
    interests.extend(focus.iter().filter(|p| p.text).map(|p| Interest { vector: p.vector.clone(), importance: p.weight / top }));
    let mut centroid = vec![0f32; dim];
    for p in &focus {
        add_scaled(&mut centroid, p.weight, &p.vector);
    }
    profile.centroid = (l2_normalize(&mut centroid) > 0.0).then_some(centroid);
    profile.interests = interests;
    Ok(profile)
}

/// Weighted spherical k-means with `k = ceil(per_sqrt × √n)` clusters, seeded deterministically
/// from the newest pin outward (farthest point first) — PinnerSage's multi-interest idea.
pub fn cluster(pins: &[&ProfilePin], per_sqrt: f32, dim: usize) -> Vec<Interest> {
    let n = pins.len();
    if n == 0 {
        return Vec::new();
    }
    let k = ((per_sqrt * (n as f32).sqrt()).ceil() as usize).clamp(1, n);
    // Seeds: the heaviest (newest) pin, then repeatedly the pin farthest from every seed.
    let first = (0..n).max_by(|&a, &b| pins[a].weight.total_cmp(&pins[b].weight).then(b.cmp(&a))).unwrap_or(0);
    let mut centroids: Vec<Vec<f32>> = vec![pins[first].vector.clone()];
    let mut nearest: Vec<f32> = pins.iter().map(|p| dot_f32(&p.vector, &centroids[0])).collect();
    while centroids.len() < k {
        let far = (0..n).min_by(|&a, &b| nearest[a].total_cmp(&nearest[b])).unwrap_or(0);
        centroids.push(pins[far].vector.clone());
        let last = centroids.len() - 1;
        for (i, p) in pins.iter().enumerate() {
            nearest[i] = nearest[i].max(dot_f32(&p.vector, &centroids[last]));
        }
    }
    let mut assign = vec![0usize; n];
    for _ in 0..10 {
        for (i, p) in pins.iter().enumerate() {
            assign[i] = (0..k)
                .max_by(|&a, &b| dot_f32(&p.vector, &centroids[a]).total_cmp(&dot_f32(&p.vector, &centroids[b])).then(b.cmp(&a)))
                .unwrap_or(0);
        }
        let mut next = vec![vec![0f32; dim]; k];
        for (i, p) in pins.iter().enumerate() {
            add_scaled(&mut next[assign[i]], p.weight, &p.vector);
        }
        let mut moved = false;
        for (c, mut v) in next.into_iter().enumerate() {
            if l2_normalize(&mut v) > 0.0 {
                moved |= dot_f32(&v, &centroids[c]) < 0.99999;
                centroids[c] = v;
            }
        }
        if !moved {
            break;
        }
    }
    let mut mass = vec![0f32; k];
    for (i, p) in pins.iter().enumerate() {
        mass[assign[i]] += p.weight;
    }
    let top = mass.iter().cloned().fold(0f32, f32::max).max(f32::MIN_POSITIVE);
    centroids
        .into_iter()
        .zip(mass)
        .filter(|(_, m)| *m > 0.0)
        .map(|(vector, m)| Interest { vector, importance: m / top })
        .collect()
}
