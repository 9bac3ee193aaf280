//! OCR with PP-OCRv4 (RapidOCR's ONNX export): text boxes from the detector, each box cut out
//! and straightened, turned upright by the angle classifier, then read by the recogniser.

mod detect;
pub mod geometry;
mod recognise;
pub(crate) mod tensor;

use std::path::Path;

use image::{DynamicImage, Rgb, RgbImage};
use imageproc::geometric_transformations::{warp_into, Border, Interpolation, Projection};

use self::geometry::{distance, reading_order, vertical_extent, Quad};
use super::classify::flatten;
use super::VisionError;
use crate::runtime::{Model, OnnxRuntime, OnnxSession, RuntimeError, SessionOptions};

/// Images larger than this on their longer side are scaled down first.
const MAX_IMAGE_SIDE: f32 = 2000.0;
/// Images smaller than this on their shorter side are scaled up first.
const MIN_IMAGE_SIDE: f32 = 30.0;
/// Boxes whose tops differ by less than this many pixels are on one row.
const ROW_TOLERANCE: f32 = 10.0;
/// Readings below this confidence are dropped.
const MIN_SCORE: f32 = 0.5;

/// One line of text found in an image.
#[derive(Clone, Debug, PartialEq)]
pub struct OcrLine {
    /// The text read.
    pub text: String,
    /// Mean confidence of its characters, 0–1.
    pub score: f32,
    /// Its box in the image's pixels: top left, top right, bottom right, bottom left (`[x, y]`).
    pub bbox: [[f32; 2]; 4],
}

/// The text of an image.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OcrResult {
    /// Lines in reading order.
    pub lines: Vec<OcrLine>,
    /// All lines joined in reading order: lines of one visual row separated by spaces, rows by
    /// newlines.
    pub text: String,
}

/// The three PP-OCR models and the recogniser's character table.
pub struct Ocr {
    det: OnnxSession,
    cls: OnnxSession,
    rec: OnnxSession,
    characters: Vec<String>,
    angle_classifier: bool,
}

impl Ocr {
    /// Loads `det.onnx`, `cls.onnx` and `rec.onnx` from an installed model folder.
    pub fn load(dir: &Path, options: &SessionOptions) -> Result<Self, VisionError> {
        let runtime = OnnxRuntime::get()?;
        let det = runtime.session(dir.join("det.onnx"), options)?;
        let cls = runtime.session(dir.join("cls.onnx"), options)?;
        let rec = runtime.session(dir.join("rec.onnx"), options)?;
        let table = rec
            .metadata("character")?
            .ok_or_else(|| RuntimeError::Load {
                path: dir.join("rec.onnx").display().to_string(),
                message: "the model has no `character` metadata".into(),
            })?;
        // Class 0 is the CTC blank; the table's lines follow; the space comes last.
        let characters = std::iter::once(String::new())
            .chain(table.lines().map(str::to_owned))
            .chain(std::iter::once(" ".to_owned()))
            .collect();
        Ok(Ocr {
            det,
            cls,
            rec,
            characters,
            angle_classifier: true,
        })
    }

    /// Turns the angle classifier off (on by default): slightly faster, but upside-down text is
    /// then misread.
    pub fn with_angle_classifier(mut self, enabled: bool) -> Self {
        self.angle_classifier = enabled;
        self
    }

    /// Reads the text of an image. An image without text gives an empty result.
    pub fn read(&mut self, image: &DynamicImage) -> Result<OcrResult, VisionError> {
        let original = flatten(image);
        let (ow, oh) = (original.width(), original.height());
        if ow == 0 || oh == 0 {
            return Ok(OcrResult::default());
        }
        let work = Working::new(&original);
        let mut boxes = detect::detect(&mut self.det, &work.image)?;
        reading_order(&mut boxes, ROW_TOLERANCE);
        let mut kept_boxes = Vec::with_capacity(boxes.len());
        let mut crops = Vec::with_capacity(boxes.len());
        for quad in boxes {
            if let Some(crop) = crop(&work.image, &quad) {
                kept_boxes.push(quad);
                crops.push(crop);
            }
        }
        if crops.is_empty() {
            return Ok(OcrResult::default());
        }
        if self.angle_classifier {
            recognise::fix_orientation(&mut self.cls, &mut crops)?;
        }
        let readings = recognise::recognise(&mut self.rec, &self.characters, &crops)?;
        let lines: Vec<OcrLine> = kept_boxes
            .iter()
            .zip(readings)
            .filter(|(_, r)| r.score >= MIN_SCORE && !r.text.trim().is_empty())
            .map(|(quad, r)| OcrLine {
                text: r.text.trim().to_owned(),
                score: r.score,
                bbox: work.to_original(quad, ow, oh),
            })
            .collect();
        let text = join_lines(&lines);
        Ok(OcrResult { lines, text })
    }
}

/// Joins lines in reading order: a line whose vertical centre lies within the previous line's
/// vertical extent continues its row.
fn join_lines(lines: &[OcrLine]) -> String {
    let mut text = String::new();
    let mut previous: Option<(f32, f32)> = None;
    for line in lines {
        let (top, bottom) = vertical_extent(&line.bbox);
        if let Some((ptop, pbottom)) = previous {
            let centre = (top + bottom) / 2.0;
            text.push(if centre >= ptop && centre <= pbottom {
                ' '
            } else {
                '\n'
            });
        }
        text.push_str(&line.text);
        previous = Some((top, bottom));
    }
    text
}

/// The image the detector sees: scaled into bounds, with black bars above and below for very
/// flat images; and how to map its coordinates back.
struct Working {
    image: RgbImage,
    scale_x: f32,
    scale_y: f32,
    pad: u32,
}

impl Working {
    fn new(original: &RgbImage) -> Self {
        let (w, h) = (original.width() as f32, original.height() as f32);
        let ratio = if w.max(h) > MAX_IMAGE_SIDE {
            Some(MAX_IMAGE_SIDE / w.max(h))
        } else if w.min(h) < MIN_IMAGE_SIDE {
            Some(MIN_IMAGE_SIDE / w.min(h))
        } else {
            None
        };
        let scaled = match ratio {
            Some(r) => {
                let side = |s: f32| (((s * r / 32.0).round() as u32) * 32).max(32);
                // A 1×5000 strip scaled to a 30-pixel minimum would be 150,000 wide: cap it.
                let (nw, nh) = (side(w).min(8192), side(h).min(8192));
                tensor::resize(original, nw, nh)
            }
            None => original.clone(),
        };
        let (sw, sh) = (scaled.width(), scaled.height());
        let pad = if sh <= 30 || sw as f32 / sh as f32 > 8.0 {
            let target = 2 * (sw / 8).max(30);
            target.abs_diff(sh) / 2
        } else {
            0
        };
        let image = if pad > 0 {
            let mut padded = RgbImage::new(sw, sh + 2 * pad);
            image::imageops::replace(&mut padded, &scaled, 0, i64::from(pad));
            padded
        } else {
            scaled
        };
        Working {
            image,
            scale_x: sw as f32 / w.max(1.0),
            scale_y: sh as f32 / h.max(1.0),
            pad,
        }
    }

    fn to_original(&self, quad: &Quad, ow: u32, oh: u32) -> Quad {
        quad.map(|[x, y]| {
            [
                (x / self.scale_x).clamp(0.0, ow as f32),
                ((y - self.pad as f32) / self.scale_y).clamp(0.0, oh as f32),
            ]
        })
    }
}

/// Cuts a box out of the image and straightens it (perspective warp, bicubic, edges
/// replicated); tall narrow crops are turned a quarter counter-clockwise to lie flat.
fn crop(image: &RgbImage, quad: &Quad) -> Option<RgbImage> {
    let w = distance(quad[0], quad[1]).max(distance(quad[2], quad[3])) as u32;
    let h = distance(quad[0], quad[3]).max(distance(quad[1], quad[2])) as u32;
    if w == 0
        || h == 0
        || w > image.width().max(image.height()) * 2
        || h > image.width().max(image.height()) * 2
    {
        return None;
    }
    let from = quad.map(|[x, y]| (x, y));
    let to = [
        (0.0, 0.0),
        (w as f32, 0.0),
        (w as f32, h as f32),
        (0.0, h as f32),
    ];
    let projection = Projection::from_control_points(from, to)?;
    let mut out = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    warp_into(
        image,
        projection,
        Interpolation::Bicubic,
        Border::Replicate,
        &mut out,
    );
    if h as f32 / w as f32 >= 1.5 {
        Some(image::imageops::rotate270(&out))
    } else {
        Some(out)
    }
}

impl Model for Ocr {
    type Request = DynamicImage;
    type Response = OcrResult;

    fn run_batch(&mut self, requests: Vec<DynamicImage>) -> Vec<Result<OcrResult, RuntimeError>> {
        requests
            .iter()
            .map(|image| {
                self.read(image).map_err(|e| match e {
                    VisionError::Runtime(e) => e,
                    other => RuntimeError::Inference {
                        model: "ppocr-v4".into(),
                        message: other.to_string(),
                    },
                })
            })
            .collect()
    }
}
