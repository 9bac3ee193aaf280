//! Audio pipelines against the installed models and audio made here: synthesised tones encoded
//! by the `ffmpeg` program, and speech from the `espeak-ng` program.

use std::f32::consts::PI;
use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tessera_models::audio::whisper::mel::{mel_filters, MelFrontEnd, N_FRAMES, N_MELS};
use tessera_models::audio::{
    decode_file, resample, to_16k, transcribe_file, AudioError, AudioLimits, SileroVad, Transcript,
    Whisper,
};
use tessera_models::runtime::SessionOptions;

// ---------------------------------------------------------------- helpers

fn tmp() -> TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn run_tool(program: &str, package: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output();
    match out {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("`{program}` is needed by the audio tests; install it with `apt-get install {package}`")
        }
        Err(e) => panic!("could not run {program}: {e}"),
        Ok(o) => assert!(
            o.status.success(),
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
    }
}

fn ffmpeg(args: &[&str]) {
    let mut all = vec!["-v", "error", "-nostdin", "-y"];
    all.extend_from_slice(args);
    run_tool("ffmpeg", "ffmpeg", &all);
}

fn write_wav(path: &Path, samples: &[f32], rate: u32, channels: u16) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for &s in samples {
        w.write_sample((s.clamp(-1.0, 1.0) * 32767.0) as i16)
            .expect("write sample");
    }
    w.finalize().expect("finish wav");
}

fn sine(freq: f32, amp: f32, rate: u32, seconds: f32) -> Vec<f32> {
    let n = (rate as f32 * seconds) as usize;
    (0..n)
        .map(|i| amp * (2.0 * PI * freq * i as f32 / rate as f32).sin())
        .collect()
}

fn rms(x: &[f32]) -> f32 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt()
}

/// Speech from espeak-ng, decoded and resampled to 16 kHz by the pipeline under test.
fn speak(dir: &Path, name: &str, text: &str) -> Vec<f32> {
    let path = dir.join(format!("{name}.wav"));
    let path_s = path.to_str().expect("utf-8 path");
    run_tool(
        "espeak-ng",
        "espeak-ng",
        &["-v", "en-us", "-w", path_s, text],
    );
    let audio = decode_file(&path, &AudioLimits::default()).expect("decode espeak output");
    to_16k(&audio.samples, audio.sample_rate).expect("resample espeak output")
}

/// The first and last 10 ms frame whose energy is within 30 dB of the loudest frame, in seconds.
fn energy_bounds(pcm: &[f32]) -> (f32, f32) {
    let frames: Vec<f32> = pcm.chunks(160).map(rms).collect();
    let peak = frames.iter().copied().fold(0.0, f32::max);
    let on: Vec<usize> = frames
        .iter()
        .enumerate()
        .filter(|(_, &r)| r > peak * 0.0316)
        .map(|(i, _)| i)
        .collect();
    let first = *on.first().expect("speech has energy");
    let last = *on.last().expect("speech has energy");
    (first as f32 * 0.01, (last + 1) as f32 * 0.01)
}

fn silence(seconds: f32) -> Vec<f32> {
    vec![0.0; (16_000.0 * seconds) as usize]
}

fn vad() -> SileroVad {
    SileroVad::load(
        &crate::support::model_dir("silero-vad"),
        &SessionOptions::default(),
    )
    .expect("load silero vad")
}

/// One Whisper (one ONNX Runtime thread) shared by the tests of this file.
fn whisper() -> std::sync::MutexGuard<'static, Whisper> {
    static MODEL: OnceLock<Mutex<Whisper>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            Mutex::new(
                Whisper::load(
                    &crate::support::model_dir("whisper-tiny-en"),
                    &SessionOptions::default(),
                )
                .expect("load whisper"),
            )
        })
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn assert_ordered(t: &Transcript, duration: f32) {
    let mut prev_end = 0.0f32;
    for s in &t.segments {
        assert!(
            s.start >= prev_end - 1e-3 && s.end >= s.start && s.end <= duration + 1e-3,
            "segment {s:?} out of order (previous end {prev_end}, clip {duration} s): {:#?}",
            t.segments
        );
        prev_end = s.end;
    }
}

// ---------------------------------------------------------------- front end

#[test]
fn mel_front_end_matches_reference_values() {
    let filters = mel_filters();
    assert_eq!((filters.len(), filters[0].len()), (80, 201));
    let sum: f64 = filters.iter().flatten().sum();
    assert!((sum - 1.999024).abs() < 1e-5, "filterbank sum {sum}");
    let max = filters.iter().flatten().copied().fold(0.0, f64::max);
    assert!((max - 0.025881).abs() < 1e-6, "filterbank max {max}");
    let row0: Vec<(usize, f64)> = filters[0]
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, w)| *w > 0.0)
        .collect();
    assert_eq!(row0.len(), 1, "row 0 has one non-zero weight: {row0:?}");
    assert_eq!(row0[0].0, 1);
    assert!((row0[0].1 - 0.024863).abs() < 1e-6, "row 0 {row0:?}");

    let mel = MelFrontEnd::new().log_mel(&sine(440.0, 0.5, 16_000, 1.0));
    assert_eq!(mel.len(), N_MELS * N_FRAMES);
    let (mut max, mut min, mut peak) = (f32::MIN, f32::MAX, 0usize);
    for (i, &v) in mel.iter().enumerate() {
        if v > max {
            max = v;
            peak = i / N_FRAMES;
        }
        min = min.min(v);
    }
    assert!((max - 1.4382).abs() < 1e-3, "max {max}");
    assert!((min + 0.5618).abs() < 1e-3, "min {min}");
    assert_eq!(peak, 11, "peak mel bin");
}

// ---------------------------------------------------------------- decoding and resampling

#[test]
fn decodes_every_supported_format_to_16k() {
    let dir = tmp();
    // 2.5 s stereo: 440 Hz left, 660 Hz right, at 44.1 kHz.
    let seconds = 2.5f32;
    let left = sine(440.0, 0.4, 44_100, seconds);
    let right = sine(660.0, 0.4, 44_100, seconds);
    let interleaved: Vec<f32> = left
        .iter()
        .zip(&right)
        .flat_map(|(l, r)| [*l, *r])
        .collect();
    let source = dir.path().join("source.wav");
    write_wav(&source, &interleaved, 44_100, 2);
    let src = source.to_str().expect("utf-8 path");
    let cases: [(&str, &[&str]); 5] = [
        ("wav", &["-c:a", "pcm_s16le", "-ar", "48000"]),
        ("flac", &["-c:a", "flac"]),
        ("mp3", &["-c:a", "libmp3lame", "-b:a", "128k"]),
        ("ogg", &["-c:a", "libvorbis", "-q:a", "4"]),
        ("m4a", &["-c:a", "aac", "-b:a", "128k"]),
    ];
    for (ext, codec) in cases {
        let out = dir.path().join(format!("clip.{ext}"));
        let out_s = out.to_str().expect("utf-8 path");
        let mut args = vec!["-i", src];
        args.extend_from_slice(codec);
        args.push(out_s);
        ffmpeg(&args);
        let audio =
            decode_file(&out, &AudioLimits::default()).unwrap_or_else(|e| panic!("{ext}: {e:?}"));
        let pcm = to_16k(&audio.samples, audio.sample_rate).expect("resample");
        let duration = pcm.len() as f32 / 16_000.0;
        assert!(
            (duration - seconds).abs() <= 0.05,
            "{ext}: {duration} s at 16 kHz (from {} Hz), expected {seconds} s",
            audio.sample_rate
        );
        // The mix of two 0.4 sines has an RMS of 0.2; lossy codecs keep it closely.
        let level = rms(&pcm[1600..pcm.len() - 1600]);
        assert!((level - 0.2).abs() < 0.02, "{ext}: RMS {level}");
    }
}

#[test]
fn resampling_is_band_limited() {
    // A 3 kHz tone passes unchanged, a 10 kHz tone (above the new 8 kHz Nyquist) is removed
    // instead of folding back to 6 kHz as interpolation would.
    let kept = to_16k(&sine(3_000.0, 0.5, 44_100, 1.0), 44_100).expect("resample");
    assert_eq!(kept.len(), 16_000);
    let level = rms(&kept[800..15_200]);
    assert!(
        (level - 0.5 / 2f32.sqrt()).abs() < 0.01,
        "3 kHz RMS {level}"
    );
    let reference = sine(3_000.0, 0.5, 16_000, 1.0);
    let phase_err = rms(&kept[800..15_200]
        .iter()
        .zip(&reference[800..15_200])
        .map(|(a, b)| a - b)
        .collect::<Vec<_>>());
    assert!(
        phase_err < 0.02,
        "3 kHz tone is shifted or distorted: {phase_err}"
    );
    let removed = to_16k(&sine(10_000.0, 0.5, 44_100, 1.0), 44_100).expect("resample");
    let alias = rms(&removed[800..15_200]);
    assert!(alias < 0.005, "10 kHz aliases at RMS {alias}");
    // Up-sampling and odd rates work too.
    let up = resample(&sine(440.0, 0.5, 8_000, 0.5), 8_000, 16_000).expect("up");
    assert_eq!(up.len(), 8_000);
    let odd = resample(&sine(440.0, 0.5, 22_050, 0.5), 22_050, 16_000).expect("odd");
    assert_eq!(odd.len(), 8_000);
    assert!(resample(&[0.1; 10], 0, 16_000).is_err());
}

#[test]
fn empty_and_silent_audio_are_valid() {
    let dir = tmp();
    let empty = dir.path().join("empty.wav");
    write_wav(&empty, &[], 16_000, 1);
    let audio = decode_file(&empty, &AudioLimits::default()).expect("empty wav decodes");
    assert!(audio.samples.is_empty());
    assert_eq!(audio.sample_rate, 16_000);
    assert!(to_16k(&audio.samples, 16_000).expect("resample").is_empty());

    let quiet = dir.path().join("silent.wav");
    write_wav(&quiet, &vec![0.0; 16_000 * 3], 16_000, 1);
    let audio = decode_file(&quiet, &AudioLimits::default()).expect("silent wav decodes");
    assert_eq!(audio.samples.len(), 48_000);
    assert!(audio.samples.iter().all(|&s| s == 0.0));

    let mut vad = vad();
    assert!(vad.segments(&[]).expect("vad on nothing").is_empty());
    assert!(vad
        .segments(&audio.samples)
        .expect("vad on silence")
        .is_empty());
    // Faint noise is not speech either.
    let noise: Vec<f32> = (0..48_000u32)
        .map(|i| ((i.wrapping_mul(2_654_435_761) >> 16) as f32 / 65_536.0 - 0.5) * 0.002)
        .collect();
    assert!(vad.segments(&noise).expect("vad on noise").is_empty());

    let transcript = transcribe_file(&quiet, &mut vad, &mut whisper(), &AudioLimits::default())
        .expect("silent file transcribes");
    assert!(transcript.segments.is_empty() && transcript.text.is_empty());
    let transcript = whisper().transcribe(&[]).expect("no audio transcribes");
    assert_eq!(transcript, Transcript::default());
    // Samples that are not numbers are treated as silence, not as a crash.
    let broken = vec![f32::NAN; 16_000];
    assert!(vad.segments(&broken).expect("vad on NaN").is_empty());
    let transcript = whisper().transcribe(&broken).expect("NaN transcribes");
    assert!(transcript.text.is_empty(), "{transcript:?}");
}

#[test]
fn corrupt_and_unknown_files_give_clear_errors() {
    let dir = tmp();
    let junk: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(7919) >> 3) as u8)
        .collect();
    for name in ["junk.mp3", "junk.bin", "junk.ogg"] {
        let path = dir.path().join(name);
        std::fs::write(&path, &junk).expect("write");
        let err = decode_file(&path, &AudioLimits::default()).expect_err("junk is refused");
        assert!(
            matches!(
                err,
                AudioError::Corrupt { .. } | AudioError::Unsupported { .. }
            ),
            "{name}: {err:?}"
        );
    }
    // A real FLAC cut in the middle of its first frames, and a WAV header with garbage data.
    let good = dir.path().join("tone.flac");
    let wav = dir.path().join("tone.wav");
    write_wav(&wav, &sine(440.0, 0.5, 16_000, 1.0), 16_000, 1);
    ffmpeg(&[
        "-i",
        wav.to_str().expect("path"),
        good.to_str().expect("path"),
    ]);
    let bytes = std::fs::read(&good).expect("read flac");
    let mut damaged = bytes[..bytes.len() / 3].to_vec();
    damaged.extend(junk.iter().take(4_000));
    let path = dir.path().join("damaged.flac");
    std::fs::write(&path, &damaged).expect("write");
    match decode_file(&path, &AudioLimits::default()) {
        // What decoded before the damage is kept, and nothing more than the file held.
        Ok(audio) => assert!(
            audio.samples.len() <= 16_000,
            "{} samples",
            audio.samples.len()
        ),
        Err(e) => assert!(matches!(e, AudioError::Corrupt { .. }), "{e}"),
    }
    let err = decode_file(&dir.path().join("missing.wav"), &AudioLimits::default())
        .expect_err("missing file");
    assert!(matches!(err, AudioError::Unreadable { .. }), "{err}");
}

#[test]
fn over_long_audio_is_refused_early() {
    let dir = tmp();
    // A 3-hour 8 kHz 8-bit WAV (86 MB, sparse on disk): its header states the length.
    let samples: u32 = 8_000 * 3 * 3600;
    let mut header = Vec::new();
    header.extend_from_slice(b"RIFF");
    header.extend_from_slice(&(36 + samples).to_le_bytes());
    header.extend_from_slice(b"WAVEfmt ");
    header.extend_from_slice(&16u32.to_le_bytes());
    header.extend_from_slice(&1u16.to_le_bytes()); // PCM
    header.extend_from_slice(&1u16.to_le_bytes()); // mono
    header.extend_from_slice(&8_000u32.to_le_bytes());
    header.extend_from_slice(&8_000u32.to_le_bytes());
    header.extend_from_slice(&1u16.to_le_bytes());
    header.extend_from_slice(&8u16.to_le_bytes());
    header.extend_from_slice(b"data");
    header.extend_from_slice(&samples.to_le_bytes());
    let path = dir.path().join("three-hours.wav");
    std::fs::write(&path, &header).expect("write header");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    file.set_len(header.len() as u64 + u64::from(samples))
        .expect("extend");
    let started = Instant::now();
    let err = decode_file(&path, &AudioLimits::default()).expect_err("3 h is over the limit");
    assert!(matches!(err, AudioError::TooLong { .. }), "{err}");
    assert!(
        err.to_string().contains("10800"),
        "message states the length: {err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused before decoding"
    );

    // An MP3 without a length header: the limit stops decoding part-way.
    let wav = dir.path().join("five.wav");
    write_wav(&wav, &sine(440.0, 0.3, 16_000, 5.0), 16_000, 1);
    let mp3 = dir.path().join("five.mp3");
    ffmpeg(&[
        "-i",
        wav.to_str().expect("path"),
        "-write_xing",
        "0",
        "-id3v2_version",
        "0",
        mp3.to_str().expect("path"),
    ]);
    let limits = AudioLimits {
        max_duration: Duration::from_secs(2),
    };
    let err = decode_file(&mp3, &limits).expect_err("5 s is over a 2 s limit");
    assert!(matches!(err, AudioError::TooLong { .. }), "{err}");
    assert!(decode_file(&mp3, &AudioLimits::default()).is_ok());
}

// ---------------------------------------------------------------- voice activity

#[test]
fn vad_finds_the_speech_bounds() {
    let dir = tmp();
    let speech = speak(
        dir.path(),
        "speech",
        "Good morning, the meeting will start in a few minutes.",
    );
    let (on, off) = energy_bounds(&speech);
    let before = 1.0;
    let mut pcm = silence(before);
    pcm.extend_from_slice(&speech);
    pcm.extend(silence(1.5));
    let spans = vad().segments(&pcm).expect("vad");
    assert!(!spans.is_empty(), "speech was found");
    let (first, last) = (spans[0], spans[spans.len() - 1]);
    let (true_start, true_end) = (before + on, before + off);
    eprintln!("speech {true_start:.3}–{true_end:.3} s, VAD spans {spans:?}");
    assert!(
        (first.start - true_start).abs() <= 0.15,
        "speech starts at {true_start:.3} s, VAD says {:.3} s ({spans:?})",
        first.start
    );
    assert!(
        (last.end - true_end).abs() <= 0.15,
        "speech ends at {true_end:.3} s, VAD says {:.3} s ({spans:?})",
        last.end
    );
    for pair in spans.windows(2) {
        assert!(pair[0].end <= pair[1].start, "spans overlap: {spans:?}");
    }
}

// ---------------------------------------------------------------- speech recognition

#[test]
fn transcribes_a_sentence() {
    let dir = tmp();
    let sentence = "The weather is nice today so we will walk to the park";
    let path = dir.path().join("sentence.wav");
    run_tool(
        "espeak-ng",
        "espeak-ng",
        &["-v", "en-us", "-w", path.to_str().expect("path"), sentence],
    );
    let duration = {
        let a = decode_file(&path, &AudioLimits::default()).expect("decode");
        a.samples.len() as f32 / a.sample_rate as f32
    };
    let transcript = transcribe_file(&path, &mut vad(), &mut whisper(), &AudioLimits::default())
        .expect("transcribe");
    let error = crate::support::wer(sentence, &transcript.text);
    eprintln!("sentence WER {error:.3}: {:?}", transcript.text);
    assert!(error <= 0.25, "WER {error} for {:?}", transcript.text);
    assert!(!transcript.segments.is_empty());
    assert_ordered(&transcript, duration);
}

#[test]
fn long_audio_is_transcribed_across_windows() {
    let dir = tmp();
    let sentences = [
        "Welcome to the weekly planning meeting for the project.",
        "First we will look at the work that was finished last week.",
        "The new search page is ready and the tests are passing.",
        "Next we need to decide who will write the user guide.",
        "Please send me your notes before the end of the day.",
        "The design team will share the new pictures on Monday.",
        "We should also talk about the budget for next year.",
        "Thank you all for coming, see you next week.",
    ];
    let clips: Vec<Vec<f32>> = sentences
        .iter()
        .enumerate()
        .map(|(i, s)| speak(dir.path(), &format!("s{i}"), s))
        .collect();
    // Pauses of alternating length spread the speech over 0.5–69 s.
    let speech: f32 = clips.iter().map(|c| c.len() as f32 / 16_000.0).sum();
    let pause = (68.5 - speech) / (clips.len() - 1) as f32;
    assert!(
        pause > 1.0,
        "{speech} s of speech leaves no room for pauses"
    );
    let mut pcm = silence(0.5);
    let mut starts = Vec::new();
    for (i, clip) in clips.iter().enumerate() {
        starts.push(pcm.len() as f32 / 16_000.0);
        pcm.extend_from_slice(clip);
        if i + 1 < clips.len() {
            pcm.extend(silence(pause * if i % 2 == 0 { 0.6 } else { 1.4 }));
        }
    }
    assert!(pcm.len() <= 70 * 16_000, "clip is {} s", pcm.len() / 16_000);
    pcm.resize(70 * 16_000, 0.0);
    let duration = 70.0;

    let started = Instant::now();
    let transcript = whisper().transcribe(&pcm).expect("transcribe");
    eprintln!(
        "70 s in {:.2} s, {} segments: {:#?}",
        started.elapsed().as_secs_f32(),
        transcript.segments.len(),
        transcript.segments
    );
    assert_ordered(&transcript, duration);
    let last = transcript.segments.last().expect("segments");
    assert!(
        last.start > starts[7] - 2.0 && last.start > 55.0,
        "the last window was read: {last:?}, last sentence at {} s",
        starts[7]
    );
    let reference = sentences.join(" ");
    let error = crate::support::wer(&reference, &transcript.text);
    eprintln!("70 s WER {error:.3}");
    assert!(error <= 0.35, "WER {error}: {:?}", transcript.text);
    // Each sentence's words land near where it was spoken.
    let found = transcript
        .segments
        .iter()
        .find(|s| crate::support::words(&s.text).contains(&"budget".to_string()))
        .expect("the budget sentence is transcribed");
    assert!(
        (found.start - starts[6]).abs() < 3.0,
        "{found:?} vs {}",
        starts[6]
    );

    // The same clip as a file through VAD: the same words, times on the file's clock.
    let path = dir.path().join("long.wav");
    write_wav(&path, &pcm, 16_000, 1);
    let via_vad = transcribe_file(&path, &mut vad(), &mut whisper(), &AudioLimits::default())
        .expect("transcribe file");
    assert_ordered(&via_vad, duration);
    let error = crate::support::wer(&reference, &via_vad.text);
    eprintln!("70 s with VAD WER {error:.3}");
    assert!(error <= 0.35, "WER {error}: {:?}", via_vad.text);
    let found = via_vad
        .segments
        .iter()
        .find(|s| crate::support::words(&s.text).contains(&"budget".to_string()))
        .expect("the budget sentence is transcribed");
    assert!(
        (found.start - starts[6]).abs() < 3.0,
        "{found:?} vs {}",
        starts[6]
    );
}

#[test]
fn real_time_factor_of_ten_seconds() {
    let dir = tmp();
    let mut pcm = speak(
        dir.path(),
        "rtf",
        "This is a short recording made to measure how fast the speech recognition runs on this \
         computer, with one thread and with two threads.",
    );
    pcm.resize(10 * 16_000, 0.0);
    let model_dir = crate::support::model_dir("whisper-tiny-en");
    let mut text = Vec::new();
    for threads in [1usize, 2] {
        let mut model = Whisper::load(&model_dir, &SessionOptions::threads(threads)).expect("load");
        model.transcribe(&pcm).expect("warm-up");
        let started = Instant::now();
        let t = model.transcribe(&pcm).expect("transcribe");
        let rtf = started.elapsed().as_secs_f32() / 10.0;
        eprintln!("real-time factor with {threads} thread(s): {rtf:.3}");
        assert!(rtf < 1.0, "slower than real time: {rtf}");
        text.push(t.text);
    }
    assert_eq!(text[0], text[1], "thread count changes the transcript");
    assert!(!text[0].is_empty());
}
