//! Shared by the model tests: where the installed models are.

#![allow(dead_code)]

use std::path::PathBuf;

use tessera_models::catalog::Catalog;

/// The install folder of a model of the shipped catalog. Fails, saying what to run, when the
/// model is not installed: model tests never skip.
pub fn model_dir(id: &str) -> PathBuf {
    Catalog::shipped()
        .require(id)
        .unwrap_or_else(|e| panic!("{e}"))
}
