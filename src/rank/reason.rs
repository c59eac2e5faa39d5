//! Why an item was recommended: the signal that contributed most, and the pin or board behind it.

use serde::{Deserialize, Serialize};

use super::profile::Profile;
use super::signals::{Features, Prior, Signals, Weights};
use crate::catalog::{Catalog, QueryVector};
use crate::vector::{hamming_block, HammingCosine};

/// Which signal carried a result.
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Saved together with one of the pins by other users.
    CoSaved,
    /// Close in meaning to one of the pins.
    Similar,
    /// Common on other users' boards with the same name.
    BoardName,
    /// Popular overall.
    Popular,
    /// Saved on the catalog's boards most like the request's.
    SimilarBoards,
}

/// Why an item was recommended.
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// The signal that contributed most.
    pub signal: Signal,
    /// The board it came from, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub board: Option<String>,
    /// The pin it came from (its title), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    /// A sentence for people.
    pub text: String,
}

/// Most focus pins a similarity reason (and so a pin's quota) can name: the heaviest catalog pins
/// and the newest free-text pins. Bounds the attribution work per candidate.
pub const SOURCE_PINS: usize = 16;

/// The pins reasons may name for similarity, prepared for the catalog once per request.
pub struct Sources {
    pins: Vec<(usize, QueryVector, f32)>, // (index into profile.pins, vector, √weight)
    /// The pins' sign bits, one after the other (an item's distances to all of them in one
    /// Hamming pass).
    bits: Vec<u64>,
    /// The cosine a Hamming distance between sign bits suggests.
    cos: HammingCosine,
}

/// How many source pins, best by the sign bits' cosine, [`Sources::most_similar`] compares
/// exactly: the sign bits' cosine errs by a few hundredths, so the most similar pin is nearly
/// always among the best few, and exact cosines to all sixteen would cost more than the rest
/// of an item's scoring.
const EXACT_SOURCES: usize = 3;

impl Sources {
    /// The focus board's heaviest catalog pins and newest text pins, up to [`SOURCE_PINS`] each:
    /// `(index into profile.pins, working-space vector, √weight)`.
    pub fn choose(profile: &Profile) -> Vec<(u32, Vec<f32>, f32)> {
        let mut focus: Vec<usize> = (0..profile.pins.len()).filter(|&i| profile.is_focus(&profile.pins[i])).collect();
        focus.sort_by(|&a, &b| profile.pins[b].weight.total_cmp(&profile.pins[a].weight).then(a.cmp(&b)));
        let mut chosen: Vec<usize> = focus.iter().copied().filter(|&i| !profile.pins[i].text).take(SOURCE_PINS).collect();
        chosen.extend(focus.iter().copied().filter(|&i| profile.pins[i].text).take(SOURCE_PINS));
        chosen.into_iter().map(|i| (i as u32, profile.pins[i].vector.clone(), profile.pins[i].weight.sqrt())).collect()
    }

    /// The chosen pins ([`Sources::choose`]) prepared for `catalog`'s vectors.
    pub fn prepare(catalog: &Catalog, chosen: &[(u32, Vec<f32>, f32)]) -> Self {
        // At most what `choose` picks (a message from elsewhere could hold more).
        let pins: Vec<(usize, QueryVector, f32)> =
            chosen.iter().take(2 * SOURCE_PINS).map(|(i, v, w)| (*i as usize, catalog.vectors().query(v), *w)).collect();
        let bits = pins.iter().flat_map(|p| p.1.bits().iter().copied()).collect();
        Self { pins, bits, cos: HammingCosine::new(catalog.dim()) }
    }

    /// [`Sources::choose`] prepared for `catalog` (a whole catalog).
    pub fn new(catalog: &Catalog, profile: &Profile) -> Self {
        Self::prepare(catalog, &Self::choose(profile))
    }

    /// The source pins.
    pub fn indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.pins.iter().map(|p| p.0)
    }

    /// The source pin most similar to item `j` (cosine × √weight; ties to the earlier pin):
    /// the best [`EXACT_SOURCES`] by the sign bits' cosine, compared exactly.
    fn most_similar(&self, catalog: &Catalog, j: u32) -> Option<usize> {
        let j = j as usize;
        let n = self.pins.len(); // at most 2 × SOURCE_PINS: see prepare
        let mut order = [0usize; EXACT_SOURCES];
        let m = n.min(EXACT_SOURCES);
        if n <= EXACT_SOURCES {
            order.iter_mut().enumerate().for_each(|(k, o)| *o = k);
        } else {
            let mut dist = [0u32; 2 * SOURCE_PINS];
            hamming_block(catalog.bits(j), &self.bits, &mut dist[..n]);
            let mut coarse = [f32::NEG_INFINITY; 2 * SOURCE_PINS];
            for ((c, (_, q, w)), &h) in coarse.iter_mut().zip(&self.pins).zip(&dist) {
                *c = w * catalog.vectors().coarse(q, j, self.cos.at(h));
            }
            for o in order.iter_mut() {
                // The best left (ties to the earlier pin), then out of the running.
                let best = (0..n).fold(0, |b, k| if coarse[k] > coarse[b] { k } else { b });
                *o = best;
                coarse[best] = f32::NEG_INFINITY;
            }
            order.sort_unstable();
        }
        let order = &order[..m];
        let mut cosines = [0f32; EXACT_SOURCES];
        catalog.vectors().each_cosine(j, order.iter().map(|&k| &self.pins[k].1), |at, c| cosines[at] = c);
        order
            .iter()
            .zip(cosines)
            .map(|(&k, c)| (self.pins[k].0, self.pins[k].2 * c))
            .fold(None::<(usize, f32)>, |b, x| match b {
                Some(b) if b.1 >= x.1 => Some(b),
                _ => Some(x),
            })
            .map(|(i, _)| i)
    }
}

/// What explains item `j`'s score, from its features `f` and the blend's weights `w` (both as
/// [`super::signals::blend`] takes them): the signal that contributes most (similar boards only
/// where nothing else does) and, where it has one, the pin (index into
/// `Profile::pins`) or board behind it.
pub fn explain(
    catalog: &Catalog,
    sig: &Signals,
    prior: &Prior,
    sources: &Sources,
    j: u32,
    w: &Weights,
    f: &Features,
) -> (Signal, Option<usize>, Option<usize>) {
    let w = w.of(f);
    // An item nobody saved is never "popular".
    let popular = if prior.new[j as usize] { f32::MIN } else { w[4] * f[4] };
    let parts = [
        (Signal::CoSaved, w[0] * f[0]),
        (Signal::Similar, w[1] * f[1] + w[2] * f[2]),
        (Signal::BoardName, w[3] * f[3]),
        (Signal::Popular, popular),
    ];
    let best = parts.iter().copied().fold((Signal::Similar, f32::MIN), |b, p| if p.1 > b.1 { p } else { b });
    // Similar boards name neither a pin nor a board of the request: they explain an item only
    // where no other signal speaks for it ("saved together with “Alien”" says more, and a reason
    // naming a pin is what fills that pin's slot).
    let boards = w[6] * f[6];
    let (signal, _) = if best.1 <= 0.0 && boards > best.1 { (Signal::SimilarBoards, boards) } else { best };
    match signal {
        Signal::CoSaved => (signal, sig.cosaved_pin.get(&j).map(|b| b.0), None),
        Signal::Similar => (signal, sources.most_similar(catalog, j), None),
        Signal::BoardName => (signal, None, sig.names_board.get(&j).map(|b| b.0)),
        Signal::Popular | Signal::SimilarBoards => (signal, None, None),
    }
}

/// The reason for people, from [`explain`]'s answer.
pub fn reason(profile: &Profile, signal: Signal, pin: Option<usize>, board: Option<usize>) -> Reason {
    let pin = pin.map(|p| &profile.pins[p]);
    let board_of = |b: usize| profile.boards[b].name.clone();
    match (signal, pin) {
        (Signal::CoSaved, Some(p)) => Reason {
            signal,
            board: Some(board_of(p.board)),
            pin: Some(p.label.clone()),
            text: format!("often saved together with “{}”", p.label),
        },
        (Signal::CoSaved, None) => Reason { signal, board: None, pin: None, text: "often saved together with your pins".into() },
        (Signal::Similar, Some(p)) => Reason {
            signal,
            board: Some(board_of(p.board)),
            pin: Some(p.label.clone()),
            text: format!("similar to “{}” on {}", p.label, board_of(p.board)),
        },
        (Signal::Similar, None) => Reason { signal, board: None, pin: None, text: "similar to your boards".into() },
        (Signal::BoardName, _) => {
            let name = board.map(board_of);
            let text = match &name {
                Some(n) => format!("often saved on boards named “{n}”"),
                None => "often saved on boards like yours".into(),
            };
            Reason { signal, board: name, pin: None, text }
        }
        (Signal::Popular, _) => Reason { signal, board: None, pin: None, text: "popular with many people".into() },
        (Signal::SimilarBoards, _) => {
            let name = profile.target.map(board_of).filter(|n| !n.trim().is_empty());
            let text = match &name {
                Some(n) => format!("saved on other people's boards like “{n}”"),
                None => "saved on other people's boards like yours".into(),
            };
            Reason { signal, board: name, pin: None, text }
        }
    }
}
