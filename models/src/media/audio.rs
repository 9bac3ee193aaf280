//! Audio through `symphonia`: every packet is decoded, so truncated or corrupt files are refused
//! and the duration limit holds even when a header lies.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

use symphonia::core::audio::{SampleBuffer, SignalSpec};
use symphonia::core::codecs::{self as codecs_ids, CodecType, DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, SeekMode, SeekTo};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::{MediaError, MediaLimits, Modality, Probed};

/// The audio containers accepted, as sniffed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AudioFormat {
    Wav,
    Mp3,
    Flac,
    Ogg,
    /// MP4 with sound tracks only (M4A).
    Mp4,
}

impl AudioFormat {
    fn names(self) -> (&'static str, &'static str) {
        match self {
            AudioFormat::Wav => ("audio/wav", "wav"),
            AudioFormat::Mp3 => ("audio/mpeg", "mp3"),
            AudioFormat::Flac => ("audio/flac", "flac"),
            AudioFormat::Ogg => ("audio/ogg", "ogg"),
            AudioFormat::Mp4 => ("audio/mp4", "m4a"),
        }
    }

    fn hint(self) -> &'static str {
        match self {
            AudioFormat::Mp4 => "mp4",
            other => other.names().1,
        }
    }
}

/// What decoding the whole stream found.
struct Decoded {
    frames: u64,
    sample_rate: u32,
    channels: u16,
    codec: Option<String>,
}

pub(crate) fn probe(
    path: &Path,
    format: AudioFormat,
    limits: &MediaLimits,
) -> Result<Probed, MediaError> {
    let decoded = decode(path, format, limits, None)?;
    let (mime, ext) = format.names();
    let mut probed = Probed::bare(Modality::Audio, mime, ext);
    probed.duration_secs = Some(decoded.frames as f64 / f64::from(decoded.sample_rate));
    probed.sample_rate = Some(decoded.sample_rate);
    probed.channels = Some(decoded.channels);
    probed.codec = decoded.codec;
    probed.has_audio = true;
    Ok(probed)
}

pub(crate) fn waveform(
    path: &Path,
    format: AudioFormat,
    buckets: usize,
    limits: &MediaLimits,
) -> Result<Vec<f32>, MediaError> {
    let mut peaks = Peaks::new();
    decode(path, format, limits, Some(&mut peaks))?;
    Ok(peaks.finish(buckets))
}

/// Decodes every packet of the first audio track, feeding mono-mixed samples to `peaks` if given.
fn decode(
    path: &Path,
    format: AudioFormat,
    limits: &MediaLimits,
    peaks: Option<&mut Peaks>,
) -> Result<Decoded, MediaError> {
    // Decoders written for trusted input can panic on hostile input; that is a corrupt file,
    // not a crashed worker.
    let header_counts = header_counts(path, format)?;
    panic::catch_unwind(AssertUnwindSafe(|| {
        decode_inner(path, format, limits, peaks, header_counts)
    }))
    .unwrap_or_else(|_| Err(MediaError::CorruptAudio("the audio decoder failed".into())))
}

fn decode_inner(
    path: &Path,
    format: AudioFormat,
    limits: &MediaLimits,
    mut peaks: Option<&mut Peaks>,
    header_counts: bool,
) -> Result<Decoded, MediaError> {
    let stream = MediaSourceStream::new(Box::new(File::open(path)?), Default::default());
    let mut hint = Hint::new();
    hint.with_extension(format.hint());
    // Gapless trimming off: the frame count in the header is then the plain count of decoded
    // frames, which is what the truncation check compares against.
    let format_options = FormatOptions {
        enable_gapless: false,
        ..Default::default()
    };
    let probed = symphonia::default::get_probe()
        .format(&hint, stream, &format_options, &MetadataOptions::default())
        .map_err(|e| corrupt_or_io(e, "could not read the audio container"))?;
    let mut reader = probed.format;

    let track = reader
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| MediaError::CorruptAudio("the file has no audio track".into()))?;
    let track_id = track.id;
    let params = track.codec_params.clone();
    let codecs = symphonia::default::get_codecs();
    let codec = codecs
        .get_codec(params.codec)
        .map(|d| d.short_name.to_owned());
    let mut decoder = codecs
        .make(&params, &DecoderOptions { verify: true })
        .map_err(|e| match e {
            SymphoniaError::Unsupported(what) => {
                MediaError::UnsupportedType(format!("audio codec not supported: {what}"))
            }
            other => corrupt_or_io(other, "could not start the audio decoder"),
        })?;

    let mut sample_rate = params.sample_rate;
    let mut channels = params.channels.map(|c| c.count() as u16);
    let header_frames = params.n_frames;
    if let (Some(n), Some(rate)) = (header_frames, sample_rate) {
        let secs = n as f64 / f64::from(rate);
        if rate > 0 && secs > limits.max_audio_seconds {
            return Err(too_long(secs, limits));
        }
    }

    // PCM samples are valid whatever their bytes, so without peaks to compute, what matters is
    // whether the data reaches the length the header declares (a cut file ends early). A WAV's
    // packets are plain slices of its data chunk, positioned by their byte offset, so reading
    // from its last second on is enough: a 1 GB WAV is probed without reading the gigabyte. A
    // seek past the end of a cut file finds no packet at all.
    let mut seeked = false;
    if let (true, AudioFormat::Wav, Some(n), Some(rate)) = (
        peaks.is_none() && is_pcm(params.codec),
        format,
        header_frames,
        sample_rate,
    ) {
        let rate = u64::from(rate);
        if rate > 0 && n > 2 * rate {
            let to = SeekTo::TimeStamp {
                ts: n - rate,
                track_id,
            };
            // A reader that cannot seek reads the whole stream instead.
            seeked = reader.seek(SeekMode::Accurate, to).is_ok();
        }
    }
    // Other PCM (AIFF, or a WAV too short to seek in) is read whole, but counting each
    // packet's frames checks all that decoding would, at a fraction of its cost.
    let count_only = !seeked && peaks.is_none() && is_pcm(params.codec);
    let mut any_packet = false;
    let mut frames: u64 = 0;
    let mut samples: Option<(SignalSpec, SampleBuffer<f32>)> = None;
    loop {
        let packet = match reader.next_packet() {
            Ok(packet) => packet,
            // Symphonia reports the end of the stream as an unexpected end of file; whether it
            // came too early is judged below from the frame count.
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break
            }
            Err(SymphoniaError::ResetRequired) => break,
            Err(e) => return Err(corrupt_or_io(e, "could not read an audio packet")),
        };
        if packet.track_id() != track_id {
            continue;
        }
        if seeked && !any_packet {
            // The frames before the seek point are there: the packet starts after them.
            frames = packet.ts();
        }
        any_packet = true;
        if count_only {
            let rate = sample_rate.filter(|&r| r > 0).ok_or_else(|| {
                MediaError::CorruptAudio("the stream has a sample rate of zero".into())
            })?;
            frames += packet.dur;
            let secs = frames as f64 / f64::from(rate);
            if secs > limits.max_audio_seconds {
                return Err(too_long(secs, limits));
            }
            continue;
        }
        let buffer = decoder
            .decode(&packet)
            .map_err(|e| corrupt_or_io(e, "could not decode an audio packet"))?;
        let spec = *buffer.spec();
        if spec.rate == 0 {
            return Err(MediaError::CorruptAudio(
                "the stream has a sample rate of zero".into(),
            ));
        }
        sample_rate = Some(spec.rate);
        channels = Some(spec.channels.count() as u16);
        frames += buffer.frames() as u64;
        // A few bytes can declare hours of audio: stop as soon as the decoded length passes the
        // limit rather than when the file ends.
        let secs = frames as f64 / f64::from(spec.rate);
        if secs > limits.max_audio_seconds {
            return Err(too_long(secs, limits));
        }

        if let Some(peaks) = peaks.as_deref_mut() {
            let n_channels = spec.channels.count().max(1);
            let needed = buffer.capacity() * n_channels;
            let reuse = matches!(&samples, Some((s, b)) if *s == spec && b.capacity() >= needed);
            if !reuse {
                samples = Some((spec, SampleBuffer::new(buffer.capacity() as u64, spec)));
            }
            if let Some((_, interleaved)) = samples.as_mut() {
                interleaved.copy_interleaved_ref(buffer);
                for frame in interleaved.samples().chunks_exact(n_channels) {
                    peaks.push(frame.iter().sum::<f32>() / n_channels as f32);
                }
            }
        }
    }

    if seeked && !any_packet {
        return Err(MediaError::CorruptAudio(
            "the audio data ends before the length its header declares; the file is probably truncated"
                .into(),
        ));
    }
    let (Some(sample_rate), Some(channels)) = (sample_rate, channels) else {
        return Err(MediaError::CorruptAudio("no audio could be decoded".into()));
    };
    if frames == 0 || sample_rate == 0 {
        return Err(MediaError::CorruptAudio("no audio could be decoded".into()));
    }
    if let (true, Some(declared)) = (header_counts, header_frames) {
        // PCM and FLAC declare their exact sample count. Compressed frames may differ by the
        // priming and padding frames that some encoders count and some don't.
        let slack = match format {
            AudioFormat::Wav | AudioFormat::Flac => 0,
            _ => 4096 + declared / 1000,
        };
        if frames + slack < declared {
            return Err(MediaError::CorruptAudio(format!(
                "the header declares {:.2} s but only {:.2} s could be decoded; the file is probably truncated",
                declared as f64 / f64::from(sample_rate),
                frames as f64 / f64::from(sample_rate)
            )));
        }
    }
    if decoder.finalize().verify_ok == Some(false) {
        return Err(MediaError::CorruptAudio(
            "the decoded audio fails its checksum".into(),
        ));
    }
    Ok(Decoded {
        frames,
        sample_rate,
        channels,
        codec,
    })
}

/// Whether the container's declared frame count is exact and so must be reached by decoding.
/// MP3 files carry one only in a Xing/Info/VBRI tag; without it the count is an estimate from the
/// first frame's bit rate.
fn header_counts(path: &Path, format: AudioFormat) -> Result<bool, MediaError> {
    match format {
        AudioFormat::Wav | AudioFormat::Flac | AudioFormat::Mp4 => Ok(true),
        // The Ogg reader takes its count from the last page, which is present in a cut file too.
        AudioFormat::Ogg => Ok(false),
        AudioFormat::Mp3 => mp3_has_length_tag(path),
    }
}

fn mp3_has_length_tag(path: &Path) -> Result<bool, MediaError> {
    let mut file = File::open(path)?;
    let mut id3 = [0u8; 10];
    let mut start = 0u64;
    if file.read_exact(&mut id3).is_ok() && id3.starts_with(b"ID3") {
        let size = id3[6..10]
            .iter()
            .fold(0u64, |acc, b| (acc << 7) | u64::from(b & 0x7F));
        start = 10 + size + if id3[5] & 0x10 != 0 { 10 } else { 0 };
    }
    // The tag sits right after the side information of the first frame, within its first bytes.
    let mut first = Vec::with_capacity(256);
    file.seek(SeekFrom::Start(start))?;
    (&mut file).take(256).read_to_end(&mut first)?;
    Ok(first
        .windows(4)
        .any(|w| w == b"Xing" || w == b"Info" || w == b"VBRI"))
}

/// Whether a codec stores plain samples (linear PCM, A-law, µ-law).
fn is_pcm(codec: CodecType) -> bool {
    use codecs_ids::*;
    [
        CODEC_TYPE_PCM_S8,
        CODEC_TYPE_PCM_U8,
        CODEC_TYPE_PCM_S16LE,
        CODEC_TYPE_PCM_S16BE,
        CODEC_TYPE_PCM_U16LE,
        CODEC_TYPE_PCM_U16BE,
        CODEC_TYPE_PCM_S24LE,
        CODEC_TYPE_PCM_S24BE,
        CODEC_TYPE_PCM_U24LE,
        CODEC_TYPE_PCM_U24BE,
        CODEC_TYPE_PCM_S32LE,
        CODEC_TYPE_PCM_S32BE,
        CODEC_TYPE_PCM_U32LE,
        CODEC_TYPE_PCM_U32BE,
        CODEC_TYPE_PCM_F32LE,
        CODEC_TYPE_PCM_F32BE,
        CODEC_TYPE_PCM_F64LE,
        CODEC_TYPE_PCM_F64BE,
        CODEC_TYPE_PCM_ALAW,
        CODEC_TYPE_PCM_MULAW,
    ]
    .contains(&codec)
}

fn too_long(secs: f64, limits: &MediaLimits) -> MediaError {
    MediaError::AudioTooLong {
        duration_secs: secs,
        limit_secs: limits.max_audio_seconds,
    }
}

fn corrupt_or_io(e: SymphoniaError, context: &str) -> MediaError {
    match e {
        SymphoniaError::IoError(e)
            if !matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
            ) =>
        {
            MediaError::Io(e)
        }
        SymphoniaError::IoError(_) => {
            MediaError::CorruptAudio(format!("{context}: the data ends early"))
        }
        other => MediaError::CorruptAudio(format!("{context}: {other}")),
    }
}

/// Running peak levels in bounded memory: per-chunk maxima; when there are too many, neighbours
/// are merged and the chunk length doubles, so hours of audio need no more than `MAX_CHUNKS`.
pub(crate) struct Peaks {
    chunk: u64,
    filled: u64,
    current: f32,
    maxima: Vec<f32>,
}

const MAX_CHUNKS: usize = 1 << 16;

impl Peaks {
    pub(crate) fn new() -> Peaks {
        Peaks {
            chunk: 16,
            filled: 0,
            current: 0.0,
            maxima: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, sample: f32) {
        let level = sample.abs();
        if level > self.current {
            self.current = level;
        }
        self.filled += 1;
        if self.filled == self.chunk {
            self.maxima.push(self.current);
            self.filled = 0;
            self.current = 0.0;
            if self.maxima.len() >= MAX_CHUNKS {
                self.maxima = self
                    .maxima
                    .chunks(2)
                    .map(|p| p.iter().copied().fold(0.0, f32::max))
                    .collect();
                self.chunk *= 2;
            }
        }
    }

    /// Resamples the chunk maxima into `buckets` values, each clamped to 0..=1.
    pub(crate) fn finish(mut self, buckets: usize) -> Vec<f32> {
        if self.filled > 0 {
            self.maxima.push(self.current);
        }
        let n = self.maxima.len();
        if n == 0 {
            return vec![0.0; buckets];
        }
        (0..buckets)
            .map(|b| {
                let lo = (b * n / buckets).min(n - 1);
                let hi = ((b + 1) * n / buckets).clamp(lo + 1, n);
                let peak = self.maxima[lo..hi].iter().copied().fold(0.0, f32::max);
                if peak.is_nan() {
                    0.0
                } else {
                    peak.clamp(0.0, 1.0)
                }
            })
            .collect()
    }
}
