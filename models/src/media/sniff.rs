//! Content sniffing: which decoder should confirm a file's type, from its first bytes alone.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use image::ImageFormat;

use super::audio::AudioFormat;
use super::MediaError;

/// How many leading bytes the signatures below look at.
const HEAD_LEN: usize = 64;

/// The ISO base media file family, by major brand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IsoBrand {
    Mp4,
    QuickTime,
    M4v,
    M4a,
    ThreeGp,
}

/// What the leading bytes say a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sniffed {
    Empty,
    Image(ImageFormat),
    Audio(AudioFormat),
    /// MP4, QuickTime and relatives: audio or video depending on the tracks inside.
    Iso(IsoBrand),
    Matroska {
        webm: bool,
    },
    Avi,
    /// No known signature: a candidate for text.
    Unknown {
        len: u64,
    },
}

/// Reads the start of the file and matches it against the signatures of the accepted formats.
pub(crate) fn sniff(path: &Path) -> Result<Sniffed, MediaError> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(Sniffed::Empty);
    }
    let mut head = Vec::with_capacity(HEAD_LEN);
    (&mut file).take(HEAD_LEN as u64).read_to_end(&mut head)?;
    let h = head.as_slice();

    if h.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(Sniffed::Image(ImageFormat::Png));
    }
    if h.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(Sniffed::Image(ImageFormat::Jpeg));
    }
    if h.starts_with(b"GIF87a") || h.starts_with(b"GIF89a") {
        return Ok(Sniffed::Image(ImageFormat::Gif));
    }
    if h.len() >= 12 && &h[0..4] == b"RIFF" {
        match &h[8..12] {
            b"WEBP" => return Ok(Sniffed::Image(ImageFormat::WebP)),
            b"WAVE" => return Ok(Sniffed::Audio(AudioFormat::Wav)),
            b"AVI " => return Ok(Sniffed::Avi),
            _ => {}
        }
    }
    if is_bmp(h) {
        return Ok(Sniffed::Image(ImageFormat::Bmp));
    }
    // Classic TIFF and BigTIFF, both byte orders.
    if h.starts_with(b"II*\0")
        || h.starts_with(b"MM\0*")
        || h.starts_with(b"II+\0")
        || h.starts_with(b"MM\0+")
    {
        return Ok(Sniffed::Image(ImageFormat::Tiff));
    }
    if h.starts_with(b"fLaC") {
        return Ok(Sniffed::Audio(AudioFormat::Flac));
    }
    if h.starts_with(b"OggS") {
        return Ok(Sniffed::Audio(AudioFormat::Ogg));
    }
    if h.starts_with(b"ID3") && h.len() >= 10 {
        // An ID3v2 tag can precede FLAC as well as MP3: look past it.
        let size = h[6..10]
            .iter()
            .fold(0u64, |acc, b| (acc << 7) | u64::from(b & 0x7F));
        let footer = if h[5] & 0x10 != 0 { 10 } else { 0 };
        let mut after = [0u8; 4];
        file.seek(SeekFrom::Start(10 + size + footer))?;
        let n = read_up_to(&mut file, &mut after)?;
        if n == 4 && &after == b"fLaC" {
            return Ok(Sniffed::Audio(AudioFormat::Flac));
        }
        return Ok(Sniffed::Audio(AudioFormat::Mp3));
    }
    if is_mp3_frame(h) {
        return Ok(Sniffed::Audio(AudioFormat::Mp3));
    }
    if h.len() >= 12 && &h[4..8] == b"ftyp" {
        return iso_brand(&h[8..12]).map(Sniffed::Iso);
    }
    // QuickTime files written before `ftyp` existed start with one of these atoms.
    if h.len() >= 8 && matches!(&h[4..8], b"moov" | b"mdat" | b"wide" | b"pnot") {
        return Ok(Sniffed::Iso(IsoBrand::QuickTime));
    }
    if h.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        let webm = h.windows(4).any(|w| w == b"webm");
        return Ok(Sniffed::Matroska { webm });
    }
    Ok(Sniffed::Unknown { len })
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// "BM" alone is too common a start for text; the size of the DIB header that follows must also
/// be one of the sizes the format defines.
fn is_bmp(h: &[u8]) -> bool {
    if h.len() < 18 || !h.starts_with(b"BM") {
        return false;
    }
    let dib = u32::from_le_bytes([h[14], h[15], h[16], h[17]]);
    matches!(dib, 12 | 16 | 40 | 52 | 56 | 64 | 108 | 124)
}

/// An MPEG audio layer III frame header with no reserved field values.
fn is_mp3_frame(h: &[u8]) -> bool {
    if h.len() < 4 || h[0] != 0xFF || h[1] & 0xE0 != 0xE0 {
        return false;
    }
    let version = (h[1] >> 3) & 0b11;
    let layer = (h[1] >> 1) & 0b11;
    let bitrate = h[2] >> 4;
    let rate = (h[2] >> 2) & 0b11;
    version != 0b01 && layer == 0b01 && bitrate != 0 && bitrate != 0b1111 && rate != 0b11
}

fn iso_brand(brand: &[u8]) -> Result<IsoBrand, MediaError> {
    Ok(match brand {
        b"qt  " => IsoBrand::QuickTime,
        b"M4V " | b"M4VH" | b"M4VP" => IsoBrand::M4v,
        b"M4A " | b"M4B " | b"M4P " | b"F4A " | b"F4B " => IsoBrand::M4a,
        b if b.starts_with(b"3g") => IsoBrand::ThreeGp,
        b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" | b"mif1" | b"msf1" | b"avif"
        | b"avis" => {
            return Err(MediaError::UnsupportedType(
                "HEIF/AVIF images are not supported; convert to JPEG, PNG or WebP".into(),
            ))
        }
        _ => IsoBrand::Mp4,
    })
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn sniffed(bytes: &[u8]) -> Result<Sniffed, MediaError> {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), bytes).unwrap();
        let sniffed = sniff(file.path());
        // What an ISO file holds is read from its boxes: hostile boxes must not panic either.
        if let Ok(Sniffed::Iso(brand)) = &sniffed {
            let _ = crate::media::isobmff::inspect(file.path(), *brand);
        }
        sniffed
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any bytes: an answer, never a panic; a file is empty only when it has no bytes.
        #[test]
        fn any_bytes_get_an_answer(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let s = sniffed(&bytes);
            prop_assert_eq!(matches!(s, Ok(Sniffed::Empty)), bytes.is_empty());
        }

        /// A signature decides, whatever follows it.
        #[test]
        fn signatures_decide(rest in proptest::collection::vec(any::<u8>(), 0..512)) {
            let png = [b"\x89PNG\r\n\x1a\n".as_slice(), &rest].concat();
            prop_assert!(matches!(sniffed(&png), Ok(Sniffed::Image(ImageFormat::Png))));
            let gif = [b"GIF89a".as_slice(), &rest].concat();
            prop_assert!(matches!(sniffed(&gif), Ok(Sniffed::Image(ImageFormat::Gif))));
        }

        /// ISO files with arbitrary boxes after a valid `ftyp` never panic the box reader.
        #[test]
        fn hostile_iso_boxes_are_read_safely(
            boxes in proptest::collection::vec(any::<u8>(), 0..1024),
            size in any::<u32>(),
        ) {
            let mut bytes = b"\0\0\0\x14ftypisom\0\0\x02\0isom".to_vec();
            bytes.extend_from_slice(&size.to_be_bytes());
            bytes.extend_from_slice(b"moov");
            bytes.extend_from_slice(&boxes);
            let _ = sniffed(&bytes);
        }
    }
}
