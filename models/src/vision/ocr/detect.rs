//! Text detection: the PP-OCRv4 detector's probability map and its DB post-processing into
//! rotated text boxes.

use image::{GrayImage, RgbImage};
use imageproc::contours::{find_contours, BorderType};
use ndarray::Array4;
use ort::value::TensorRef;

use super::geometry::{distance, expand, inside, min_area_rect, order_corners, Quad};
use super::tensor::{bgr_planes, resize};
use crate::runtime::OnnxSession;
use crate::vision::{output_error, tensor_error, VisionError};

/// The detector's input has its shorter side brought up to this.
const MIN_SIDE: f32 = 736.0;
/// Safety bound on the detector's input (extreme aspect ratios would otherwise explode).
const MAX_SIDE: f32 = 4096.0;
/// A pixel is text when its probability is above this.
const BINARY_THRESHOLD: f32 = 0.3;
/// A box is kept when its mean probability reaches this.
const BOX_THRESHOLD: f32 = 0.5;
/// Contours looked at, at most.
const MAX_CANDIDATES: usize = 1000;
/// Unclip ratio: boxes grow by area·ratio/perimeter.
const UNCLIP_RATIO: f32 = 1.6;
/// Boxes with a shorter side below this (in map pixels) are noise.
const MIN_SIZE: f32 = 3.0;

/// Runs the detector on an RGB image and returns the text boxes in its coordinates.
pub fn detect(session: &mut OnnxSession, image: &RgbImage) -> Result<Vec<Quad>, VisionError> {
    let (w, h) = (image.width(), image.height());
    if w == 0 || h == 0 {
        return Ok(Vec::new());
    }
    let (rw, rh) = input_size(w, h);
    let resized = resize(image, rw, rh);
    let input = Array4::from_shape_vec((1, 3, rh as usize, rw as usize), bgr_planes(&resized, rw))
        .map_err(|e| session.output_error(e.to_string()))?;
    let tensor = TensorRef::from_array_view(&input).map_err(tensor_error("det"))?;
    let outputs = session.run(ort::inputs!["x" => tensor])?;
    let map = outputs[0]
        .try_extract_array::<f32>()
        .map_err(|e| output_error("det", e.to_string()))?;
    if map.shape() != [1, 1, rh as usize, rw as usize] {
        return Err(output_error(
            "det",
            format!("probability map has shape {:?}", map.shape()),
        )
        .into());
    }
    let probs = match map.as_slice() {
        Some(slice) => slice.to_vec(),
        None => map.iter().copied().collect(),
    };
    Ok(boxes_from_map(&probs, rw, rh, w, h))
}

/// The detector's input size: shorter side to 736 (never down), each side a multiple of 32.
fn input_size(w: u32, h: u32) -> (u32, u32) {
    let (wf, hf) = (w as f32, h as f32);
    let mut ratio = if wf.min(hf) < MIN_SIDE {
        MIN_SIDE / wf.min(hf)
    } else {
        1.0
    };
    if wf.max(hf) * ratio > MAX_SIDE {
        ratio = MAX_SIDE / wf.max(hf);
    }
    let side = |s: f32| ((((s * ratio).floor() / 32.0).round() as u32) * 32).max(32);
    (side(wf), side(hf))
}

/// DB post-processing: threshold, dilate, contours, minimum-area rectangles, box score, unclip,
/// and scaling back to the `dest_w`×`dest_h` image.
fn boxes_from_map(map: &[f32], mw: u32, mh: u32, dest_w: u32, dest_h: u32) -> Vec<Quad> {
    let prob = |x: u32, y: u32| {
        map.get(y as usize * mw as usize + x as usize)
            .copied()
            .unwrap_or(0.0)
    };
    let raw: Vec<u8> = map
        .iter()
        .map(|&p| if p > BINARY_THRESHOLD { 255 } else { 0 })
        .collect();
    let Some(bitmap) = GrayImage::from_raw(mw, mh, raw) else {
        return Vec::new();
    };
    let bitmap = dilate_2x2(&bitmap);
    let contours = find_contours::<i32>(&bitmap);
    let (sx, sy) = (dest_w as f32 / mw as f32, dest_h as f32 / mh as f32);
    let mut boxes = Vec::new();
    for contour in contours
        .iter()
        .filter(|c| c.border_type == BorderType::Outer)
        .take(MAX_CANDIDATES)
    {
        let points: Vec<[f32; 2]> = contour
            .points
            .iter()
            .map(|p| [p.x as f32, p.y as f32])
            .collect();
        let Some(rect) = min_area_rect(&points) else {
            continue;
        };
        if rect.short_side < MIN_SIZE {
            continue;
        }
        if box_score(&prob, &rect.corners, mw, mh) < BOX_THRESHOLD {
            continue;
        }
        let area = rect.short_side * rect.long_side;
        let perimeter = 2.0 * (rect.short_side + rect.long_side);
        if perimeter <= 0.0 {
            continue;
        }
        let grown = expand(&rect, area * UNCLIP_RATIO / perimeter);
        if grown.short_side < MIN_SIZE + 2.0 {
            continue;
        }
        let scaled = grown.corners.map(|[x, y]| {
            [
                (x * sx).round().clamp(0.0, dest_w as f32),
                (y * sy).round().clamp(0.0, dest_h as f32),
            ]
        });
        let quad = order_corners(scaled);
        if distance(quad[0], quad[1]).floor() <= 3.0 || distance(quad[0], quad[3]).floor() <= 3.0 {
            continue;
        }
        boxes.push(quad);
    }
    boxes
}

/// OpenCV's dilation with a 2×2 kernel (anchor at its bottom-right cell): each pixel takes the
/// maximum of itself and its left, upper and upper-left neighbours.
fn dilate_2x2(bitmap: &GrayImage) -> GrayImage {
    let (w, h) = (bitmap.width() as usize, bitmap.height() as usize);
    let src = bitmap.as_raw();
    let mut out = src.clone();
    for y in 0..h {
        let row = &src[y * w..(y + 1) * w];
        let above = if y > 0 { &src[(y - 1) * w..y * w] } else { row };
        let dst = &mut out[y * w..(y + 1) * w];
        for x in 0..w {
            let left = x.saturating_sub(1);
            dst[x] = row[x].max(row[left]).max(above[x]).max(above[left]);
        }
    }
    GrayImage::from_raw(bitmap.width(), bitmap.height(), out).unwrap_or_else(|| bitmap.clone())
}

/// Mean probability of the map pixels inside a box.
fn box_score(prob: &impl Fn(u32, u32) -> f32, quad: &Quad, mw: u32, mh: u32) -> f32 {
    let clampx = |v: f32| (v.max(0.0) as u32).min(mw - 1);
    let clampy = |v: f32| (v.max(0.0) as u32).min(mh - 1);
    let x0 = clampx(quad.iter().map(|p| p[0]).fold(f32::MAX, f32::min).floor());
    let x1 = clampx(quad.iter().map(|p| p[0]).fold(f32::MIN, f32::max).ceil());
    let y0 = clampy(quad.iter().map(|p| p[1]).fold(f32::MAX, f32::min).floor());
    let y1 = clampy(quad.iter().map(|p| p[1]).fold(f32::MIN, f32::max).ceil());
    let (mut sum, mut count) = (0f32, 0u32);
    for y in y0..=y1 {
        for x in x0..=x1 {
            if inside(quad, x as f32, y as f32) {
                sum += prob(x, y);
                count += 1;
            }
        }
    }
    if count == 0 {
        0.0
    } else {
        sum / count as f32
    }
}
