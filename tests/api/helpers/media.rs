//! Media made at test time (nothing binary is committed); the test kit uploads it.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;

use tessera_models::catalog::Catalog;
use tessera_models::runtime::SessionOptions;
use tessera_models::speech::{encode, AudioFormat, PiperVoice, SynthOptions};

pub use tessera_testkit::content::form;

/// A PNG of `w`×`h` with a gradient, and `seed` mixed in so different seeds give different bytes.
pub fn png(w: u32, h: u32, seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, seed.wrapping_mul(37)])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("encoding a PNG");
    out.into_inner()
}

/// A valid PNG signature and header that declares `w`×`h` pixels, then garbage: a decompression
/// bomb's announcement without its payload.
pub fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    let mut v = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(b"IHDR");
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    v.extend_from_slice(&13u32.to_be_bytes());
    v.extend_from_slice(&ihdr);
    v.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    v.extend_from_slice(&[0u8; 64]);
    v
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// 16-bit mono PCM WAV: a 440 Hz tone of `seconds`, loud in the first half, quiet after.
pub fn wav(seconds: f32, rate: u32) -> Vec<u8> {
    let n = (seconds * rate as f32) as u32;
    let mut data = Vec::with_capacity(n as usize * 2);
    for i in 0..n {
        let amp = if i < n / 2 { 0.8 } else { 0.05 };
        let s = (amp
            * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / rate as f32).sin()
            * i16::MAX as f32) as i16;
        data.extend_from_slice(&s.to_le_bytes());
    }
    let mut v = Vec::with_capacity(44 + data.len());
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(rate * 2).to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(&data);
    v
}

/// A short MP4 (H.264 test pattern and a tone) made by ffmpeg; fails the test when ffmpeg is
/// missing.
pub fn mp4(seconds: u32) -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("tessera-media-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let out = dir.join("clip.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc=size=320x240:rate=10:duration={seconds}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:duration={seconds}"))
        .args([
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
        ])
        .arg(&out)
        .status()
        .unwrap_or_else(|e| {
            panic!("ffmpeg is needed for video tests (apt-get install ffmpeg): {e}")
        });
    assert!(status.success(), "ffmpeg failed to make a test clip");
    let bytes = std::fs::read(&out).expect("reading the clip");
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}

/// Audio made by ffmpeg from a lavfi source, in the format the extension names (mp3, flac,
/// ogg, m4a); fails the test when ffmpeg is missing.
pub fn ffmpeg_audio(source: &str, seconds: u32, ext: &str) -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("tessera-media-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let out = dir.join(format!("audio.{ext}"));
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", source, "-t"])
        .arg(seconds.to_string())
        .arg(&out)
        .status()
        .unwrap_or_else(|e| {
            panic!("ffmpeg is needed for audio tests (apt-get install ffmpeg): {e}")
        });
    assert!(status.success(), "ffmpeg failed to make {ext} audio");
    let bytes = std::fs::read(&out).expect("reading the audio");
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}

/// A JPEG of `w`×`h`.
pub fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 3) as u8, (y * 5) as u8, 90]));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("encoding a JPEG");
    out.into_inner()
}

/// Lowercase hex SHA-256.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The font the test media draw their text with (Debian's `fonts-dejavu-core`).
pub const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Runs ffmpeg quietly with `args`; fails the test when it is missing or fails.
pub fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg runs (install it with `apt-get install ffmpeg`)");
    assert!(status.success(), "ffmpeg {args:?}");
}

/// Speech by the Piper voice, as WAV bytes.
pub fn speak(text: &str) -> Vec<u8> {
    let dir = Catalog::shipped()
        .require("piper-en-us-joe-medium")
        .unwrap_or_else(|e| panic!("{e}"));
    let mut voice = PiperVoice::load(&dir, &SessionOptions::default()).expect("voice");
    let speech = voice
        .synthesize(text, &SynthOptions::default())
        .expect("speech");
    encode(&speech, AudioFormat::Wav).expect("wav")
}

/// A sign reading "OPEN DAILY FROM NINE", black on white, as `dir/sign.png`.
pub fn sign_png(dir: &Path) -> PathBuf {
    let sign = dir.join("sign.png");
    let text = format!(
        "drawtext=fontfile={FONT}:text='OPEN DAILY FROM NINE':fontsize=48:fontcolor=black:x=40:y=75"
    );
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=white:s=720x200",
        "-vf",
        &text,
        "-frames:v",
        "1",
        sign.to_str().unwrap(),
    ]);
    sign
}

/// A video as `dir/tour.mp4`: a white card titled "GARDEN TOUR" for `seconds`, then the lavfi
/// `scene` (640×360, 10 fps), with the WAV `voice` as its sound (cut to the pictures).
pub fn garden_tour(dir: &Path, voice: &Path, scene: &str, seconds: u32) -> PathBuf {
    let video = dir.join("tour.mp4");
    let card = format!("color=c=white:s=640x360:d={seconds}:r=10");
    let title = format!(
        "drawtext=fontfile={FONT}:text='GARDEN TOUR':fontsize=56:fontcolor=black:x=60:y=100"
    );
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &card,
        "-f",
        "lavfi",
        "-i",
        scene,
        "-i",
        voice.to_str().unwrap(),
        "-filter_complex",
        &format!("[0:v]{title}[a];[a][1:v]concat=n=2:v=1:a=0[v]"),
        "-map",
        "[v]",
        "-map",
        "2:a",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        video.to_str().unwrap(),
    ]);
    video
}
