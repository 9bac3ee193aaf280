//! Bounded decoding of untrusted image bytes: the header is read first and absurd sizes are
//! refused before any pixel buffer exists; the decoder itself runs under allocation limits.

use std::io::{BufRead, BufReader, Cursor, Seek};
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

use image::error::ImageError;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageReader, Limits};

use super::VisionError;
use crate::media::raster;
use crate::media::{MediaError, MediaLimits};

/// Size limits for decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageLimits {
    /// Largest width or height, in pixels.
    pub max_dimension: u32,
    /// Largest width × height.
    pub max_pixels: u64,
    /// Largest buffer the decoder may allocate, in bytes.
    pub max_decoded_bytes: u64,
}

impl Default for ImageLimits {
    /// 16,384 px per side, 64 megapixels, 512 MiB of decoded data: any real photo or scan fits.
    fn default() -> Self {
        ImageLimits {
            max_dimension: 16_384,
            max_pixels: 64_000_000,
            max_decoded_bytes: 512 * 1024 * 1024,
        }
    }
}

/// Decodes an image from memory (format guessed from its content), applying its EXIF
/// orientation, so that pipelines see it the way viewers show it.
pub fn decode_image(bytes: &[u8], limits: &ImageLimits) -> Result<DynamicImage, VisionError> {
    decode_from(|| Ok(Cursor::new(bytes)), limits)
}

/// Decodes an image file; see [`decode_image`].
pub fn decode_image_file(path: &Path, limits: &ImageLimits) -> Result<DynamicImage, VisionError> {
    decode_from(|| Ok(BufReader::new(std::fs::File::open(path)?)), limits)
}

fn decode_from<R, F>(open: F, limits: &ImageLimits) -> Result<DynamicImage, VisionError>
where
    R: BufRead + Seek,
    F: Fn() -> Result<R, VisionError>,
{
    let reader = |source: R, decoder_limits: Limits| -> Result<ImageReader<R>, VisionError> {
        let mut reader = ImageReader::new(source).with_guessed_format()?;
        if reader.format().is_none() {
            return Err(VisionError::Unsupported(
                "the data is not in a known image format".into(),
            ));
        }
        reader.limits(decoder_limits);
        Ok(reader)
    };
    // The header alone first, under the allocation limit only, so that a 100000×100000 claim
    // is refused here with its size in the message, before decoding.
    let mut header_limits = Limits::default();
    header_limits.max_alloc = Some(limits.max_decoded_bytes);
    let (width, height) = guarded(|| {
        reader(open()?, header_limits)?
            .into_dimensions()
            .map_err(map_error)
    })?;
    check_size(width, height, limits)?;
    guarded(|| {
        let mut decoder = reader(open()?, decoder_limits(limits))?
            .into_decoder()
            .map_err(map_error)?;
        if decoder.total_bytes() > limits.max_decoded_bytes {
            return Err(VisionError::TooLarge(format!(
                "decoding needs {} bytes, more than the limit of {}",
                decoder.total_bytes(),
                limits.max_decoded_bytes
            )));
        }
        // A broken EXIF block must not sink an otherwise good image.
        let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
        let mut image = DynamicImage::from_decoder(decoder).map_err(map_error)?;
        image.apply_orientation(orientation);
        Ok(image)
    })
}

/// Runs decoder code, turning a panic inside a third-party decoder into an error.
fn guarded<T>(f: impl FnOnce() -> Result<T, VisionError>) -> Result<T, VisionError> {
    panic::catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(VisionError::Corrupt("the image decoder failed".into())))
}

/// The media module's limits for these: the checks are the upload probe's own.
fn media_limits(limits: &ImageLimits) -> MediaLimits {
    MediaLimits {
        max_pixels: limits.max_pixels,
        max_dimension: limits.max_dimension,
        max_decoded_bytes: limits.max_decoded_bytes,
        ..MediaLimits::default()
    }
}

fn decoder_limits(limits: &ImageLimits) -> Limits {
    raster::decoder_limits(&media_limits(limits))
}

fn check_size(width: u32, height: u32, limits: &ImageLimits) -> Result<(), VisionError> {
    raster::check_size(width, height, &media_limits(limits)).map_err(from_media)
}

fn map_error(e: ImageError) -> VisionError {
    from_media(raster::map_error(e))
}

fn from_media(e: MediaError) -> VisionError {
    match e {
        MediaError::ImageTooLarge(m) => VisionError::TooLarge(m),
        MediaError::UnsupportedType(m) => VisionError::Unsupported(m),
        MediaError::Io(e) => VisionError::Io(e),
        other => VisionError::Corrupt(other.to_string()),
    }
}
