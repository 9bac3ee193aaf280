//! Tessera inference: media validation and previews, the model catalog, runtimes and pipelines.

pub mod audio;
pub mod catalog;
pub mod media;
pub mod process;
pub mod runtime;
pub mod speech;
pub mod text;
pub mod video;
pub mod vision;
