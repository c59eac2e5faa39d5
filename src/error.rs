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
}

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
