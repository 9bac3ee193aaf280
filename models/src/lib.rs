//! Tessera inference: media validation and previews, runtimes and pipelines.

pub mod media;
