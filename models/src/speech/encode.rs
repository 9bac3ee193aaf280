//! Speech to file bytes: WAV (16-bit PCM) here, Opus in Ogg and MP3 through the `ffmpeg`
//! program (a subprocess fed on stdin; Opus comes back on stdout, MP3 through a temporary file).

use std::ffi::OsString;
use std::io::Cursor;
use std::sync::OnceLock;
use std::time::Duration;

use super::piper::Speech;
use super::SpeechError;
use crate::media::ffmpeg::file_arg;
use crate::process;

/// The program that encodes Opus and MP3.
pub const FFMPEG: &str = "ffmpeg";
/// Opus bit rate: speech at 32 kbit/s is close to transparent.
const OPUS_BITRATE: &str = "32k";
/// MP3 bit rate for 22 kHz mono speech.
const MP3_BITRATE: &str = "64k";
/// Time allowed for an encode on top of a tenth of the audio's duration.
const ENCODE_BASE_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest encoded output accepted (far above what the text limit allows).
const ENCODED_CAP: usize = 64 << 20;

/// A file format for speech.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AudioFormat {
    /// RIFF WAVE, 16-bit PCM, the voice's sample rate.
    Wav,
    /// Opus in Ogg, 48 kHz, 32 kbit/s.
    Opus,
    /// MPEG-1/2 layer III, the voice's sample rate, 64 kbit/s.
    Mp3,
}

impl AudioFormat {
    /// Every format.
    pub const ALL: [AudioFormat; 3] = [AudioFormat::Wav, AudioFormat::Opus, AudioFormat::Mp3];

    /// The MIME type of a file in this format.
    pub fn mime_type(self) -> &'static str {
        match self {
            AudioFormat::Wav => "audio/wav",
            AudioFormat::Opus => "audio/ogg",
            AudioFormat::Mp3 => "audio/mpeg",
        }
    }

    /// The usual file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            AudioFormat::Wav => "wav",
            AudioFormat::Opus => "opus",
            AudioFormat::Mp3 => "mp3",
        }
    }

    /// The format named by an extension or short name (`wav`, `opus`, `ogg`, `mp3`), any case.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "wav" | "wave" => Some(AudioFormat::Wav),
            "opus" | "ogg" => Some(AudioFormat::Opus),
            "mp3" | "mpeg" => Some(AudioFormat::Mp3),
            _ => None,
        }
    }

    /// The ffmpeg encoder this format needs, if any.
    fn encoder(self) -> Option<&'static str> {
        match self {
            AudioFormat::Wav => None,
            AudioFormat::Opus => Some("libopus"),
            AudioFormat::Mp3 => Some("libmp3lame"),
        }
    }
}

/// Encodes speech in a format.
pub fn encode(speech: &Speech, format: AudioFormat) -> Result<Vec<u8>, SpeechError> {
    match format {
        AudioFormat::Wav => to_wav(speech),
        AudioFormat::Opus | AudioFormat::Mp3 => with_ffmpeg(speech, format),
    }
}

/// Speech as a 16-bit PCM WAV file.
pub fn to_wav(speech: &Speech) -> Result<Vec<u8>, SpeechError> {
    check_rate(speech)?;
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: speech.sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = Cursor::new(Vec::with_capacity(44 + 2 * speech.samples.len()));
    let err = |e: hound::Error| SpeechError::Encode(e.to_string());
    let mut writer = hound::WavWriter::new(&mut bytes, spec).map_err(err)?;
    for &s in &speech.samples {
        writer.write_sample(to_i16(s)).map_err(err)?;
    }
    writer.finalize().map_err(err)?;
    Ok(bytes.into_inner())
}

fn to_i16(s: f32) -> i16 {
    let s = if s.is_finite() {
        s.clamp(-1.0, 1.0)
    } else {
        0.0
    };
    // In range by the clamp, so the cast cannot saturate.
    (s * f32::from(i16::MAX)).round() as i16
}

fn check_rate(speech: &Speech) -> Result<(), SpeechError> {
    if (1_000..=384_000).contains(&speech.sample_rate) {
        Ok(())
    } else {
        Err(SpeechError::Encode(format!(
            "sample rate {} is out of range",
            speech.sample_rate
        )))
    }
}

/// Fails with [`SpeechError::EncoderMissing`] (or `ToolMissing`) unless ffmpeg can write the
/// format. ffmpeg's encoder list is read once per process.
pub fn check_encoder(format: AudioFormat) -> Result<(), SpeechError> {
    let Some(encoder) = format.encoder() else {
        return Ok(());
    };
    let list = encoder_list()?;
    let present = list
        .lines()
        .any(|line| line.split_whitespace().nth(1) == Some(encoder));
    if present {
        Ok(())
    } else {
        Err(SpeechError::EncoderMissing { encoder })
    }
}

fn encoder_list() -> Result<&'static str, SpeechError> {
    static LIST: OnceLock<String> = OnceLock::new();
    if let Some(list) = LIST.get() {
        return Ok(list);
    }
    let out = process::run(
        FFMPEG,
        &["-hide_banner", "-encoders"],
        None,
        Duration::from_secs(10),
        1 << 20,
    )?;
    if !out.status.success() {
        return Err(SpeechError::ToolFailed {
            tool: FFMPEG,
            message: format!("listing encoders: {}", out.stderr_summary()),
        });
    }
    // Only a successful listing is remembered, so installing ffmpeg later is noticed.
    Ok(LIST.get_or_init(|| String::from_utf8_lossy(&out.stdout).into_owned()))
}

fn with_ffmpeg(speech: &Speech, format: AudioFormat) -> Result<Vec<u8>, SpeechError> {
    check_rate(speech)?;
    check_encoder(format)?;
    let rate = speech.sample_rate.to_string();
    let mut args: Vec<OsString> = [
        "-hide_banner",
        "-loglevel",
        "error",
        "-f",
        "f32le",
        "-ar",
        &rate,
        "-ac",
        "1",
        "-i",
        "pipe:0",
        "-map_metadata",
        "-1",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    // MP3 goes to a file: ffmpeg rewinds it to fill in the Xing/LAME header with the frame count
    // and the encoder's delay and padding, which players need for the exact duration. A pipe
    // cannot be rewound, and the header would stay a placeholder.
    let mut mp3_file = None;
    match format {
        AudioFormat::Opus => args.extend(
            [
                "-c:a",
                "libopus",
                "-b:a",
                OPUS_BITRATE,
                "-application",
                "voip",
                "-ar",
                "48000",
                "-f",
                "ogg",
                "pipe:1",
            ]
            .map(OsString::from),
        ),
        _ => {
            let dir = tempfile::Builder::new().prefix("tessera-mp3-").tempdir()?;
            let path = dir.path().join("speech.mp3");
            args.extend(
                ["-c:a", "libmp3lame", "-b:a", MP3_BITRATE, "-f", "mp3", "-y"].map(OsString::from),
            );
            args.push(file_arg(&path));
            mp3_file = Some((dir, path));
        }
    }
    let input: Vec<u8> = speech
        .samples
        .iter()
        .flat_map(|s| {
            let s = if s.is_finite() {
                s.clamp(-1.0, 1.0)
            } else {
                0.0
            };
            s.to_le_bytes()
        })
        .collect();
    let timeout = ENCODE_BASE_TIMEOUT + Duration::from_secs_f64(speech.duration_secs() / 10.0);
    let out = process::run(FFMPEG, &args, Some(input), timeout, ENCODED_CAP)?;
    if !out.status.success() {
        return Err(SpeechError::ToolFailed {
            tool: FFMPEG,
            message: out.stderr_summary(),
        });
    }
    let too_big = || SpeechError::Encode(format!("encoded audio is over {ENCODED_CAP} bytes"));
    match mp3_file {
        // The folder (and the file) are removed when `_dir` drops.
        Some((_dir, path)) => {
            if std::fs::metadata(&path)?.len() > ENCODED_CAP as u64 {
                return Err(too_big());
            }
            Ok(std::fs::read(&path)?)
        }
        None if out.stdout_overflowed => Err(too_big()),
        None => Ok(out.stdout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_round_trip_through_their_names() {
        for f in AudioFormat::ALL {
            assert_eq!(AudioFormat::from_name(f.extension()), Some(f));
            assert!(f.mime_type().starts_with("audio/"));
        }
        assert_eq!(AudioFormat::from_name("OGG"), Some(AudioFormat::Opus));
        assert_eq!(AudioFormat::from_name("flac"), None);
    }

    #[test]
    fn samples_map_to_the_full_16_bit_range() {
        assert_eq!(to_i16(1.0), i16::MAX);
        assert_eq!(to_i16(-2.0), -i16::MAX);
        assert_eq!(to_i16(f32::NAN), 0);
        assert_eq!(to_i16(0.5), 16384);
    }
}
