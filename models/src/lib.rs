//! Tessera inference: media validation and previews, the model catalog, runtimes and pipelines.

pub mod catalog;
pub mod media;
