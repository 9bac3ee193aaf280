//! Video through `ffprobe`/`ffmpeg` subprocesses. The demuxer is always named (`-f`), chosen by
//! our own sniffing, and only the `file` protocol is allowed, so a file cannot steer ffmpeg into
//! playlist parsing or network access.

use std::ffi::OsString;
use std::path::Path;

use image::ImageFormat;
use serde_json::Value;

use crate::process;

use super::sniff::{self, IsoBrand, Sniffed};
use super::{ffmpeg, isobmff, raster, MediaError, MediaLimits, Modality, Poster, Probed};

/// Widest poster produced, in pixels.
const POSTER_MAX_WIDTH: u32 = 1024;
/// Cap on what ffprobe may print (stream and format descriptions).
const PROBE_OUTPUT_CAP: usize = 4 * 1024 * 1024;
/// Cap on one poster frame as PNG.
const FRAME_OUTPUT_CAP: usize = 64 * 1024 * 1024;

/// The video containers accepted, as sniffed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Container {
    Iso(IsoBrand),
    Matroska { webm: bool },
    Avi,
}

impl Container {
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Container::Iso(IsoBrand::QuickTime) => ("video/quicktime", "mov"),
            Container::Iso(IsoBrand::M4v) => ("video/x-m4v", "m4v"),
            Container::Iso(IsoBrand::ThreeGp) => ("video/3gpp", "3gp"),
            Container::Iso(IsoBrand::Mp4 | IsoBrand::M4a) => ("video/mp4", "mp4"),
            Container::Matroska { webm: true } => ("video/webm", "webm"),
            Container::Matroska { webm: false } => ("video/x-matroska", "mkv"),
            Container::Avi => ("video/x-msvideo", "avi"),
        }
    }

    /// The ffmpeg demuxer for the container.
    fn demuxer(self) -> &'static str {
        match self {
            Container::Iso(_) => "mov",
            Container::Matroska { .. } => "matroska",
            Container::Avi => "avi",
        }
    }
}

/// The container of a video file, from its bytes (never its name); anything else is
/// `UnsupportedType`, an MP4 with no video track included.
pub(crate) fn container_of(path: &Path) -> Result<Container, MediaError> {
    let not_video = || MediaError::UnsupportedType("this is not a video".into());
    Ok(match sniff::sniff(path)? {
        Sniffed::Empty => return Err(MediaError::EmptyFile),
        Sniffed::Iso(brand) => match isobmff::inspect(path, brand)? {
            isobmff::Tracks::Video => Container::Iso(brand),
            isobmff::Tracks::AudioOnly => return Err(not_video()),
        },
        Sniffed::Matroska { webm } => Container::Matroska { webm },
        Sniffed::Avi => Container::Avi,
        _ => return Err(not_video()),
    })
}

/// Arguments shared by every run: quiet, no stdin, file protocol only, one decoding thread (the
/// host's cores belong to inference), the named demuxer, then the input.
pub(crate) fn input_args(path: &Path, container: Container, seek: Option<f64>) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "-v",
        "error",
        "-nostdin",
        "-threads",
        "1",
        "-protocol_whitelist",
        "file",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    if let Some(secs) = seek {
        args.push("-ss".into());
        args.push(format!("{secs:.3}").into());
    }
    args.push("-f".into());
    args.push(container.demuxer().into());
    args.push("-i".into());
    args.push(ffmpeg::file_arg(path));
    args
}

pub(crate) fn probe(
    path: &Path,
    container: Container,
    limits: &MediaLimits,
) -> Result<Probed, MediaError> {
    let mut args: Vec<OsString> = ["-v", "error", "-protocol_whitelist", "file", "-f"]
        .iter()
        .map(OsString::from)
        .collect();
    args.push(container.demuxer().into());
    for a in [
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        "-i",
    ] {
        args.push(a.into());
    }
    args.push(ffmpeg::file_arg(path));
    let out = process::run(
        "ffprobe",
        &args,
        None,
        limits.tool_timeout,
        PROBE_OUTPUT_CAP,
    )?;
    if !out.status.success() {
        return Err(MediaError::CorruptVideo(out.stderr_summary()));
    }
    if out.stdout_overflowed {
        return Err(MediaError::CorruptVideo(
            "the stream description is implausibly large".into(),
        ));
    }
    let info: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| MediaError::CorruptVideo(format!("unreadable ffprobe output: {e}")))?;

    let streams = info["streams"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let is_kind = |s: &&Value, kind: &str| s["codec_type"].as_str() == Some(kind);
    // Cover art is stored as a one-frame "video" stream; it does not make a file a video.
    let video = streams
        .iter()
        .find(|s| is_kind(s, "video") && s["disposition"]["attached_pic"].as_i64() != Some(1));
    let audio = streams.iter().find(|s| is_kind(s, "audio"));
    let Some(video) = video else {
        return Err(match (audio, container) {
            (Some(_), Container::Matroska { .. } | Container::Avi) => MediaError::UnsupportedType(
                "audio-only WebM/Matroska/AVI files are not supported; upload WAV, MP3, FLAC, OGG or M4A".into(),
            ),
            _ => MediaError::CorruptVideo("the file has no decodable video stream".into()),
        });
    };
    let width = video["width"]
        .as_u64()
        .and_then(|w| u32::try_from(w).ok())
        .filter(|&w| w > 0);
    let height = video["height"]
        .as_u64()
        .and_then(|h| u32::try_from(h).ok())
        .filter(|&h| h > 0);
    let (Some(mut width), Some(mut height)) = (width, height) else {
        return Err(MediaError::CorruptVideo(
            "the video stream has no frame size".into(),
        ));
    };
    if rotation(video).rem_euclid(180) == 90 {
        std::mem::swap(&mut width, &mut height);
    }

    let too_long = |secs: f64| MediaError::VideoTooLong {
        duration_secs: secs,
        limit_secs: limits.max_video_seconds,
    };
    let declared =
        parse_secs(&info["format"]["duration"]).or_else(|| parse_secs(&video["duration"]));
    if let Some(declared) = declared.filter(|d| *d > limits.max_video_seconds) {
        return Err(too_long(declared));
    }
    // MP4 truncation is caught by the box walk. Matroska and AVI demuxers read a cut file up to
    // the cut without complaint, and streamed recordings often declare no duration at all, so
    // those are demuxed to the end (cheap: nothing is decoded) to measure what is really there.
    let measured = match (container, declared) {
        (Container::Iso(_), Some(_)) => None,
        _ => Some(measure_duration(path, container, limits)?),
    };
    if let (Some(declared), Some(measured)) = (declared, measured) {
        // Slack for the last frame's own length, up to 2 s in slide-show-like videos.
        if measured + (declared * 0.02).max(2.0) < declared {
            return Err(MediaError::CorruptVideo(format!(
                "the header declares {declared:.1} s but the streams end at {measured:.1} s; the file is probably truncated"
            )));
        }
    }
    let duration = declared.or(measured).unwrap_or(0.0);
    if duration > limits.max_video_seconds {
        return Err(too_long(duration));
    }

    decode_first_frame(path, container, limits)?;

    let (mime, ext) = container.names();
    let mut probed = Probed::bare(Modality::Video, mime, ext);
    probed.width = Some(width);
    probed.height = Some(height);
    probed.duration_secs = Some(duration);
    probed.codec = video["codec_name"].as_str().map(str::to_owned);
    probed.has_video = true;
    probed.has_audio = audio.is_some();
    if let Some(audio) = audio {
        probed.sample_rate = audio["sample_rate"].as_str().and_then(|s| s.parse().ok());
        probed.channels = audio["channels"]
            .as_u64()
            .and_then(|c| u16::try_from(c).ok());
    }
    Ok(probed)
}

/// Degrees of display rotation, from the display matrix side data or the legacy `rotate` tag.
fn rotation(stream: &Value) -> i64 {
    let from_side_data = stream["side_data_list"]
        .as_array()
        .and_then(|list| list.iter().find_map(|d| d["rotation"].as_i64()));
    let from_tag = stream["tags"]["rotate"]
        .as_str()
        .and_then(|r| r.parse().ok());
    from_side_data.or(from_tag).unwrap_or(0)
}

fn parse_secs(v: &Value) -> Option<f64> {
    v.as_str()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|d| d.is_finite() && *d >= 0.0)
}

/// Copies all audio and video packets to nowhere and reads the last timestamp ffmpeg reports.
fn measure_duration(
    path: &Path,
    container: Container,
    limits: &MediaLimits,
) -> Result<f64, MediaError> {
    let mut args = input_args(path, container, None);
    for a in [
        "-map",
        "0:v",
        "-map",
        "0:a?",
        "-c",
        "copy",
        "-f",
        "null",
        "-progress",
        "pipe:1",
        "-nostats",
        "-",
    ] {
        args.push(a.into());
    }
    let out = process::run("ffmpeg", &args, None, limits.tool_timeout, PROBE_OUTPUT_CAP)?;
    if !out.status.success() {
        return Err(MediaError::CorruptVideo(out.stderr_summary()));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .find_map(|l| {
            l.strip_prefix("out_time_us=")
                .and_then(|v| v.trim().parse::<i64>().ok())
        })
        .filter(|us| *us >= 0)
        .map(|us| us as f64 / 1e6)
        .ok_or_else(|| {
            MediaError::CorruptVideo("the video's duration could not be determined".into())
        })
}

/// Decodes the first video frame, treating any decoder error as fatal (`-xerror`): ffprobe alone
/// accepts files whose headers parse but whose pictures do not.
fn decode_first_frame(
    path: &Path,
    container: Container,
    limits: &MediaLimits,
) -> Result<(), MediaError> {
    let mut args = input_args(path, container, None);
    args.insert(2, "-xerror".into());
    for a in ["-map", "0:v:0", "-frames:v", "1", "-f", "framecrc", "-"] {
        args.push(a.into());
    }
    let out = process::run("ffmpeg", &args, None, limits.tool_timeout, PROBE_OUTPUT_CAP)?;
    if !out.status.success() {
        return Err(MediaError::CorruptVideo(out.stderr_summary()));
    }
    let frames = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count();
    if frames == 0 {
        return Err(MediaError::CorruptVideo(
            "no video frame could be decoded".into(),
        ));
    }
    Ok(())
}

pub(crate) fn poster(
    path: &Path,
    probed: &Probed,
    limits: &MediaLimits,
) -> Result<Poster, MediaError> {
    if probed.modality != Modality::Video {
        return Err(MediaError::UnsupportedType(
            "posters are made of videos only".into(),
        ));
    }
    // The container is sniffed again rather than taken from `probed`, which the caller may have
    // stored and reloaded.
    let container = container_of(path)?;
    let at = probed
        .duration_secs
        .filter(|d| d.is_finite() && *d > 0.0)
        .map(|d| d * 0.1);
    let png = match at {
        Some(secs) => match grab_frame(path, container, Some(secs), limits)? {
            Some(png) => png,
            // Seeking can land past the last keyframe of a short or oddly indexed file.
            None => grab_frame(path, container, None, limits)?
                .ok_or_else(|| MediaError::CorruptVideo("no frame could be extracted".into()))?,
        },
        None => grab_frame(path, container, None, limits)?
            .ok_or_else(|| MediaError::CorruptVideo("no frame could be extracted".into()))?,
    };
    let frame = raster::decode_bytes(&png, ImageFormat::Png, limits)?;
    let bytes = raster::encode_jpeg(&frame)?;
    Ok(Poster {
        width: frame.width(),
        height: frame.height(),
        bytes,
    })
}

/// One frame as PNG, scaled to square pixels and at most `POSTER_MAX_WIDTH` wide; `None` when
/// ffmpeg produced no frame.
fn grab_frame(
    path: &Path,
    container: Container,
    at: Option<f64>,
    limits: &MediaLimits,
) -> Result<Option<Vec<u8>>, MediaError> {
    let mut args = input_args(path, container, at);
    let scale = format!(
        "scale=w='min({POSTER_MAX_WIDTH},iw*sar)':h='max(1,min({POSTER_MAX_WIDTH},iw*sar)*ih/(iw*sar))',setsar=1"
    );
    for a in [
        "-map",
        "0:v:0",
        "-frames:v",
        "1",
        "-vf",
        &scale,
        "-pix_fmt",
        "rgb24",
        "-f",
        "image2pipe",
        "-c:v",
        "png",
        "-",
    ] {
        args.push(a.into());
    }
    let out = process::run("ffmpeg", &args, None, limits.tool_timeout, FRAME_OUTPUT_CAP)?;
    if !out.status.success() {
        return Err(MediaError::CorruptVideo(out.stderr_summary()));
    }
    if out.stdout_overflowed {
        return Err(MediaError::CorruptVideo(
            "the extracted frame is implausibly large".into(),
        ));
    }
    Ok((!out.stdout.is_empty()).then_some(out.stdout))
}
