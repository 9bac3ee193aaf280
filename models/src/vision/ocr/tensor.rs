//! Image to tensor conversion shared by the three OCR models.

use image::imageops::FilterType;
use image::{DynamicImage, RgbImage};

/// The image as BGR planes (channel-major), normalised to (x/255 − 0.5)/0.5, each row
/// zero-padded on the right to `width` (which must be at least the image's width).
pub fn bgr_planes(image: &RgbImage, width: u32) -> Vec<f32> {
    // RGB in, BGR out: the OCR models were trained on OpenCV's channel order.
    planes(image, width, [2, 1, 0], |v| f32::from(v) / 127.5 - 1.0)
}

/// The image as three channel planes in the given channel order, each value mapped by
/// `normalise`, each row zero-padded on the right to `width`.
pub fn planes(
    image: &RgbImage,
    width: u32,
    order: [usize; 3],
    normalise: impl Fn(u8) -> f32,
) -> Vec<f32> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let width = (width as usize).max(w);
    let plane = width * h;
    let mut out = vec![0f32; plane * 3];
    if w == 0 || h == 0 {
        return out;
    }
    for (c, dst) in out.chunks_exact_mut(plane).enumerate() {
        let source = order[c].min(2);
        for (y, row) in image.as_raw().chunks_exact(w * 3).enumerate() {
            let dst_row = &mut dst[y * width..y * width + w];
            for (slot, px) in dst_row.iter_mut().zip(row.chunks_exact(3)) {
                *slot = normalise(px[source]);
            }
        }
    }
    out
}

/// Resizes with a bilinear (triangle) filter. Goes through `DynamicImage`, whose methods are
/// compiled in the image crate itself: the same code, but optimised even in debug builds of this
/// crate, which matters for the detector's megapixel inputs.
pub fn resize(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    DynamicImage::ImageRgb8(image.clone())
        .resize_exact(width.max(1), height.max(1), FilterType::Triangle)
        .into_rgb8()
}
