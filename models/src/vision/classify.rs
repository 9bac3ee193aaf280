//! ImageNet classification with EfficientNet-Lite0 (fp32 ONNX): 224×224 RGB in, softmax
//! probabilities over the 1000 ImageNet-1k classes out.

use std::path::Path;

use image::{DynamicImage, RgbImage};
use ndarray::Array4;
use ort::value::TensorRef;

use super::ocr::tensor::{planes, resize};
use super::{output_error, tensor_error, VisionError};
use crate::runtime::{Model, OnnxRuntime, OnnxSession, RuntimeError, SessionOptions};

/// Side of the square the model sees.
pub const INPUT_SIZE: u32 = 224;
/// Number of classes.
pub const CLASSES: usize = 1000;
/// Images per model run at most.
pub const MAX_BATCH: usize = 8;
const MODEL: &str = "efficientnet-lite0";
/// Share of the shorter side the centre crop keeps (224 of 256).
const CROP_FRACTION: f32 = 224.0 / 256.0;

/// One class of an image with its probability.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    /// ImageNet class index (0–999).
    pub index: usize,
    /// Human-readable class name.
    pub name: String,
    /// Softmax probability, 0–1.
    pub score: f32,
}

/// How an image is brought to 224×224.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Preprocess {
    /// Shorter side to 256, then the central 224×224 (the model family's evaluation crop, which
    /// is what its reported accuracy was measured with).
    #[default]
    CentreCrop,
    /// Squash the whole image to 224×224, distorting the aspect ratio but keeping the borders.
    Stretch,
}

/// The EfficientNet-Lite0 classifier and its class names.
pub struct Classifier {
    session: OnnxSession,
    classes: Vec<String>,
    batched: bool,
    preprocess: Preprocess,
    top_k: usize,
}

impl Classifier {
    /// Loads `model.onnx` and `classes.txt` (one class name a line, in index order) from an
    /// installed model folder.
    pub fn load(dir: &Path, options: &SessionOptions) -> Result<Self, VisionError> {
        let session = OnnxRuntime::get()?.session(dir.join("model.onnx"), options)?;
        let classes_path = dir.join("classes.txt");
        let text = std::fs::read_to_string(&classes_path).map_err(|e| RuntimeError::Load {
            path: classes_path.display().to_string(),
            message: e.to_string(),
        })?;
        let classes: Vec<String> = text.lines().map(|l| l.trim().to_owned()).collect();
        if classes.len() != CLASSES {
            return Err(RuntimeError::Load {
                path: classes_path.display().to_string(),
                message: format!("expected {CLASSES} class names, found {}", classes.len()),
            }
            .into());
        }
        // An export with a fixed batch dimension of 1 is run one image at a time.
        let batched = session
            .inner()
            .inputs()
            .first()
            .and_then(|input| input.dtype().tensor_shape().map(|s| s.first().copied()))
            .flatten()
            .is_none_or(|batch| batch != 1);
        Ok(Classifier {
            session,
            classes,
            batched,
            preprocess: Preprocess::default(),
            top_k: 5,
        })
    }

    /// Uses another preprocessing (the default is [`Preprocess::CentreCrop`]).
    pub fn with_preprocess(mut self, preprocess: Preprocess) -> Self {
        self.preprocess = preprocess;
        self
    }

    /// How many labels [`Model::run_batch`] returns per image (default 5).
    pub fn with_top_k(mut self, top_k: usize) -> Self {
        self.top_k = top_k;
        self
    }

    /// Whether the model takes several images per run.
    pub fn batches(&self) -> bool {
        self.batched
    }

    /// The `k` most probable classes of an image, most probable first.
    pub fn classify(&mut self, image: &DynamicImage, k: usize) -> Result<Vec<Label>, VisionError> {
        let mut out = self.classify_batch(std::slice::from_ref(image), k)?;
        Ok(out.pop().unwrap_or_default())
    }

    /// The `k` most probable classes of each image, in order.
    pub fn classify_batch(
        &mut self,
        images: &[DynamicImage],
        k: usize,
    ) -> Result<Vec<Vec<Label>>, VisionError> {
        let step = if self.batched { MAX_BATCH } else { 1 };
        let mut out = Vec::with_capacity(images.len());
        for chunk in images.chunks(step) {
            for probs in self.probabilities(chunk)? {
                out.push(self.top(&probs, k));
            }
        }
        Ok(out)
    }

    /// Softmax probabilities of every class, for each image of one model run.
    fn probabilities(&mut self, images: &[DynamicImage]) -> Result<Vec<Vec<f32>>, VisionError> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let side = INPUT_SIZE as usize;
        let mut data = Vec::with_capacity(images.len() * 3 * side * side);
        for image in images {
            let rgb = prepare(image, self.preprocess);
            data.extend(planes(&rgb, INPUT_SIZE, [0, 1, 2], |v| {
                (f32::from(v) - 127.0) / 128.0
            }));
        }
        let input = Array4::from_shape_vec((images.len(), 3, side, side), data)
            .map_err(|e| output_error(MODEL, e.to_string()))?;
        let tensor = TensorRef::from_array_view(&input).map_err(tensor_error(MODEL))?;
        let outputs = self.session.run(ort::inputs!["input" => tensor])?;
        let logits = outputs[0]
            .try_extract_array::<f32>()
            .map_err(|e| output_error(MODEL, e.to_string()))?;
        if logits.shape() != [images.len(), CLASSES] {
            return Err(
                output_error(MODEL, format!("logits have shape {:?}", logits.shape())).into(),
            );
        }
        Ok(logits
            .outer_iter()
            .map(|row| softmax(row.iter().copied()))
            .collect())
    }

    fn top(&self, probs: &[f32], k: usize) -> Vec<Label> {
        let mut order: Vec<usize> = (0..probs.len()).collect();
        order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
        order
            .into_iter()
            .take(k)
            .map(|index| Label {
                index,
                name: self.classes.get(index).cloned().unwrap_or_default(),
                score: probs[index],
            })
            .collect()
    }
}

/// The 224×224 RGB view of an image (transparency composited onto white).
fn prepare(image: &DynamicImage, preprocess: Preprocess) -> RgbImage {
    let rgb = flatten(image);
    match preprocess {
        Preprocess::Stretch => resize(&rgb, INPUT_SIZE, INPUT_SIZE),
        Preprocess::CentreCrop => {
            // The central square that shorter-side-to-256 then a 224 crop would keep, cut out
            // before resizing so that a 10000×1 strip does not become a 2.5-gigapixel image.
            let (w, h) = (rgb.width(), rgb.height());
            let side = ((w.min(h) as f32 * CROP_FRACTION).round() as u32).clamp(1, w.min(h).max(1));
            let (x, y) = ((w - side.min(w)) / 2, (h - side.min(h)) / 2);
            let square = image::imageops::crop_imm(&rgb, x, y, side, side).to_image();
            resize(&square, INPUT_SIZE, INPUT_SIZE)
        }
    }
}

/// RGB pixels, with any transparency composited onto white as viewers show it.
pub(crate) fn flatten(image: &DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.to_rgb8();
    }
    let rgba = image.to_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let p = rgba.get_pixel(x, y).0;
        let a = u16::from(p[3]);
        let blend = |c: u8| ((u16::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
        image::Rgb([blend(p[0]), blend(p[1]), blend(p[2])])
    })
}

fn softmax(logits: impl Iterator<Item = f32> + Clone) -> Vec<f32> {
    let max = logits.clone().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.map(|v| (v - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    if sum > 0.0 && sum.is_finite() {
        exps.into_iter().map(|e| e / sum).collect()
    } else {
        exps.into_iter().map(|_| 0.0).collect()
    }
}

impl Model for Classifier {
    type Request = DynamicImage;
    type Response = Vec<Label>;

    fn max_batch(&self) -> usize {
        if self.batched {
            MAX_BATCH
        } else {
            1
        }
    }

    fn run_batch(&mut self, requests: Vec<DynamicImage>) -> Vec<Result<Vec<Label>, RuntimeError>> {
        let k = self.top_k;
        match self.classify_batch(&requests, k) {
            Ok(labels) => labels.into_iter().map(Ok).collect(),
            Err(e) => {
                let message = e.to_string();
                requests
                    .iter()
                    .map(|_| {
                        Err(RuntimeError::Inference {
                            model: MODEL.into(),
                            message: message.clone(),
                        })
                    })
                    .collect()
            }
        }
    }
}
