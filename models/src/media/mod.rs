//! Media type detection, validation and previews.
//!
//! The type of an upload is decided from its content (magic bytes), then confirmed by decoding it;
//! file names and client-declared MIME types are never trusted. Every function here blocks (it
//! reads files and may run `ffprobe`/`ffmpeg`), so async callers run them on a blocking thread.

mod audio;
pub(crate) mod ffmpeg;
mod isobmff;
pub(crate) mod raster;
mod sniff;
mod text;
pub(crate) mod video;

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::process::ProcessError;

use sniff::Sniffed;

/// The kind of content an upload holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    /// UTF-8 text.
    Text,
    /// A still image.
    Image,
    /// Sound without pictures.
    Audio,
    /// Moving pictures, with or without sound.
    Video,
}

impl Modality {
    /// The lowercase name used in URLs, JSON and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Modality::Text => "text",
            Modality::Image => "image",
            Modality::Audio => "audio",
            Modality::Video => "video",
        }
    }
}

impl fmt::Display for Modality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no modality.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown modality {0:?} (expected text, image, audio or video)")]
pub struct UnknownModality(pub String);

impl FromStr for Modality {
    type Err = UnknownModality;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(Modality::Text),
            "image" => Ok(Modality::Image),
            "audio" => Ok(Modality::Audio),
            "video" => Ok(Modality::Video),
            other => Err(UnknownModality(other.to_owned())),
        }
    }
}

/// Bounds that keep a hostile or accidental upload from exhausting time or memory.
#[derive(Clone, Debug)]
pub struct MediaLimits {
    /// Largest accepted image area, width × height.
    pub max_pixels: u64,
    /// Largest accepted image width or height.
    pub max_dimension: u32,
    /// Most memory an image decoder may allocate.
    pub max_decoded_bytes: u64,
    /// Longest accepted audio, in seconds.
    pub max_audio_seconds: f64,
    /// Longest accepted video, in seconds.
    pub max_video_seconds: f64,
    /// Largest accepted text file, in bytes.
    pub max_text_bytes: u64,
    /// How long one run of `ffprobe` or `ffmpeg` may take.
    pub tool_timeout: Duration,
}

impl Default for MediaLimits {
    fn default() -> Self {
        MediaLimits {
            max_pixels: 100_000_000,
            max_dimension: 30_000,
            max_decoded_bytes: 512 * 1024 * 1024,
            max_audio_seconds: 4.0 * 3600.0,
            max_video_seconds: 4.0 * 3600.0,
            max_text_bytes: 16 * 1024 * 1024,
            tool_timeout: Duration::from_secs(60),
        }
    }
}

/// What probing found out about a valid file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Probed {
    /// The kind of content.
    pub modality: Modality,
    /// The MIME type to store and serve the file with.
    pub mime: String,
    /// The canonical file extension, without the dot.
    pub extension: String,
    /// Width in pixels as displayed (after orientation or rotation), for images and videos.
    pub width: Option<u32>,
    /// Height in pixels as displayed, for images and videos.
    pub height: Option<u32>,
    /// Length in seconds, for audio and video.
    pub duration_secs: Option<f64>,
    /// Samples per second of the (first) audio stream.
    pub sample_rate: Option<u32>,
    /// Channel count of the (first) audio stream.
    pub channels: Option<u16>,
    /// Short codec name of the main stream ("h264", "mp3", "png", ...).
    pub codec: Option<String>,
    /// Whether the file carries sound.
    pub has_audio: bool,
    /// Whether the file carries moving pictures.
    pub has_video: bool,
}

impl Probed {
    fn bare(modality: Modality, mime: &str, extension: &str) -> Probed {
        Probed {
            modality,
            mime: mime.to_owned(),
            extension: extension.to_owned(),
            width: None,
            height: None,
            duration_secs: None,
            sample_rate: None,
            channels: None,
            codec: None,
            has_audio: false,
            has_video: false,
        }
    }
}

/// Why a file was refused or could not be examined.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The file has no bytes.
    #[error("the file is empty")]
    EmptyFile,
    /// The content is of no type this service accepts.
    #[error("unsupported media type: {0}")]
    UnsupportedType(String),
    /// The content looks like an image but does not decode.
    #[error("corrupt image: {0}")]
    CorruptImage(String),
    /// The image is larger than the limits allow.
    #[error("image too large: {0}")]
    ImageTooLarge(String),
    /// The content looks like audio but does not decode.
    #[error("corrupt audio: {0}")]
    CorruptAudio(String),
    /// The audio is longer than the limit (`duration_secs` may be a lower bound).
    #[error("audio is at least {duration_secs:.1} s long, over the limit of {limit_secs:.1} s")]
    AudioTooLong {
        /// How long the audio is, or how much of it was decoded before stopping.
        duration_secs: f64,
        /// The limit in force.
        limit_secs: f64,
    },
    /// The content looks like video but does not decode.
    #[error("corrupt video: {0}")]
    CorruptVideo(String),
    /// The video is longer than the limit.
    #[error("video is {duration_secs:.1} s long, over the limit of {limit_secs:.1} s")]
    VideoTooLong {
        /// How long the video is.
        duration_secs: f64,
        /// The limit in force.
        limit_secs: f64,
    },
    /// The content looks like text but is not valid UTF-8 text.
    #[error("invalid text: {0}")]
    InvalidText(String),
    /// The text is larger than the limit.
    #[error("text is {size} bytes, over the limit of {limit} bytes")]
    TextTooLarge {
        /// The file's size.
        size: u64,
        /// The limit in force.
        limit: u64,
    },
    /// A required external program is not installed.
    #[error("`{tool}` was not found; install it with `apt-get install ffmpeg`")]
    ToolMissing {
        /// The program's name.
        tool: &'static str,
    },
    /// An external program ran past the time limit and was killed.
    #[error("`{tool}` did not finish within {} s", timeout.as_secs_f64())]
    ToolTimeout {
        /// The program's name.
        tool: &'static str,
        /// The limit in force.
        timeout: Duration,
    },
    /// Reading the file or running a program failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<ProcessError> for MediaError {
    fn from(e: ProcessError) -> Self {
        match e {
            ProcessError::Missing { tool } => MediaError::ToolMissing { tool },
            ProcessError::Timeout { tool, timeout } => MediaError::ToolTimeout { tool, timeout },
            ProcessError::Io(e) => MediaError::Io(e),
        }
    }
}

impl MediaError {
    /// True when the upload itself is at fault (a 4xx), false when the server is.
    pub fn is_client_error(&self) -> bool {
        !matches!(
            self,
            MediaError::Io(_) | MediaError::ToolMissing { .. } | MediaError::ToolTimeout { .. }
        )
    }
}

/// Detects a file's type from its content and validates it by decoding it.
pub fn probe(path: &Path, limits: &MediaLimits) -> Result<Probed, MediaError> {
    match sniff::sniff(path)? {
        Sniffed::Empty => Err(MediaError::EmptyFile),
        Sniffed::Image(format) => raster::probe(path, format, limits),
        Sniffed::Audio(format) => audio::probe(path, format, limits),
        Sniffed::Iso(brand) => match isobmff::inspect(path, brand)? {
            isobmff::Tracks::Video => video::probe(path, video::Container::Iso(brand), limits),
            isobmff::Tracks::AudioOnly => audio::probe(path, audio::AudioFormat::Mp4, limits),
        },
        Sniffed::Matroska { webm } => {
            video::probe(path, video::Container::Matroska { webm }, limits)
        }
        Sniffed::Avi => video::probe(path, video::Container::Avi, limits),
        Sniffed::Unknown { len } => text::probe(path, len, limits),
    }
}

/// A downscaled JPEG rendition of an image.
#[derive(Clone, Debug)]
pub struct Thumbnail {
    /// The size that was asked for: the longer side is at most this.
    pub max_side: u32,
    /// Width of the rendition in pixels.
    pub width: u32,
    /// Height of the rendition in pixels.
    pub height: u32,
    /// MIME type of `bytes` (`image/jpeg`).
    pub mime: String,
    /// The encoded rendition.
    pub bytes: Vec<u8>,
}

/// Renders one JPEG per requested size (longest side ≤ size, never upscaled, EXIF-oriented).
pub fn image_thumbnails(
    path: &Path,
    sizes: &[u32],
    limits: &MediaLimits,
) -> Result<Vec<Thumbnail>, MediaError> {
    match sniff::sniff(path)? {
        Sniffed::Empty => Err(MediaError::EmptyFile),
        Sniffed::Image(format) => raster::thumbnails(path, format, sizes, limits),
        _ => Err(MediaError::UnsupportedType(
            "thumbnails are made of images only".into(),
        )),
    }
}

/// Peak levels of an audio file: `buckets` values in 0..=1, each the loudest mono-mixed sample of
/// its slice of time.
pub fn waveform_peaks(
    path: &Path,
    buckets: usize,
    limits: &MediaLimits,
) -> Result<Vec<f32>, MediaError> {
    let format = match sniff::sniff(path)? {
        Sniffed::Empty => return Err(MediaError::EmptyFile),
        Sniffed::Audio(format) => format,
        Sniffed::Iso(brand) => match isobmff::inspect(path, brand)? {
            isobmff::Tracks::AudioOnly => audio::AudioFormat::Mp4,
            isobmff::Tracks::Video => {
                return Err(MediaError::UnsupportedType(
                    "waveforms are drawn for audio files only".into(),
                ))
            }
        },
        _ => {
            return Err(MediaError::UnsupportedType(
                "waveforms are drawn for audio files only".into(),
            ))
        }
    };
    audio::waveform(path, format, buckets, limits)
}

/// A still frame representing a video.
#[derive(Clone, Debug)]
pub struct Poster {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The frame as JPEG.
    pub bytes: Vec<u8>,
}

/// Extracts a JPEG frame at about 10 % of the video (the first frame when that fails), at most
/// 1024 pixels wide.
pub fn video_poster(
    path: &Path,
    probed: &Probed,
    limits: &MediaLimits,
) -> Result<Poster, MediaError> {
    video::poster(path, probed, limits)
}
