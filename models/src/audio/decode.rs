//! Decoding any file symphonia supports (WAV, FLAC, MP3, Ogg/Vorbis, MP4/AAC) to mono f32 at the
//! file's own sample rate, within a duration limit.

use std::fs::File;
use std::path::Path;
use std::time::Duration;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::AudioError;

/// The highest sample rate accepted (anything above is not audio a person recorded).
pub const MAX_SAMPLE_RATE: u32 = 384_000;
/// Malformed packets tolerated in one stream before it is called corrupt.
const MAX_BAD_PACKETS: usize = 64;

/// Limits applied while decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AudioLimits {
    /// The longest audio accepted; longer files are refused.
    pub max_duration: Duration,
}

impl Default for AudioLimits {
    /// Two hours.
    fn default() -> Self {
        AudioLimits {
            max_duration: Duration::from_secs(2 * 60 * 60),
        }
    }
}

/// Decoded mono audio.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedAudio {
    /// Mono samples in [-1, 1] (channels averaged).
    pub samples: Vec<f32>,
    /// Samples per second.
    pub sample_rate: u32,
}

impl DecodedAudio {
    /// The length in seconds.
    pub fn duration_seconds(&self) -> f64 {
        if self.sample_rate == 0 {
            return 0.0;
        }
        self.samples.len() as f64 / f64::from(self.sample_rate)
    }
}

/// Decodes the first audio track of a file to mono f32.
///
/// A file whose container states a length over `limits.max_duration` is refused before any
/// decoding; otherwise decoding stops with the same error as soon as the limit is passed, so
/// memory stays bounded by the limit. Zero-length and silent audio are valid results.
pub fn decode_file(path: &Path, limits: &AudioLimits) -> Result<DecodedAudio, AudioError> {
    let file = File::open(path).map_err(|e| AudioError::Unreadable {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    decode_stream(
        MediaSourceStream::new(Box::new(file), Default::default()),
        &hint,
        limits,
    )
}

fn decode_stream(
    stream: MediaSourceStream,
    hint: &Hint,
    limits: &AudioLimits,
) -> Result<DecodedAudio, AudioError> {
    let format_options = FormatOptions {
        enable_gapless: true,
        ..Default::default()
    };
    let probed = symphonia::default::get_probe()
        .format(hint, stream, &format_options, &MetadataOptions::default())
        .map_err(|e| match e {
            SymphoniaError::Unsupported(m) => AudioError::Unsupported {
                message: format!("no supported container recognised ({m})"),
            },
            other => AudioError::Corrupt {
                message: other.to_string(),
            },
        })?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| AudioError::Unsupported {
            message: "the file has no audio track".into(),
        })?;
    let track_id = track.id;
    let params = track.codec_params.clone();
    let max_seconds = limits.max_duration.as_secs_f64();
    let too_long = |seconds: f64| AudioError::TooLong {
        seconds,
        max_seconds,
    };

    let mut sample_rate = params.sample_rate;
    if let Some(rate) = sample_rate {
        check_rate(rate)?;
        if let Some(frames) = params.n_frames {
            let seconds = frames as f64 / f64::from(rate);
            if seconds > max_seconds {
                return Err(too_long(seconds));
            }
        }
    }

    let mut decoder = symphonia::default::get_codecs()
        .make(&params, &DecoderOptions::default())
        .map_err(|e| AudioError::Unsupported {
            message: format!("no decoder for this codec ({e})"),
        })?;

    let mut samples: Vec<f32> = Vec::new();
    let mut buffer: Option<SampleBuffer<f32>> = None;
    let mut bad_packets = 0usize;
    let mut last_error = String::new();
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break
            }
            // A chained stream with new parameters: this pipeline takes the first one only.
            Err(SymphoniaError::ResetRequired) => break,
            Err(e) => {
                if samples.is_empty() {
                    return Err(AudioError::Corrupt {
                        message: e.to_string(),
                    });
                }
                // A truncated or damaged tail: keep what decoded cleanly.
                tracing::debug!(error = %e, "audio stream ends early");
                break;
            }
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            Err(SymphoniaError::DecodeError(m)) => {
                bad_packets += 1;
                last_error = m.to_string();
                if bad_packets > MAX_BAD_PACKETS {
                    return Err(AudioError::Corrupt {
                        message: format!("{bad_packets} malformed packets, last: {m}"),
                    });
                }
                continue;
            }
            Err(SymphoniaError::IoError(e)) => {
                bad_packets += 1;
                last_error = e.to_string();
                if bad_packets > MAX_BAD_PACKETS {
                    return Err(AudioError::Corrupt {
                        message: last_error,
                    });
                }
                continue;
            }
            Err(e) => {
                return Err(AudioError::Corrupt {
                    message: e.to_string(),
                })
            }
        };
        let spec = *decoded.spec();
        match sample_rate {
            None => {
                check_rate(spec.rate)?;
                sample_rate = Some(spec.rate);
            }
            Some(rate) if rate != spec.rate => {
                return Err(AudioError::Corrupt {
                    message: format!("the sample rate changes from {rate} to {} Hz", spec.rate),
                })
            }
            Some(_) => {}
        }
        let channels = spec.channels.count().max(1);
        let frames = decoded.frames();
        if frames == 0 {
            continue;
        }
        let buf = match &mut buffer {
            Some(b) if b.capacity() >= decoded.capacity() * channels => b,
            _ => buffer.insert(SampleBuffer::new(decoded.capacity() as u64, spec)),
        };
        buf.copy_interleaved_ref(decoded);
        let rate = f64::from(spec.rate);
        let total = samples.len() + frames;
        if total as f64 / rate > max_seconds {
            return Err(too_long(total as f64 / rate));
        }
        let scale = 1.0 / channels as f32;
        samples.extend(
            buf.samples()
                .chunks_exact(channels)
                .take(frames)
                .map(|frame| frame.iter().sum::<f32>() * scale),
        );
    }
    if samples.is_empty() && bad_packets > 0 {
        return Err(AudioError::Corrupt {
            message: format!("no packet could be decoded ({last_error})"),
        });
    }
    let sample_rate = match sample_rate {
        Some(rate) => rate,
        // No packet at all and no stated rate: an empty stream.
        None => return Err(AudioError::SampleRate { rate: 0 }),
    };
    Ok(DecodedAudio {
        samples,
        sample_rate,
    })
}

fn check_rate(rate: u32) -> Result<(), AudioError> {
    if rate == 0 || rate > MAX_SAMPLE_RATE {
        return Err(AudioError::SampleRate { rate });
    }
    Ok(())
}
