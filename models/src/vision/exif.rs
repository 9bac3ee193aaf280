//! EXIF facts of a photo: when it was taken, with what camera, how it is oriented and, only when
//! the caller allows it, where. Missing or broken EXIF gives empty facts, never an error: the
//! image itself is still good.

use std::io::Cursor;
use std::panic::{self, AssertUnwindSafe};

use exif::{Exif, In, Tag, Value};

/// What the EXIF block of an image says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExifFacts {
    /// Capture time from DateTimeOriginal (falling back to DateTime), ISO 8601
    /// (`2024-05-17T14:03:09`), with the offset (`+02:00`) when OffsetTimeOriginal gives one.
    pub captured_at: Option<String>,
    /// Camera maker.
    pub camera_make: Option<String>,
    /// Camera model.
    pub camera_model: Option<String>,
    /// EXIF orientation, 1–8 (1 = upright).
    pub orientation: Option<u16>,
    /// Where the photo was taken; only read when the caller passes `allow_gps = true`.
    pub gps: Option<GpsPosition>,
}

impl ExifFacts {
    /// True when no fact was found.
    pub fn is_empty(&self) -> bool {
        *self == ExifFacts::default()
    }
}

/// A position in decimal degrees (north and east positive).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GpsPosition {
    /// Latitude, −90 to 90.
    pub latitude: f64,
    /// Longitude, −180 to 180.
    pub longitude: f64,
}

/// Reads the EXIF facts of an encoded image (JPEG, TIFF, PNG, WebP, HEIF). GPS coordinates are
/// personal data: they are read only when `allow_gps` is true.
pub fn read_exif(bytes: &[u8], allow_gps: bool) -> ExifFacts {
    panic::catch_unwind(AssertUnwindSafe(|| {
        parse(bytes).map(|exif| facts(&exif, allow_gps))
    }))
    .ok()
    .flatten()
    .unwrap_or_default()
}

fn parse(bytes: &[u8]) -> Option<Exif> {
    let mut reader = exif::Reader::new();
    // Keep what parses in a partly broken block.
    reader.continue_on_error(true);
    match reader.read_from_container(&mut Cursor::new(bytes)) {
        Ok(exif) => Some(exif),
        Err(exif::Error::PartialResult(partial)) => Some(partial.into_inner().0),
        Err(_) => None,
    }
}

fn facts(exif: &Exif, allow_gps: bool) -> ExifFacts {
    let captured_at = ascii(exif, Tag::DateTimeOriginal)
        .or_else(|| ascii(exif, Tag::DateTime))
        .and_then(|t| iso_time(&t))
        .map(
            |time| match ascii(exif, Tag::OffsetTimeOriginal).filter(|o| valid_offset(o)) {
                Some(offset) => format!("{time}{offset}"),
                None => time,
            },
        );
    let orientation = match exif
        .get_field(Tag::Orientation, In::PRIMARY)
        .map(|f| &f.value)
    {
        Some(Value::Short(v)) => v.first().copied().filter(|o| (1..=8).contains(o)),
        _ => None,
    };
    ExifFacts {
        captured_at,
        camera_make: ascii(exif, Tag::Make),
        camera_model: ascii(exif, Tag::Model),
        orientation,
        gps: if allow_gps { gps(exif) } else { None },
    }
}

/// The first string of an ASCII field, trimmed; None when absent or blank.
fn ascii(exif: &Exif, tag: Tag) -> Option<String> {
    let field = exif.get_field(tag, In::PRIMARY)?;
    let Value::Ascii(strings) = &field.value else {
        return None;
    };
    let text = String::from_utf8_lossy(strings.first()?)
        .trim_matches(|c: char| c == '\0' || c.is_whitespace())
        .to_owned();
    (!text.is_empty()).then_some(text)
}

/// "2024:05:17 14:03:09" → "2024-05-17T14:03:09"; None for blank or malformed times
/// ("0000:00:00 00:00:00" included).
fn iso_time(raw: &str) -> Option<String> {
    let b = raw.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let s = raw.get(range)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())
            .flatten()
    };
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let separators_ok = b[4] == b':' && b[7] == b':' && b[13] == b':' && b[16] == b':';
    if !separators_ok
        || year == 0
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}"
    ))
}

/// "+02:00" or "-05:30".
fn valid_offset(offset: &str) -> bool {
    let b = offset.as_bytes();
    b.len() == 6
        && (b[0] == b'+' || b[0] == b'-')
        && b[1..3].iter().all(u8::is_ascii_digit)
        && b[3] == b':'
        && b[4..6].iter().all(u8::is_ascii_digit)
}

fn gps(exif: &Exif) -> Option<GpsPosition> {
    let latitude = coordinate(exif, Tag::GPSLatitude, Tag::GPSLatitudeRef, b'S', 90.0)?;
    let longitude = coordinate(exif, Tag::GPSLongitude, Tag::GPSLongitudeRef, b'W', 180.0)?;
    Some(GpsPosition {
        latitude,
        longitude,
    })
}

/// Degrees, minutes, seconds and a hemisphere reference → signed decimal degrees.
fn coordinate(exif: &Exif, tag: Tag, reference: Tag, negative: u8, bound: f64) -> Option<f64> {
    let Value::Rational(parts) = &exif.get_field(tag, In::PRIMARY)?.value else {
        return None;
    };
    let part = |i: usize| {
        parts
            .get(i)
            .filter(|r| r.denom != 0)
            .map(|r| r.to_f64())
            .unwrap_or(0.0)
    };
    if parts.first().is_none_or(|r| r.denom == 0) {
        return None;
    }
    let mut value = part(0) + part(1) / 60.0 + part(2) / 3600.0;
    let sign = match &exif.get_field(reference, In::PRIMARY)?.value {
        Value::Ascii(s) => s.first().and_then(|s| s.first()).copied(),
        _ => None,
    }?;
    if sign.eq_ignore_ascii_case(&negative) {
        value = -value;
    }
    (value.is_finite() && value.abs() <= bound).then_some(value)
}
