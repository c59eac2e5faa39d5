//! The bytes that make a model: what a sentence-transformers folder holds.

#[cfg(not(target_arch = "wasm32"))]
use crate::error::{Error, Result};

/// The files of a BERT-family sentence-transformers model, as bytes.
///
/// `pooling` is `1_Pooling/config.json` and `sentence_config` is `sentence_bert_config.json`;
/// both are optional (mean pooling and the model's position limit are the defaults).
#[derive(Clone, Default)]
pub struct ModelFiles {
    /// `config.json` (the Hugging Face BERT config).
    pub config: Vec<u8>,
    /// `tokenizer.json` (a Hugging Face `tokenizers` file).
    pub tokenizer: Vec<u8>,
    /// `model.safetensors`.
    pub weights: Vec<u8>,
    /// `1_Pooling/config.json`, if the folder has one.
    pub pooling: Option<Vec<u8>>,
    /// `sentence_bert_config.json`, if the folder has one.
    pub sentence_config: Option<Vec<u8>>,
}

impl ModelFiles {
    /// Reads a model folder from disk (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_dir(dir: &std::path::Path) -> Result<Self> {
        let required = |name: &str| -> Result<Vec<u8>> {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|e| Error::InvalidModel(format!("cannot read {}: {e}", path.display())))
        };
        let optional = |name: &str| -> Result<Option<Vec<u8>>> {
            match std::fs::read(dir.join(name)) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::InvalidModel(format!("cannot read {name}: {e}"))),
            }
        };
        if !dir.is_dir() {
            return Err(Error::InvalidModel(format!(
                "{} is not a model folder (set EDGEREC_MODEL_DIR or pass --model)",
                dir.display()
            )));
        }
        Ok(Self {
            config: required("config.json")?,
            tokenizer: required("tokenizer.json")?,
            weights: required("model.safetensors")?,
            pooling: optional("1_Pooling/config.json")?,
            sentence_config: optional("sentence_bert_config.json")?,
        })
    }
}
