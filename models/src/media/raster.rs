//! Still images through the `image` crate: header check, bounded decode, thumbnails.

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

use image::codecs::jpeg::JpegEncoder;
use image::error::ImageError;
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{
    DynamicImage, ExtendedColorType, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage,
};

use super::{MediaError, MediaLimits, Modality, Probed, Thumbnail};

/// JPEG quality of thumbnails: visually clean at small sizes, a fraction of the bytes of 95.
const THUMBNAIL_QUALITY: u8 = 82;

/// MIME type and canonical extension of each accepted image format.
fn names(format: ImageFormat) -> (&'static str, &'static str) {
    match format {
        ImageFormat::Png => ("image/png", "png"),
        ImageFormat::Jpeg => ("image/jpeg", "jpg"),
        ImageFormat::Gif => ("image/gif", "gif"),
        ImageFormat::WebP => ("image/webp", "webp"),
        ImageFormat::Bmp => ("image/bmp", "bmp"),
        ImageFormat::Tiff => ("image/tiff", "tiff"),
        _ => ("application/octet-stream", "bin"),
    }
}

pub(crate) fn probe(
    path: &Path,
    format: ImageFormat,
    limits: &MediaLimits,
) -> Result<Probed, MediaError> {
    let image = decode(path, format, limits)?;
    let (mime, ext) = names(format);
    let mut probed = Probed::bare(Modality::Image, mime, ext);
    probed.width = Some(image.width());
    probed.height = Some(image.height());
    probed.codec = Some(ext.replace("jpg", "jpeg"));
    Ok(probed)
}

pub(crate) fn thumbnails(
    path: &Path,
    format: ImageFormat,
    sizes: &[u32],
    limits: &MediaLimits,
) -> Result<Vec<Thumbnail>, MediaError> {
    let image = decode(path, format, limits)?;
    sizes
        .iter()
        .map(|&max_side| {
            let max_side = max_side.max(1);
            let scaled = if image.width().max(image.height()) <= max_side {
                image.clone()
            } else {
                image.resize(max_side, max_side, FilterType::Triangle)
            };
            let rgb = flatten(&scaled);
            let mut bytes = Vec::new();
            JpegEncoder::new_with_quality(&mut bytes, THUMBNAIL_QUALITY)
                .encode(
                    rgb.as_raw(),
                    rgb.width(),
                    rgb.height(),
                    ExtendedColorType::Rgb8,
                )
                .map_err(|e| {
                    MediaError::CorruptImage(format!("could not encode a thumbnail: {e}"))
                })?;
            Ok(Thumbnail {
                max_side,
                width: rgb.width(),
                height: rgb.height(),
                mime: "image/jpeg".to_owned(),
                bytes,
            })
        })
        .collect()
}

/// JPEG has no alpha: transparent pixels are composited onto white, as viewers show them.
fn flatten(image: &DynamicImage) -> RgbImage {
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

pub(crate) fn decoder_limits(limits: &MediaLimits) -> Limits {
    let mut l = Limits::default();
    l.max_image_width = Some(limits.max_dimension);
    l.max_image_height = Some(limits.max_dimension);
    l.max_alloc = Some(limits.max_decoded_bytes);
    l
}

fn reader(
    path: &Path,
    format: ImageFormat,
    limits: &MediaLimits,
) -> Result<ImageReader<BufReader<File>>, MediaError> {
    let mut reader = ImageReader::new(BufReader::new(File::open(path)?));
    // The format comes from our own sniffing, never from the name.
    reader.set_format(format);
    reader.limits(decoder_limits(limits));
    Ok(reader)
}

/// Checks the declared size against the limits before any pixel is decoded, then decodes the
/// whole image (so truncated or corrupt data is caught) and applies its EXIF orientation.
fn decode(
    path: &Path,
    format: ImageFormat,
    limits: &MediaLimits,
) -> Result<DynamicImage, MediaError> {
    let (width, height) = reader(path, format, limits)?
        .into_dimensions()
        .map_err(map_error)?;
    check_size(width, height, limits)?;
    if format == ImageFormat::Jpeg {
        check_jpeg_complete(path)?;
    }

    let reader = reader(path, format, limits)?;
    let result = panic::catch_unwind(AssertUnwindSafe(|| -> Result<DynamicImage, MediaError> {
        let mut decoder = reader.into_decoder().map_err(map_error)?;
        if decoder.total_bytes() > limits.max_decoded_bytes {
            return Err(MediaError::ImageTooLarge(format!(
                "decoding needs {} bytes, more than the limit of {}",
                decoder.total_bytes(),
                limits.max_decoded_bytes
            )));
        }
        // A broken EXIF block should not sink an otherwise good image.
        let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
        let mut image = DynamicImage::from_decoder(decoder).map_err(map_error)?;
        image.apply_orientation(orientation);
        Ok(image)
    }));
    result.unwrap_or_else(|_| Err(MediaError::CorruptImage("the image decoder failed".into())))
}

pub(crate) fn check_size(width: u32, height: u32, limits: &MediaLimits) -> Result<(), MediaError> {
    if width == 0 || height == 0 {
        return Err(MediaError::CorruptImage(
            "the image declares zero width or height".into(),
        ));
    }
    if width > limits.max_dimension || height > limits.max_dimension {
        return Err(MediaError::ImageTooLarge(format!(
            "{width}×{height} exceeds the limit of {} pixels per side",
            limits.max_dimension
        )));
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(MediaError::ImageTooLarge(format!(
            "{width}×{height} is {pixels} pixels, more than the limit of {}",
            limits.max_pixels
        )));
    }
    Ok(())
}

pub(crate) fn map_error(e: ImageError) -> MediaError {
    match e {
        ImageError::Limits(e) => MediaError::ImageTooLarge(e.to_string()),
        ImageError::Unsupported(e) => {
            MediaError::UnsupportedType(format!("image variant not supported: {e}"))
        }
        ImageError::IoError(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
            ) =>
        {
            MediaError::CorruptImage(format!("the image data ends early or is malformed: {e}"))
        }
        ImageError::IoError(e) => MediaError::Io(e),
        other => MediaError::CorruptImage(other.to_string()),
    }
}

/// JPEG decoders fill a cut-off scan with grey instead of failing, so a truncated JPEG is found
/// by walking its markers: the entropy-coded data of the last scan must end in an EOI marker.
fn check_jpeg_complete(path: &Path) -> Result<(), MediaError> {
    let mut bytes = Bytes(BufReader::new(File::open(path)?));
    if jpeg_has_eoi(&mut bytes)? {
        Ok(())
    } else {
        Err(MediaError::CorruptImage(
            "the JPEG data ends before its end-of-image marker; it is probably truncated".into(),
        ))
    }
}

/// A byte-at-a-time view of a buffered reader.
struct Bytes<R>(R);

impl<R: BufRead> Bytes<R> {
    fn next(&mut self) -> std::io::Result<Option<u8>> {
        let byte = self.0.fill_buf()?.first().copied();
        if byte.is_some() {
            self.0.consume(1);
        }
        Ok(byte)
    }

    /// Skips `n` bytes; false when the data ends first.
    fn skip(&mut self, n: u64) -> std::io::Result<bool> {
        Ok(std::io::copy(&mut (&mut self.0).take(n), &mut std::io::sink())? == n)
    }
}

fn jpeg_has_eoi<R: BufRead>(bytes: &mut Bytes<R>) -> std::io::Result<bool> {
    // SOI.
    if !bytes.skip(2)? {
        return Ok(false);
    }
    let mut code = read_marker(bytes)?;
    loop {
        match code {
            None => return Ok(false),
            Some(0xD9) => return Ok(true),
            // Markers without a length field.
            Some(0x01 | 0xD0..=0xD7) => {}
            Some(_) => {
                let (Some(hi), Some(lo)) = (bytes.next()?, bytes.next()?) else {
                    return Ok(false);
                };
                let len = u16::from_be_bytes([hi, lo]);
                if len < 2 || !bytes.skip(u64::from(len) - 2)? {
                    return Ok(false);
                }
            }
        }
        code = if code == Some(0xDA) {
            scan_to_marker(bytes)?
        } else {
            read_marker(bytes)?
        };
    }
}

/// The code of the marker that must start here (0xFF, optional fill 0xFFs, the code).
fn read_marker<R: BufRead>(bytes: &mut Bytes<R>) -> std::io::Result<Option<u8>> {
    if bytes.next()? != Some(0xFF) {
        return Ok(None);
    }
    loop {
        match bytes.next()? {
            Some(0xFF) => continue,
            other => return Ok(other),
        }
    }
}

/// Skips entropy-coded data, where 0xFF is followed by a stuffed 0x00 or a restart marker, up to
/// the next real marker, and returns its code.
fn scan_to_marker<R: BufRead>(bytes: &mut Bytes<R>) -> std::io::Result<Option<u8>> {
    loop {
        match bytes.next()? {
            None => return Ok(None),
            Some(0xFF) => loop {
                match bytes.next()? {
                    None => return Ok(None),
                    Some(0xFF) => continue,
                    Some(0x00 | 0xD0..=0xD7) => break,
                    code => return Ok(code),
                }
            },
            Some(_) => {}
        }
    }
}

/// Decodes an already encoded image from memory (used for posters); same limits as files.
pub(crate) fn decode_bytes(
    bytes: &[u8],
    format: ImageFormat,
    limits: &MediaLimits,
) -> Result<DynamicImage, MediaError> {
    let mut reader = ImageReader::new(Cursor::new(bytes));
    reader.set_format(format);
    reader.limits(decoder_limits(limits));
    reader.decode().map_err(map_error)
}

/// Encodes a frame as JPEG at thumbnail quality.
pub(crate) fn encode_jpeg(image: &DynamicImage) -> Result<Vec<u8>, MediaError> {
    let rgb = flatten(image);
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, THUMBNAIL_QUALITY)
        .encode(
            rgb.as_raw(),
            rgb.width(),
            rgb.height(),
            ExtendedColorType::Rgb8,
        )
        .map_err(|e| MediaError::CorruptVideo(format!("could not encode the poster: {e}")))?;
    Ok(bytes)
}
