//! Media sniffing, validation and previews, against fixtures generated at test time.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::{ExtendedColorType, ImageEncoder, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use tempfile::TempDir;
use tessera_models::media::{
    image_thumbnails, probe, video_poster, waveform_peaks, MediaError, MediaLimits, Modality,
    Probed,
};

// ---------------------------------------------------------------- helpers

fn dir() -> TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn write(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write fixture");
    path
}

/// Runs ffmpeg to make a fixture; these tests need it and say how to get it.
fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y"])
        .args(args)
        .output();
    match out {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("ffmpeg is needed to make the media test fixtures; install it with `apt-get install ffmpeg`")
        }
        Err(e) => panic!("could not run ffmpeg: {e}"),
        Ok(o) => assert!(
            o.status.success(),
            "ffmpeg {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
    }
}

/// Generates a fixture with ffmpeg (`args`: whitespace-separated, the output path appended).
fn gen(dir: &TempDir, name: &str, args: &str) -> PathBuf {
    let path = dir.path().join(name);
    let mut all: Vec<&str> = args.split_whitespace().collect();
    let p = path.to_str().expect("utf-8 temp path");
    all.push(p);
    ffmpeg(&all);
    path
}

fn limits() -> MediaLimits {
    MediaLimits::default()
}

fn ok(path: &Path) -> Probed {
    probe(path, &limits()).unwrap_or_else(|e| panic!("{} refused: {e:?}", path.display()))
}

/// The name of the error's variant (`CorruptImage`, `EmptyFile`, ...).
fn err_code<T: std::fmt::Debug>(r: Result<T, MediaError>) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => format!("{e:?}")
            .split(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap_or_default()
            .to_owned(),
    }
}

fn encode(image: &image::DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut buf = Cursor::new(Vec::new());
    image.write_to(&mut buf, format).expect("encode fixture");
    buf.into_inner()
}

fn gradient(w: u32, h: u32) -> image::DynamicImage {
    image::DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
        Rgb([
            (x * 255 / w.max(1)) as u8,
            (y * 255 / h.max(1)) as u8,
            ((x ^ y) & 0xFF) as u8,
        ])
    }))
}

/// Deterministic noise, so a failure can be reproduced.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as u8
        })
        .collect()
}

fn truncated(path: &Path, keep_fraction: f64, dir: &TempDir, name: &str) -> PathBuf {
    let bytes = std::fs::read(path).expect("read fixture");
    let keep = (bytes.len() as f64 * keep_fraction) as usize;
    write(dir, name, &bytes[..keep])
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc_input = kind.to_vec();
    crc_input.extend_from_slice(data);
    out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    out
}

fn sine_wav(dir: &TempDir, name: &str, rate: u32, sections: &[(f32, f32)]) -> PathBuf {
    let path = dir.path().join(name);
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).expect("wav writer");
    let mut n = 0u32;
    for &(secs, amp) in sections {
        for _ in 0..(secs * rate as f32) as u32 {
            let t = n as f32 / rate as f32;
            let v = amp * (2.0 * std::f32::consts::PI * 440.0 * t).sin();
            w.write_sample((v * i16::MAX as f32) as i16)
                .expect("sample");
            n += 1;
        }
    }
    w.finalize().expect("finalize wav");
    path
}

fn assert_close(actual: Option<f64>, expected: f64, tolerance: f64) {
    let a = actual.expect("a duration");
    assert!(
        (a - expected).abs() <= tolerance,
        "duration {a} not within {tolerance} of {expected}"
    );
}

// ---------------------------------------------------------------- modality and errors

#[test]
fn modality_names_round_trip() {
    for m in [
        Modality::Text,
        Modality::Image,
        Modality::Audio,
        Modality::Video,
    ] {
        assert_eq!(m.as_str().parse::<Modality>().expect("parse"), m);
        assert_eq!(
            serde_json::to_string(&m).expect("json"),
            format!("\"{}\"", m.as_str())
        );
    }
    assert_eq!(Modality::Video.as_str(), "video");
    assert!("movie".parse::<Modality>().is_err());
}

#[test]
fn error_codes_and_blame() {
    let missing = MediaError::ToolMissing { tool: "ffprobe" };
    assert!(
        matches!(missing, MediaError::ToolMissing { .. }),
        "{missing}"
    );
    assert!(missing.to_string().contains("apt-get install ffmpeg"));
    assert!(!missing.is_client_error());
    let timeout = MediaError::ToolTimeout {
        tool: "ffmpeg",
        timeout: Duration::from_secs(1),
    };
    assert!(!timeout.is_client_error());
    assert!(!MediaError::Io(std::io::Error::other("x")).is_client_error());
    assert!(MediaError::EmptyFile.is_client_error());
    assert!(MediaError::CorruptVideo("x".into()).is_client_error());
    assert!(MediaError::AudioTooLong {
        duration_secs: 2.0,
        limit_secs: 1.0
    }
    .is_client_error());
}

#[test]
fn empty_file_is_refused_everywhere() {
    let d = dir();
    let p = write(&d, "empty.png", b"");
    assert_eq!(err_code(probe(&p, &limits())), "EmptyFile");
    assert_eq!(
        err_code(image_thumbnails(&p, &[64], &limits())),
        "EmptyFile"
    );
    assert_eq!(err_code(waveform_peaks(&p, 10, &limits())), "EmptyFile");
}

#[test]
fn random_garbage_is_unsupported() {
    let d = dir();
    let p = write(&d, "photo.jpg", &noise(8192, 7));
    assert_eq!(err_code(probe(&p, &limits())), "UnsupportedType");
    let short = write(&d, "short.bin", &noise(200, 11));
    assert_eq!(err_code(probe(&short, &limits())), "UnsupportedType");
}

// ---------------------------------------------------------------- images

#[test]
fn image_formats_are_detected_with_dimensions() {
    let d = dir();
    let img = gradient(64, 48);
    let cases = [
        (ImageFormat::Png, "a.png", "image/png", "png"),
        (ImageFormat::Jpeg, "a.jpg", "image/jpeg", "jpg"),
        (ImageFormat::Gif, "a.gif", "image/gif", "gif"),
        (ImageFormat::WebP, "a.webp", "image/webp", "webp"),
        (ImageFormat::Bmp, "a.bmp", "image/bmp", "bmp"),
        (ImageFormat::Tiff, "a.tiff", "image/tiff", "tiff"),
    ];
    for (format, name, mime, ext) in cases {
        let image = if format == ImageFormat::Gif {
            image::DynamicImage::ImageRgba8(img.to_rgba8())
        } else {
            img.clone()
        };
        let p = write(&d, name, &encode(&image, format));
        let probed = ok(&p);
        assert_eq!(probed.modality, Modality::Image, "{name}");
        assert_eq!(probed.mime, mime, "{name}");
        assert_eq!(probed.extension, ext, "{name}");
        assert_eq!(
            (probed.width, probed.height),
            (Some(64), Some(48)),
            "{name}"
        );
        assert!(!probed.has_audio && !probed.has_video, "{name}");
        assert_eq!(probed.duration_secs, None, "{name}");
    }
}

#[test]
fn a_png_with_a_lying_extension_is_still_an_image() {
    let d = dir();
    let p = write(&d, "song.mp3", &encode(&gradient(10, 20), ImageFormat::Png));
    let probed = ok(&p);
    assert_eq!(probed.modality, Modality::Image);
    assert_eq!(probed.mime, "image/png");
    assert_eq!(probed.extension, "png");
    assert_eq!(
        err_code(waveform_peaks(&p, 10, &limits())),
        "UnsupportedType"
    );
}

#[test]
fn truncated_images_are_corrupt() {
    let d = dir();
    let img = gradient(200, 150);
    let png = write(&d, "full.png", &encode(&img, ImageFormat::Png));
    let cut = truncated(&png, 0.5, &d, "cut.png");
    assert_eq!(err_code(probe(&cut, &limits())), "CorruptImage");

    let jpeg = write(&d, "full.jpg", &encode(&img, ImageFormat::Jpeg));
    assert_eq!(ok(&jpeg).mime, "image/jpeg");
    let cut = truncated(&jpeg, 0.6, &d, "cut.jpg");
    assert_eq!(err_code(probe(&cut, &limits())), "CorruptImage");
    assert_eq!(
        err_code(image_thumbnails(&cut, &[32], &limits())),
        "CorruptImage"
    );
}

#[test]
fn a_huge_declared_size_is_refused_before_decoding() {
    let d = dir();
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    png.extend(png_chunk(b"IHDR", &ihdr));
    png.extend(png_chunk(
        b"IDAT",
        &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    ));
    png.extend(png_chunk(b"IEND", &[]));
    let p = write(&d, "huge.png", &png);

    let started = Instant::now();
    let result = probe(&p, &limits());
    let elapsed = started.elapsed();
    assert_eq!(err_code(result), "ImageTooLarge");
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");

    // Within max_dimension but over max_pixels.
    let small_limits = MediaLimits {
        max_pixels: 1000,
        ..MediaLimits::default()
    };
    let p = write(
        &d,
        "wide.png",
        &encode(&gradient(100, 20), ImageFormat::Png),
    );
    assert_eq!(err_code(probe(&p, &small_limits)), "ImageTooLarge");
    assert_eq!(ok(&p).width, Some(100));
}

#[test]
fn a_decompression_bomb_is_refused() {
    let d = dir();
    let black = RgbImage::new(4000, 4000);
    let mut bytes = Vec::new();
    PngEncoder::new_with_quality(&mut bytes, CompressionType::Best, PngFilter::NoFilter)
        .write_image(black.as_raw(), 4000, 4000, ExtendedColorType::Rgb8)
        .expect("encode bomb");
    // 48 MB of pixels in a few tens of kilobytes.
    assert!(
        bytes.len() < 100_000,
        "fixture should be tiny, is {} bytes",
        bytes.len()
    );
    let p = write(&d, "bomb.png", &bytes);
    let tight = MediaLimits {
        max_decoded_bytes: 8 * 1024 * 1024,
        ..MediaLimits::default()
    };
    assert_eq!(err_code(probe(&p, &tight)), "ImageTooLarge");
    assert_eq!(
        err_code(image_thumbnails(&p, &[64], &tight)),
        "ImageTooLarge"
    );
    // The same file within the default limits is fine: the refusal came from the limit.
    assert_eq!(ok(&p).width, Some(4000));
}

#[test]
fn thumbnails_have_the_requested_sizes_and_never_upscale() {
    let d = dir();
    let p = write(
        &d,
        "photo.png",
        &encode(&gradient(640, 480), ImageFormat::Png),
    );
    let thumbs = image_thumbnails(&p, &[256, 64, 1000], &limits()).expect("thumbnails");
    assert_eq!(thumbs.len(), 3);
    let expected = [(256, 256, 192), (64, 64, 48), (1000, 640, 480)];
    for (t, (side, w, h)) in thumbs.iter().zip(expected) {
        assert_eq!(t.max_side, side);
        assert_eq!((t.width, t.height), (w, h));
        assert_eq!(t.mime, "image/jpeg");
        let decoded = image::load_from_memory_with_format(&t.bytes, ImageFormat::Jpeg)
            .expect("thumbnail decodes");
        assert_eq!((decoded.width(), decoded.height()), (w, h));
    }
}

#[test]
fn exif_orientation_is_applied() {
    let d = dir();
    let jpeg = encode(&gradient(64, 48), ImageFormat::Jpeg);
    // APP1 with a one-entry little-endian IFD: Orientation (0x0112) = 6, "rotate 90° clockwise".
    let mut exif = b"Exif\0\0II*\0\x08\0\0\0\x01\0".to_vec();
    exif.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0]);
    exif.extend_from_slice(&[0, 0, 0, 0]);
    let mut rotated = jpeg[..2].to_vec();
    rotated.extend_from_slice(&[0xFF, 0xE1]);
    rotated.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
    rotated.extend_from_slice(&exif);
    rotated.extend_from_slice(&jpeg[2..]);
    let p = write(&d, "portrait.jpg", &rotated);
    let probed = ok(&p);
    assert_eq!((probed.width, probed.height), (Some(48), Some(64)));
    let thumbs = image_thumbnails(&p, &[32], &limits()).expect("thumbnails");
    assert_eq!((thumbs[0].width, thumbs[0].height), (24, 32));
}

#[test]
fn transparent_images_are_flattened_onto_white() {
    let d = dir();
    let clear = image::DynamicImage::ImageRgba8(RgbaImage::from_pixel(32, 32, Rgba([0, 0, 0, 0])));
    let p = write(&d, "clear.png", &encode(&clear, ImageFormat::Png));
    let thumbs = image_thumbnails(&p, &[16], &limits()).expect("thumbnails");
    let decoded = image::load_from_memory(&thumbs[0].bytes)
        .expect("decodes")
        .to_rgb8();
    assert!(
        decoded.pixels().all(|p| p.0.iter().all(|&c| c > 240)),
        "expected white"
    );
}

// ---------------------------------------------------------------- text

#[test]
fn utf8_text_in_any_script_is_text() {
    let d = dir();
    let text = "Hello, мир! 你好，世界。 مرحبا بالعالم — नमस्ते 🎉\n\tIndented line\r\n";
    let p = write(&d, "notes.md", text.as_bytes());
    let probed = ok(&p);
    assert_eq!(probed.modality, Modality::Text);
    assert_eq!(probed.mime, "text/plain; charset=utf-8");
    assert_eq!(probed.extension, "txt");

    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(text.as_bytes());
    assert_eq!(ok(&write(&d, "bom.txt", &bom)).modality, Modality::Text);
}

#[test]
fn binary_and_invalid_text_are_refused() {
    let d = dir();
    let p = write(&d, "data.txt", b"abc\0\0\0def\0ghi\0\x01\x02\x03");
    assert_eq!(err_code(probe(&p, &limits())), "UnsupportedType");
    let latin1 = write(
        &d,
        "latin1.txt",
        b"caf\xE9 au lait, cr\xE8me br\xFBl\xE9e, na\xEFve\n",
    );
    assert_eq!(err_code(probe(&latin1, &limits())), "InvalidText");
    // A NUL beyond the sniffed head still makes it invalid text.
    let mut late = "word ".repeat(20_000).into_bytes();
    late.push(0);
    assert_eq!(
        err_code(probe(&write(&d, "late.txt", &late), &limits())),
        "InvalidText"
    );
}

#[test]
fn text_over_the_limit_is_refused() {
    let d = dir();
    let p = write(&d, "big.txt", "line of text\n".repeat(100).as_bytes());
    let tight = MediaLimits {
        max_text_bytes: 1000,
        ..MediaLimits::default()
    };
    assert_eq!(err_code(probe(&p, &tight)), "TextTooLarge");
    assert_eq!(ok(&p).modality, Modality::Text);
}

// ---------------------------------------------------------------- audio

#[test]
fn wav_is_detected_and_its_waveform_follows_the_loudness() {
    let d = dir();
    let p = sine_wav(&d, "speech.wav", 16_000, &[(1.0, 0.05), (1.0, 0.9)]);
    let probed = ok(&p);
    assert_eq!(probed.modality, Modality::Audio);
    assert_eq!(probed.mime, "audio/wav");
    assert_eq!(probed.extension, "wav");
    assert_eq!(probed.sample_rate, Some(16_000));
    assert_eq!(probed.channels, Some(1));
    assert_close(probed.duration_secs, 2.0, 0.01);
    assert!(probed.has_audio && !probed.has_video);

    let peaks = waveform_peaks(&p, 100, &limits()).expect("peaks");
    assert_eq!(peaks.len(), 100);
    assert!(peaks.iter().all(|v| (0.0..=1.0).contains(v)), "{peaks:?}");
    let quiet = peaks[..50].iter().copied().fold(0.0, f32::max);
    let loud = peaks[50..].iter().copied().fold(0.0, f32::max);
    assert!(quiet < 0.1 && loud > 0.8, "quiet {quiet}, loud {loud}");
    assert!(peaks[60] > 0.8, "every loud bucket is loud: {}", peaks[60]);
}

#[test]
fn truncated_wav_is_corrupt() {
    let d = dir();
    let p = sine_wav(&d, "full.wav", 8000, &[(2.0, 0.5)]);
    let cut = truncated(&p, 0.6, &d, "cut.wav");
    assert_eq!(err_code(probe(&cut, &limits())), "CorruptAudio");
    assert_eq!(
        err_code(waveform_peaks(&cut, 10, &limits())),
        "CorruptAudio"
    );
}

#[test]
fn a_long_wav_is_probed_to_its_last_frame() {
    // Long enough that the probe reads only the data's last second: a file cut anywhere, even
    // a few bytes short, is still found out.
    let d = dir();
    let p = sine_wav(&d, "long.wav", 8000, &[(9.0, 0.2), (1.0, 0.5)]);
    assert_close(ok(&p).duration_secs, 10.0, 0.001);
    let len = std::fs::metadata(&p).expect("size").len();
    for keep in [0.3, 0.85, 0.95] {
        let cut = truncated(&p, keep, &d, &format!("cut-{keep}.wav"));
        assert_eq!(err_code(probe(&cut, &limits())), "CorruptAudio", "{keep}");
    }
    let short = d.path().join("short.wav");
    std::fs::write(
        &short,
        &std::fs::read(&p).expect("read")[..len as usize - 4],
    )
    .expect("write");
    assert_eq!(err_code(probe(&short, &limits())), "CorruptAudio");
}

#[test]
fn long_silence_over_the_limit_is_refused() {
    let d = dir();
    let tight = MediaLimits {
        max_audio_seconds: 5.0,
        ..MediaLimits::default()
    };
    let wav = sine_wav(&d, "silence.wav", 8000, &[(10.0, 0.0)]);
    assert_eq!(err_code(probe(&wav, &tight)), "AudioTooLong");
    assert_close(ok(&wav).duration_secs, 10.0, 0.01);

    let flac = gen(
        &d,
        "silence.flac",
        "-f lavfi -i anullsrc=r=8000:cl=mono -t 60 -c:a flac",
    );
    let size = std::fs::metadata(&flac).expect("size").len();
    assert!(size < 100_000, "the FLAC should be tiny, is {size} bytes");
    let limit = MediaLimits {
        max_audio_seconds: 30.0,
        ..MediaLimits::default()
    };
    assert_eq!(err_code(probe(&flac, &limit)), "AudioTooLong");

    // Without a declared length the limit is enforced while decoding.
    let mut bytes = std::fs::read(&flac).expect("read flac");
    // STREAMINFO starts at byte 8; its 36-bit total sample count spans bytes 21..26.
    bytes[21] &= 0xF0;
    bytes[22..26].fill(0);
    let unknown = write(&d, "unknown-length.flac", &bytes);
    assert_eq!(err_code(probe(&unknown, &limit)), "AudioTooLong");
    assert_close(ok(&unknown).duration_secs, 60.0, 0.1);
}

#[test]
fn compressed_audio_formats_are_detected() {
    let d = dir();
    let src = "-f lavfi -i sine=frequency=440:sample_rate=44100:duration=2";
    let cases = [
        (
            "a.mp3",
            "-c:a libmp3lame -b:a 64k",
            "audio/mpeg",
            "mp3",
            "mp3",
        ),
        ("a.flac", "-c:a flac", "audio/flac", "flac", "flac"),
        ("a.ogg", "-c:a libvorbis", "audio/ogg", "ogg", "vorbis"),
        ("a.m4a", "-c:a aac", "audio/mp4", "m4a", "aac"),
        // An MP4 container with only sound is audio.
        (
            "sound-only.mp4",
            "-c:a aac -f mp4",
            "audio/mp4",
            "m4a",
            "aac",
        ),
    ];
    for (name, codec_args, mime, ext, codec) in cases {
        let p = gen(&d, name, &format!("{src} {codec_args}"));
        let probed = ok(&p);
        assert_eq!(probed.modality, Modality::Audio, "{name}");
        assert_eq!(probed.mime, mime, "{name}");
        assert_eq!(probed.extension, ext, "{name}");
        assert_eq!(probed.codec.as_deref(), Some(codec), "{name}");
        assert_eq!(probed.sample_rate, Some(44_100), "{name}");
        assert_eq!(probed.channels, Some(1), "{name}");
        assert_close(probed.duration_secs, 2.0, 0.1);
        let peaks = waveform_peaks(&p, 20, &limits()).expect("peaks");
        assert_eq!(peaks.len(), 20);
        assert!(
            peaks[10] > 0.05 && peaks.iter().all(|v| (0.0..=1.0).contains(v)),
            "{name}: {peaks:?}"
        );
    }
}

#[test]
fn truncated_or_damaged_mp3_is_corrupt() {
    let d = dir();
    let p = gen(
        &d,
        "full.mp3",
        "-f lavfi -i sine=frequency=440:duration=3 -c:a libmp3lame -b:a 64k",
    );
    assert_eq!(ok(&p).mime, "audio/mpeg");
    let cut = truncated(&p, 0.6, &d, "cut.mp3");
    assert_eq!(err_code(probe(&cut, &limits())), "CorruptAudio");

    let mut bytes = std::fs::read(&p).expect("read mp3");
    let (from, to) = (bytes.len() / 3, bytes.len() * 2 / 3);
    bytes[from..to].copy_from_slice(&noise(to - from, 3));
    let damaged = write(&d, "damaged.mp3", &bytes);
    assert_eq!(err_code(probe(&damaged, &limits())), "CorruptAudio");

    // An ID3 tag followed by garbage.
    let mut tagged = b"ID3\x04\x00\x00\x00\x00\x00\x00".to_vec();
    tagged.extend(noise(4000, 5));
    let tagged = write(&d, "tagged.mp3", &tagged);
    assert_eq!(err_code(probe(&tagged, &limits())), "CorruptAudio");
}

// ---------------------------------------------------------------- video

fn video(d: &TempDir, name: &str, size: &str, extra: &str) -> PathBuf {
    gen(
        d,
        name,
        &format!("-f lavfi -i testsrc=size={size}:rate=10:duration=2 {extra}"),
    )
}

#[test]
fn mp4_with_video_and_audio() {
    let d = dir();
    let p = gen(&d, "clip.bin", "-f lavfi -i testsrc=size=320x240:rate=10:duration=2 -f lavfi -i sine=frequency=440:sample_rate=48000:duration=2 -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest -f mp4");
    let probed = ok(&p);
    assert_eq!(probed.modality, Modality::Video);
    assert_eq!(probed.mime, "video/mp4");
    assert_eq!(probed.extension, "mp4");
    assert_eq!((probed.width, probed.height), (Some(320), Some(240)));
    assert_close(probed.duration_secs, 2.0, 0.15);
    assert_eq!(probed.codec.as_deref(), Some("h264"));
    assert!(probed.has_video && probed.has_audio);
    assert_eq!(probed.sample_rate, Some(48_000));
    assert_eq!(
        err_code(waveform_peaks(&p, 10, &limits())),
        "UnsupportedType"
    );
}

#[test]
fn video_only_mp4_and_webm() {
    let d = dir();
    let mp4 = video(&d, "silent.mp4", "160x120", "-c:v mpeg4");
    let probed = ok(&mp4);
    assert_eq!(probed.modality, Modality::Video);
    assert!(probed.has_video && !probed.has_audio);
    assert_eq!(probed.sample_rate, None);
    assert_eq!((probed.width, probed.height), (Some(160), Some(120)));

    let webm = gen(&d, "clip.webm", "-f lavfi -i testsrc=size=176x144:rate=10:duration=2 -f lavfi -i sine=duration=2 -c:v libvpx -deadline realtime -cpu-used 8 -b:v 200k -c:a libvorbis -shortest");
    let probed = ok(&webm);
    assert_eq!(probed.modality, Modality::Video);
    assert_eq!(probed.mime, "video/webm");
    assert_eq!(probed.extension, "webm");
    assert_eq!((probed.width, probed.height), (Some(176), Some(144)));
    assert_eq!(probed.codec.as_deref(), Some("vp8"));
    assert!(probed.has_audio);
    assert_close(probed.duration_secs, 2.0, 0.2);

    let avi = video(&d, "clip.avi", "160x120", "-c:v mpeg4");
    let probed = ok(&avi);
    assert_eq!(
        (
            probed.modality,
            probed.mime.as_str(),
            probed.extension.as_str()
        ),
        (Modality::Video, "video/x-msvideo", "avi")
    );
    assert_eq!((probed.width, probed.height), (Some(160), Some(120)));
}

/// A WebM written to a pipe, as browsers' recorders do: no duration in its header.
fn streamed_webm(d: &TempDir, name: &str, secs: u32) -> PathBuf {
    let path = d.path().join(name);
    let file = std::fs::File::create(&path).expect("create fixture");
    let src = format!("testsrc=size=160x120:rate=10:duration={secs}");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-f", "lavfi", "-i", &src])
        .args(["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-f", "webm", "pipe:1"])
        .stdout(file)
        .status()
        .expect("ffmpeg is needed to make the media test fixtures; install it with `apt-get install ffmpeg`");
    assert!(status.success());
    path
}

#[test]
fn webm_without_a_declared_duration_is_measured() {
    let d = dir();
    let p = streamed_webm(&d, "recording.webm", 3);
    let probed = ok(&p);
    assert_eq!(probed.mime, "video/webm");
    assert_close(probed.duration_secs, 3.0, 0.2);
    let tight = MediaLimits {
        max_video_seconds: 2.0,
        ..MediaLimits::default()
    };
    assert_eq!(err_code(probe(&p, &tight)), "VideoTooLong");
}

#[test]
fn truncated_webm_is_corrupt() {
    let d = dir();
    let p = gen(&d, "full.webm", "-f lavfi -i testsrc=size=160x120:rate=10:duration=8 -c:v libvpx -deadline realtime -cpu-used 8");
    assert_close(ok(&p).duration_secs, 8.0, 0.2);
    let cut = truncated(&p, 0.5, &d, "cut.webm");
    assert_eq!(err_code(probe(&cut, &limits())), "CorruptVideo");
}

#[test]
fn truncated_mp4_is_corrupt() {
    let d = dir();
    // Index at the end (the default) and at the front (streaming layout).
    let tail = video(&d, "tail.mp4", "160x120", "-c:v mpeg4");
    let front = video(
        &d,
        "front.mp4",
        "160x120",
        "-c:v mpeg4 -movflags +faststart",
    );
    for (p, name) in [(tail, "cut-tail.mp4"), (front, "cut-front.mp4")] {
        assert_eq!(ok(&p).modality, Modality::Video);
        let cut = truncated(&p, 0.7, &d, name);
        assert_eq!(err_code(probe(&cut, &limits())), "CorruptVideo", "{name}");
    }
}

#[test]
fn video_over_the_time_limit_is_refused() {
    let d = dir();
    let p = video(&d, "clip.mp4", "160x120", "-c:v mpeg4");
    let tight = MediaLimits {
        max_video_seconds: 1.0,
        ..MediaLimits::default()
    };
    assert_eq!(err_code(probe(&p, &tight)), "VideoTooLong");
}

#[test]
fn a_stuck_tool_is_stopped_at_the_timeout() {
    let d = dir();
    let p = video(&d, "clip.mp4", "160x120", "-c:v mpeg4");
    let instant = MediaLimits {
        tool_timeout: Duration::from_millis(1),
        ..MediaLimits::default()
    };
    let started = Instant::now();
    let e = probe(&p, &instant).expect_err("cannot finish in a millisecond");
    assert!(matches!(e, MediaError::ToolTimeout { .. }), "{e}");
    assert!(!e.is_client_error());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn posters_decode_as_jpeg_with_the_video_aspect() {
    let d = dir();
    let small = video(&d, "small.mp4", "320x240", "-c:v mpeg4");
    let probed = ok(&small);
    let poster = video_poster(&small, &probed, &limits()).expect("poster");
    assert_eq!((poster.width, poster.height), (320, 240));
    let img = image::load_from_memory_with_format(&poster.bytes, ImageFormat::Jpeg)
        .expect("poster is a JPEG");
    assert_eq!((img.width(), img.height()), (320, 240));

    let wide = video(&d, "wide.mp4", "1280x720", "-c:v mpeg4 -t 1");
    let probed = ok(&wide);
    let poster = video_poster(&wide, &probed, &limits()).expect("poster");
    assert_eq!(poster.width, 1024);
    assert!(
        (i64::from(poster.height) - 576).abs() <= 1,
        "height {}",
        poster.height
    );
    let img = image::load_from_memory_with_format(&poster.bytes, ImageFormat::Jpeg)
        .expect("poster is a JPEG");
    assert_eq!((img.width(), img.height()), (poster.width, poster.height));

    let audio = sine_wav(&d, "a.wav", 8000, &[(0.5, 0.5)]);
    assert_eq!(
        err_code(video_poster(&audio, &ok(&audio), &limits())),
        "UnsupportedType"
    );
}
