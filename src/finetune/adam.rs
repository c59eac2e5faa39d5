//! AdamW with decoupled weight decay, its state in the open so a checkpoint can hold it
//! (candle-nn's `AdamW` keeps its moments private).

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};

/// The optimizer's settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdamSettings {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamSettings {
    fn default() -> Self {
        // PyTorch's AdamW with the weight decay sentence-transformers trains with.
        Self { beta1: 0.9, beta2: 0.999, eps: 1e-6, weight_decay: 0.01 }
    }
}

/// One parameter's moments.
pub(crate) struct Moments {
    pub m: Tensor,
    pub v: Tensor,
}

/// AdamW over named parameters (in the model's name order).
pub(crate) struct AdamW {
    pub settings: AdamSettings,
    /// Steps taken so far.
    pub t: usize,
    pub moments: Vec<Moments>,
    /// Biases and LayerNorm parameters are not decayed (as in BERT's own recipe).
    decays: Vec<bool>,
}

impl AdamW {
    pub(crate) fn new(vars: &[(String, Var)], settings: AdamSettings) -> Result<Self> {
        let moments = vars
            .iter()
            .map(|(_, v)| Ok(Moments { m: v.as_tensor().zeros_like()?, v: v.as_tensor().zeros_like()? }))
            .collect::<Result<_>>()?;
        let decays = vars.iter().map(|(n, _)| !(n.ends_with(".bias") || n.contains("LayerNorm"))).collect();
        Ok(Self { settings, t: 0, moments, decays })
    }

    /// One update at learning rate `lr`. Parameters without a gradient are left alone.
    pub(crate) fn step(&mut self, vars: &[(String, Var)], grads: &GradStore, lr: f64) -> Result<()> {
        self.t += 1;
        let s = self.settings;
        let (c1, c2) = (1.0 - s.beta1.powi(self.t as i32), 1.0 - s.beta2.powi(self.t as i32));
        for (((_, var), mo), &decay) in vars.iter().zip(&mut self.moments).zip(&self.decays) {
            let Some(g) = grads.get(var.as_tensor()) else { continue };
            let m = ((&mo.m * s.beta1)? + (g * (1.0 - s.beta1))?)?;
            let v = ((&mo.v * s.beta2)? + (g.sqr()? * (1.0 - s.beta2))?)?;
            let update = ((&m / c1)? / ((&v / c2)?.sqrt()? + s.eps)?)?;
            let kept = if decay { 1.0 - lr * s.weight_decay } else { 1.0 };
            var.set(&((var.as_tensor() * kept)? - (update * lr)?)?)?;
            mo.m = m.detach();
            mo.v = v.detach();
        }
        Ok(())
    }
}
