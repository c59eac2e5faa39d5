//! edgerec: on-device recommendations from a small open text-embedding model.
//!
//! The core (everything but the `wasm` module) knows nothing of JavaScript: it is built, tested and
//! benchmarked natively. The `wasm` module is a thin wasm-bindgen layer over it.
#![warn(missing_docs)]

pub mod bundle;
pub mod catalog;
pub mod context;
pub mod encoder;
pub mod error;
#[cfg(not(target_arch = "wasm32"))]
pub mod eval;
#[cfg(not(target_arch = "wasm32"))]
pub mod finetune;
pub mod rank;
#[cfg(not(target_arch = "wasm32"))]
pub mod served;
#[cfg(not(target_arch = "wasm32"))]
pub mod sets;
#[cfg(not(target_arch = "wasm32"))]
pub mod slices;
#[cfg(not(target_arch = "wasm32"))]
pub mod train;
pub mod vector;
#[cfg(not(target_arch = "wasm32"))]
pub mod vector_cache;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use encoder::{BertEncoder, EdgeEncoder, Encoder, LiteEncoder, ModelFiles};
pub use error::{Error, Result};
