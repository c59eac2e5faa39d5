//! One error type for the whole crate, with stable machine-readable codes.
//!
//! The codes are part of the public contract: the CLI prints them, the wasm layer puts them on the
//! JS `Error` as `code`, and the Worker maps them to HTTP statuses.

/// Everything that can go wrong in edgerec, with a stable [`Error::code`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Model files are missing, corrupt, truncated, or do not fit together.
    #[error("invalid model: {0}")]
    InvalidModel(String),
    /// `tokenizer.json` could not be parsed or does not fit the model.
    #[error("invalid tokenizer: {0}")]
    InvalidTokenizer(String),
    /// The caller passed something of the wrong shape or type.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A named limit was exceeded; `what` says which one.
    #[error("limit exceeded: {what} is {actual}, the limit is {limit}")]
    LimitExceeded {
        /// What was measured, e.g. `"texts[3] length in bytes"`.
        what: String,
        /// The value the caller sent.
        actual: usize,
        /// The largest accepted value.
        limit: usize,
    },
    /// A catalog bundle is truncated, corrupt, foreign or of another format version.
    #[error("invalid catalog: {0}")]
    InvalidCatalog(String),
    /// A catalog was built with another model than the encoder in use.
    #[error("model mismatch: the catalog was built with {catalog}, the encoder is {encoder}")]
    ModelMismatch {
        /// The model id the catalog records.
        catalog: String,
        /// The encoder's model id.
        encoder: String,
    },
    /// Reading or writing a file failed (native only).
    #[error("i/o error: {0}")]
    Io(String),
    /// The forward pass failed; this is a bug or an inconsistent model.
    #[error("inference failed: {0}")]
    Inference(String),
    /// Pins need the text encoder (they are not catalog items), and none is loaded.
    #[error("encoder unavailable: {0}")]
    EncoderUnavailable(String),
    /// Memory could not be allocated (wasm memory is full, or the request needs too much).
    #[error("resource exhausted: {0}")]
    ResourceExhausted(String),
    /// A fine-tuning checkpoint is missing, corrupt, or of another run (`edgerec finetune --resume`).
    #[error("invalid checkpoint: {0}")]
    InvalidCheckpoint(String),
    /// The output path exists and overwriting it was not asked for (`--force`).
    #[error("output exists: {0}")]
    OutputExists(String),
    /// A fine-tuned model did not beat its base on held-out users, so it was not kept.
    #[error("gate refused: {0}")]
    GateRefused(String),
}

/// Every code [`Error::code`] can return, for bindings that check their own lists against it.
pub const ERROR_CODES: [&str; 13] = [
    "invalid_model",
    "invalid_tokenizer",
    "invalid_input",
    "limit_exceeded",
    "invalid_catalog",
    "model_mismatch",
    "io",
    "inference_failed",
    "encoder_unavailable",
    "resource_exhausted",
    "invalid_checkpoint",
    "output_exists",
    "gate_refused",
];

impl Error {
    /// A short, stable, snake_case identifier for the kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidModel(_) => "invalid_model",
            Error::InvalidTokenizer(_) => "invalid_tokenizer",
            Error::InvalidInput(_) => "invalid_input",
            Error::LimitExceeded { .. } => "limit_exceeded",
            Error::InvalidCatalog(_) => "invalid_catalog",
            Error::ModelMismatch { .. } => "model_mismatch",
            Error::Io(_) => "io",
            Error::Inference(_) => "inference_failed",
            Error::EncoderUnavailable(_) => "encoder_unavailable",
            Error::ResourceExhausted(_) => "resource_exhausted",
            Error::InvalidCheckpoint(_) => "invalid_checkpoint",
            Error::OutputExists(_) => "output_exists",
            Error::GateRefused(_) => "gate_refused",
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_a_listed_code() {
        let all = [
            Error::InvalidModel(String::new()),
            Error::InvalidTokenizer(String::new()),
            Error::InvalidInput(String::new()),
            Error::LimitExceeded { what: String::new(), actual: 0, limit: 0 },
            Error::InvalidCatalog(String::new()),
            Error::ModelMismatch { catalog: String::new(), encoder: String::new() },
            Error::Io(String::new()),
            Error::Inference(String::new()),
            Error::EncoderUnavailable(String::new()),
            Error::ResourceExhausted(String::new()),
            Error::InvalidCheckpoint(String::new()),
            Error::OutputExists(String::new()),
            Error::GateRefused(String::new()),
        ];
        let codes: Vec<&str> = all.iter().map(Error::code).collect();
        assert_eq!(codes, ERROR_CODES);
    }
}
