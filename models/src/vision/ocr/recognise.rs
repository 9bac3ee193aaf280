//! Text line reading: the angle classifier (upright or upside down) and the PP-OCRv4 recogniser
//! with greedy CTC decoding.

use image::RgbImage;
use ndarray::Array4;
use ort::value::TensorRef;

use super::tensor::{bgr_planes, resize};
use crate::runtime::OnnxSession;
use crate::vision::{output_error, tensor_error, VisionError};

/// Height of every line image the two models see.
const LINE_HEIGHT: u32 = 48;
/// The classifier's fixed input width.
const CLS_WIDTH: u32 = 192;
/// Line images per classifier or recogniser run.
const BATCH: usize = 6;
/// Turn a line around when the classifier is at least this sure it is upside down.
const FLIP_THRESHOLD: f32 = 0.9;
/// Widest line image the recogniser gets (a longer line is squeezed).
const MAX_REC_WIDTH: u32 = 4096;

/// One recognised line: text and mean confidence of its characters.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    pub text: String,
    pub score: f32,
}

/// Width of a line image scaled to the model height, rounded up, at least 1.
fn scaled_width(image: &RgbImage) -> u32 {
    let (w, h) = (image.width().max(1) as f32, image.height().max(1) as f32);
    ((LINE_HEIGHT as f32 * w / h).ceil() as u32).max(1)
}

/// Turns upside-down lines the right way up, in place.
pub fn fix_orientation(
    session: &mut OnnxSession,
    lines: &mut [RgbImage],
) -> Result<(), VisionError> {
    for chunk in lines.chunks_mut(BATCH) {
        let n = chunk.len();
        let mut data = Vec::with_capacity(n * 3 * (LINE_HEIGHT * CLS_WIDTH) as usize);
        for line in chunk.iter() {
            let w = scaled_width(line).min(CLS_WIDTH);
            let resized = resize(line, w, LINE_HEIGHT);
            data.extend(bgr_planes(&resized, CLS_WIDTH));
        }
        let input = Array4::from_shape_vec((n, 3, LINE_HEIGHT as usize, CLS_WIDTH as usize), data)
            .map_err(|e| session.output_error(e.to_string()))?;
        let tensor = TensorRef::from_array_view(&input).map_err(tensor_error("cls"))?;
        let outputs = session.run(ort::inputs!["x" => tensor])?;
        let probs = outputs[0]
            .try_extract_array::<f32>()
            .map_err(|e| output_error("cls", e.to_string()))?;
        if probs.shape() != [n, 2] {
            let message = format!("angle classifier output has shape {:?}", probs.shape());
            return Err(output_error("cls", message).into());
        }
        for (i, line) in chunk.iter_mut().enumerate() {
            if probs[[i, 1]] > FLIP_THRESHOLD {
                image::imageops::rotate180_in_place(line);
            }
        }
    }
    Ok(())
}

/// Reads each line image; one reading per line, in order.
pub fn recognise(
    session: &mut OnnxSession,
    characters: &[String],
    lines: &[RgbImage],
) -> Result<Vec<Reading>, VisionError> {
    let mut order: Vec<usize> = (0..lines.len()).collect();
    let ratio = |i: &usize| {
        let l = &lines[*i];
        l.width() as f32 / l.height().max(1) as f32
    };
    order.sort_by(|a, b| ratio(a).total_cmp(&ratio(b)));
    let mut readings = vec![
        Reading {
            text: String::new(),
            score: 0.0
        };
        lines.len()
    ];
    for chunk in order.chunks(BATCH) {
        let max_ratio = chunk.iter().map(ratio).fold(320.0 / 48.0, f32::max);
        let width = ((LINE_HEIGHT as f32 * max_ratio) as u32).clamp(LINE_HEIGHT, MAX_REC_WIDTH);
        let n = chunk.len();
        let mut data = Vec::with_capacity(n * 3 * (LINE_HEIGHT * width) as usize);
        for &i in chunk {
            let w = scaled_width(&lines[i]).min(width);
            let resized = resize(&lines[i], w, LINE_HEIGHT);
            data.extend(bgr_planes(&resized, width));
        }
        let input = Array4::from_shape_vec((n, 3, LINE_HEIGHT as usize, width as usize), data)
            .map_err(|e| session.output_error(e.to_string()))?;
        let tensor = TensorRef::from_array_view(&input).map_err(tensor_error("rec"))?;
        let outputs = session.run(ort::inputs!["x" => tensor])?;
        let probs = outputs[0]
            .try_extract_array::<f32>()
            .map_err(|e| output_error("rec", e.to_string()))?;
        let shape = probs.shape().to_vec();
        if shape.len() != 3 || shape[0] != n || shape[2] != characters.len() {
            return Err(output_error(
                "rec",
                format!(
                    "recogniser output has shape {shape:?} for {} characters",
                    characters.len()
                ),
            )
            .into());
        }
        let flat: std::borrow::Cow<'_, [f32]> = match probs.as_slice() {
            Some(slice) => slice.into(),
            None => probs.iter().copied().collect::<Vec<_>>().into(),
        };
        let (steps, classes) = (shape[1], shape[2]);
        for (row, &i) in chunk.iter().enumerate() {
            let sequence = flat
                .get(row * steps * classes..(row + 1) * steps * classes)
                .unwrap_or(&[]);
            let best = sequence.chunks_exact(classes.max(1)).map(argmax);
            readings[i] = ctc_greedy(best, characters);
        }
    }
    Ok(readings)
}

/// The most probable class of one step and its probability.
fn argmax(step: &[f32]) -> (usize, f32) {
    let mut best = (0, f32::MIN);
    for (k, &p) in step.iter().enumerate() {
        if p > best.1 {
            best = (k, p);
        }
    }
    best
}

/// Greedy CTC: collapse repeated classes, drop blanks (class 0); the score is the mean
/// probability of the kept steps.
fn ctc_greedy(steps: impl Iterator<Item = (usize, f32)>, characters: &[String]) -> Reading {
    let mut text = String::new();
    let (mut sum, mut kept) = (0f32, 0u32);
    let mut previous = None;
    for (class, p) in steps {
        if class != 0 && previous != Some(class) {
            if let Some(c) = characters.get(class) {
                text.push_str(c);
                sum += p;
                kept += 1;
            }
        }
        previous = Some(class);
    }
    Reading {
        text,
        score: if kept == 0 { 0.0 } else { sum / kept as f32 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctc_collapses_repeats_and_drops_blanks() {
        let chars: Vec<String> = ["", "a", "b", " "].iter().map(|s| s.to_string()).collect();
        let steps = [
            (1, 0.9),
            (1, 0.8),
            (0, 0.99),
            (1, 0.7),
            (2, 0.6),
            (3, 0.5),
            (0, 0.9),
        ];
        let r = ctc_greedy(steps.into_iter(), &chars);
        assert_eq!(r.text, "aab ");
        assert!((r.score - (0.9 + 0.7 + 0.6 + 0.5) / 4.0).abs() < 1e-6);
    }
}
