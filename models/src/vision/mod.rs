//! Image pipelines: classification, OCR, EXIF facts.
//!
//! Every pipeline takes an already decoded [`image::DynamicImage`]; [`decode_image`] turns
//! untrusted bytes into one, refusing absurd sizes before any pixel buffer is allocated.

pub mod classify;
pub mod decode;
pub mod exif;
pub mod ocr;

pub use classify::{Classifier, Label, Preprocess};
pub use decode::{decode_image, decode_image_file, ImageLimits};
pub use exif::{read_exif, ExifFacts, GpsPosition};
pub use ocr::{Ocr, OcrLine, OcrResult};

use crate::runtime::RuntimeError;

/// What can go wrong in an image pipeline.
#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    /// The image declares more pixels than the limits allow.
    #[error("the image is too large: {0}")]
    TooLarge(String),
    /// The data is not a decodable image (truncated, malformed, zero-sized).
    #[error("the image is corrupt: {0}")]
    Corrupt(String),
    /// The data is an image format or variant the decoders do not support.
    #[error("the image format is not supported: {0}")]
    Unsupported(String),
    /// Reading the image failed.
    #[error("cannot read the image: {0}")]
    Io(#[from] std::io::Error),
    /// The model is missing, failed to load, or failed while running.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

impl VisionError {
    /// True when the input, not the server, is at fault.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            VisionError::TooLarge(_) | VisionError::Corrupt(_) | VisionError::Unsupported(_)
        )
    }
}

/// An unexpected-output error of the named model.
pub(crate) fn output_error(model: &str, message: impl Into<String>) -> RuntimeError {
    RuntimeError::Output {
        model: model.to_owned(),
        message: message.into(),
    }
}

/// The tensor error of an ONNX input, as a runtime error of the named model.
pub(crate) fn tensor_error(model: &str) -> impl Fn(ort::Error) -> RuntimeError + '_ {
    move |e| RuntimeError::Inference {
        model: model.to_owned(),
        message: e.to_string(),
    }
}
