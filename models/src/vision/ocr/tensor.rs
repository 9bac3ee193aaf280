//! Image to tensor conversion shared by the three OCR models.

use image::RgbImage;

/// The image as BGR planes (channel-major), normalised to (x/255 − 0.5)/0.5, each row
/// zero-padded on the right to `width` (which must be at least the image's width).
pub fn bgr_planes(image: &RgbImage, width: u32) -> Vec<f32> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let width = (width as usize).max(w);
    let plane = width * h;
    let mut out = vec![0f32; plane * 3];
    for (i, px) in image.as_raw().chunks_exact(3).enumerate() {
        let (y, x) = (i / w, i % w);
        let at = y * width + x;
        // RGB in, BGR out: the models were trained on OpenCV's channel order.
        out[at] = f32::from(px[2]) / 127.5 - 1.0;
        out[plane + at] = f32::from(px[1]) / 127.5 - 1.0;
        out[2 * plane + at] = f32::from(px[0]) / 127.5 - 1.0;
    }
    out
}
