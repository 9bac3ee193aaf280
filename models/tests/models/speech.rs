//! Speech synthesis on the real Piper voice, with phonemes from the real espeak-ng program.

use std::io::Cursor;
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;
use tessera_models::runtime::{Model, SessionOptions};
use tessera_models::speech::{
    encode, AudioFormat, Phonemizer, PiperVoice, Speech, SpeechError, SynthOptions, SynthRequest,
    MAX_TEXT_CHARS,
};

const VOICE: &str = "piper-en-us-joe-medium";
const TWO_SENTENCES: &str =
    "The quick brown fox jumps over the lazy dog. It was a sunny morning in the park.";

fn require_program(name: &str) {
    let found = Command::new(name).arg("--version").output().is_ok();
    assert!(found, "`{name}` is not installed: apt-get install {name}");
}

/// One voice for the whole file: loading it is the slow part.
fn voice() -> MutexGuard<'static, PiperVoice> {
    static VOICE_CELL: OnceLock<Mutex<PiperVoice>> = OnceLock::new();
    VOICE_CELL
        .get_or_init(|| {
            require_program("espeak-ng");
            let v = PiperVoice::load(
                &crate::support::model_dir(VOICE),
                &SessionOptions::default(),
            )
            .expect("the Piper voice loads");
            Mutex::new(v)
        })
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Audio of the two-sentence text, made once and shared by the tests that only look at it.
fn two_sentences() -> &'static Speech {
    static SPEECH: OnceLock<Speech> = OnceLock::new();
    SPEECH.get_or_init(|| {
        voice()
            .synthesize(TWO_SENTENCES, &SynthOptions::default())
            .expect("synthesis")
    })
}

/// Lengths in seconds of the runs of 10 ms frames whose RMS is under `threshold`, with each
/// run's start, ignoring runs that touch either end of the audio.
fn interior_silences(speech: &Speech, threshold: f32) -> Vec<(f64, f64)> {
    let frame = (speech.sample_rate / 100) as usize;
    let rms: Vec<f32> = speech
        .samples
        .chunks(frame)
        .map(|c| (c.iter().map(|s| s * s).sum::<f32>() / c.len() as f32).sqrt())
        .collect();
    let mut runs = Vec::new();
    let mut start = None;
    for (i, &r) in rms.iter().enumerate() {
        match (r < threshold, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if s > 0 {
                    runs.push((s as f64 / 100.0, (i - s) as f64 / 100.0));
                }
                start = None;
            }
            _ => {}
        }
    }
    runs
}

#[test]
fn hello_world_phoneme_ids_follow_piper_layout() {
    let v = voice();
    let p = Phonemizer::new(&v.config().espeak_voice).expect("voice name");
    let sentences = p.phonemize("hello world").expect("espeak-ng runs");
    assert_eq!(sentences.len(), 1);
    assert_eq!(sentences[0].phonemes, "həlˈoʊ wˈɜːld");
    let ids = v.config().phoneme_ids(&sentences[0].phonemes);
    assert_eq!(&ids[..10], &[1, 0, 20, 0, 59, 0, 24, 0, 120, 0]);
    assert_eq!(ids.len(), 2 * sentences[0].phonemes.chars().count() + 3);
    assert_eq!(ids[ids.len() - 1], 2);
    assert!(
        ids[1..ids.len() - 1].iter().step_by(2).all(|&id| id == 0),
        "a pad after BOS and after each phoneme: {ids:?}"
    );

    // The reference sentence: the comma comes back with a space, the period alone, and espeak's
    // "ʌvðə" (one word) gives 99 ids.
    let sentences = p
        .phonemize("Hello world, this is a test of the rust server.")
        .expect("espeak-ng runs");
    assert_eq!(sentences.len(), 1);
    assert_eq!(
        sentences[0].phonemes,
        "həlˈoʊ wˈɜːld, ðɪs ɪz ɐ tˈɛst ʌvðə ɹˈʌst sˈɜːvɚ."
    );
    let ids = v.config().phoneme_ids(&sentences[0].phonemes);
    assert_eq!(ids.len(), 99);
    assert_eq!(&ids[..12], &[1, 0, 20, 0, 59, 0, 24, 0, 120, 0, 27, 0]);
    assert_eq!(&ids[ids.len() - 5..], &[60, 0, 10, 0, 2]);
}

#[test]
fn sentences_and_clauses_keep_their_punctuation() {
    let p = Phonemizer::new("en-us").expect("voice name");
    let s = p
        .phonemize("Is it raining? Yes; take a coat: the blue one!\n\nThanks")
        .expect("espeak-ng runs");
    let ends: Vec<char> = s
        .iter()
        .map(|s| s.phonemes.trim_end().chars().last().unwrap_or(' '))
        .collect();
    assert_eq!(s.len(), 3, "{s:?}");
    assert_eq!(&ends[..2], &['?', '!'], "{s:?}");
    assert!(s[1].phonemes.contains("; ") && s[1].phonemes.contains(": "));
    assert!(s[2]
        .phonemes
        .chars()
        .all(|c| c.is_alphabetic() || "ˈˌː ".contains(c)));
    for sentence in &s {
        assert!(!sentence.phonemes.contains(['_', '\u{361}', '\u{200D}']));
    }
}

#[test]
fn two_sentences_have_a_plausible_length_level_and_gap() {
    let speech = two_sentences();
    assert_eq!(speech.sample_rate, 22_050);
    let secs = speech.duration_secs();
    let per_char = secs / TWO_SENTENCES.chars().count() as f64;
    println!(
        "two sentences: {secs:.2} s, {per_char:.3} s per character, peak {:.3}",
        speech.peak()
    );
    assert!(
        (0.05..=0.12).contains(&per_char),
        "{per_char} s per character"
    );
    let peak = speech.peak();
    assert!(peak > 0.05 && peak <= 1.0, "peak {peak}");

    let runs = interior_silences(speech, 0.01);
    println!("near-silent runs (start s, length s): {runs:?}");
    let longest = runs.iter().map(|r| r.1).fold(0.0, f64::max);
    assert!(
        (0.18..0.8).contains(&longest),
        "longest pause {longest} s, expected about 0.2 s between the sentences"
    );
    // The pause sits between the sentences, not at the ends.
    let (start, _) = runs
        .iter()
        .copied()
        .find(|r| r.1 == longest)
        .unwrap_or_default();
    assert!(
        start > 0.25 * secs && start < 0.75 * secs,
        "pause at {start} s of {secs}"
    );
}

#[test]
fn double_speed_is_clearly_shorter() {
    let text = "Speaking quickly saves a little time for everybody.";
    let mut v = voice();
    let normal = v.synthesize(text, &SynthOptions::default()).expect("1.0");
    let fast = v
        .synthesize(
            text,
            &SynthOptions {
                speed: 2.0,
                ..SynthOptions::default()
            },
        )
        .expect("2.0");
    let ratio = fast.duration_secs() / normal.duration_secs();
    println!(
        "speed 1.0: {:.2} s, 2.0: {:.2} s (ratio {ratio:.2})",
        normal.duration_secs(),
        fast.duration_secs()
    );
    assert!(ratio < 0.7, "speed 2.0 gives {ratio} of the length");
    // The voice samples noise: the same text twice is never the same audio.
    let again = v.synthesize(text, &SynthOptions::default()).expect("again");
    assert_ne!(again.samples, normal.samples);
    assert!(ratio > 0.3, "speed 2.0 gives {ratio} of the length");
}

/// Decodes a file with symphonia, returning its sample rate and number of frames.
fn symphonia_frames(bytes: Vec<u8>, extension: &str) -> (u32, u64) {
    let mss = MediaSourceStream::new(Box::new(Cursor::new(bytes)), Default::default());
    let mut hint = Hint::new();
    hint.with_extension(extension);
    let format_opts = FormatOptions {
        enable_gapless: true,
        ..Default::default()
    };
    let probed = symphonia::default::get_probe()
        .format(&hint, mss, &format_opts, &MetadataOptions::default())
        .expect("symphonia recognises the format");
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .expect("an audio track")
        .clone();
    let rate = track.codec_params.sample_rate.expect("a sample rate");
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .expect("a decoder");
    let mut frames = 0u64;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break
            }
            Err(e) => panic!("reading packets: {e}"),
        };
        if packet.track_id() != track.id {
            continue;
        }
        let decoded = decoder.decode(&packet).expect("the packet decodes");
        frames += decoded.frames() as u64;
    }
    (rate, frames)
}

fn ffprobe_duration(bytes: &[u8], codec: &str) -> f64 {
    require_program("ffprobe");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("speech.opus");
    std::fs::write(&path, bytes).expect("write");
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_name",
        ])
        .args(["-of", "json"])
        .arg(&path)
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["streams"][0]["codec_name"], codec);
    json["format"]["duration"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("a duration")
}

#[test]
fn wav_opus_and_mp3_decode_to_the_right_duration() {
    require_program("ffmpeg");
    let speech = two_sentences();
    let secs = speech.duration_secs();

    let wav = encode(speech, AudioFormat::Wav).expect("wav");
    assert_eq!(&wav[..4], b"RIFF");
    let (rate, frames) = symphonia_frames(wav, "wav");
    assert_eq!(rate, 22_050);
    assert_eq!(frames, speech.samples.len() as u64);

    let started = Instant::now();
    let mp3 = encode(speech, AudioFormat::Mp3).expect("mp3");
    let mp3_ms = started.elapsed().as_millis();
    let mp3_len = mp3.len();
    let (rate, frames) = symphonia_frames(mp3, "mp3");
    let mp3_secs = frames as f64 / f64::from(rate);
    assert_eq!(rate, 22_050);
    // The encoder's delay and padding are recorded in the LAME header and trimmed on decoding.
    assert!(
        (mp3_secs - secs).abs() <= 0.03,
        "mp3 decodes to {mp3_secs} s, speech is {secs} s"
    );

    let started = Instant::now();
    let opus = encode(speech, AudioFormat::Opus).expect("opus");
    let opus_ms = started.elapsed().as_millis();
    assert_eq!(&opus[..4], b"OggS");
    let opus_secs = ffprobe_duration(&opus, "opus");
    assert!(
        (opus_secs - secs).abs() <= 0.1,
        "opus lasts {opus_secs} s, speech is {secs} s"
    );
    println!(
        "{secs:.2} s of speech: mp3 {mp3_len} bytes in {mp3_ms} ms ({mp3_secs:.3} s), \
         opus {} bytes in {opus_ms} ms ({opus_secs:.3} s)",
        opus.len()
    );
    assert_eq!(AudioFormat::Opus.mime_type(), "audio/ogg");
    assert_eq!(AudioFormat::Mp3.extension(), "mp3");
}

#[test]
fn empty_speech_still_encodes() {
    let empty = Speech {
        samples: Vec::new(),
        sample_rate: 22_050,
    };
    for format in AudioFormat::ALL {
        let bytes = encode(&empty, format).unwrap_or_else(|e| panic!("{format:?}: {e}"));
        if format == AudioFormat::Wav {
            assert_eq!(bytes.len(), 44, "a WAV header and no data");
        }
    }
}

#[test]
fn awkward_text_gives_a_clear_error_or_valid_audio() {
    let mut v = voice();
    let opts = SynthOptions::default();

    for blank in ["", "   \n\t "] {
        let s = v.synthesize(blank, &opts).expect("blank text is fine");
        assert!(s.samples.is_empty(), "{blank:?} gave audio");
    }

    // Javanese script, box drawing and a private-use character: espeak-ng has nothing to say.
    let e = v
        .synthesize("ꦗꦮ ┼┼│ \u{E000}", &opts)
        .expect_err("no phonemes");
    assert!(matches!(e, SpeechError::NothingToSay), "{e}");
    assert!(e.is_client_error());
    // Emoji are read by name.
    let s = v.synthesize("🙂", &opts).expect("emoji");
    assert!(s.duration_secs() > 0.3, "{} s", s.duration_secs());

    // Text that looks like options is spoken, never obeyed.
    let hostile = "--help -v xx --stdin --ipa=3 -w /tmp/owned.wav";
    let sentences = v.phonemizer().phonemize(hostile).expect("phonemes");
    let all: String = sentences.iter().map(|s| s.phonemes.as_str()).collect();
    assert!(all.contains("hˈɛlp"), "{all}");
    assert!(!all.contains('_'), "{all}");
    let s = v
        .synthesize(hostile, &opts)
        .expect("hostile text is just text");
    assert!(s.duration_secs() > 1.0);
    assert!(!std::path::Path::new("/tmp/owned.wav").exists());

    // Control characters and NULs.
    let s = v
        .synthesize("nul\0here\u{7}\u{1b}[31m red", &opts)
        .expect("controls are spaces");
    assert!(s.duration_secs() > 0.5);

    // Over the limit: refused at once, before any program runs.
    let long = "word ".repeat(MAX_TEXT_CHARS / 5 + 1);
    let started = Instant::now();
    let e = v.synthesize(&long, &opts).expect_err("too long");
    assert!(matches!(e, SpeechError::TextTooLong { .. }), "{e}");
    assert!(started.elapsed().as_millis() < 500);
    // Exactly at the limit is accepted.
    let at_limit = "la ".repeat(MAX_TEXT_CHARS / 3);
    let sentences = v.phonemizer().phonemize(&at_limit).expect("at the limit");
    assert_eq!(sentences.len(), 1);
    // A long sentence with no punctuation at all is cut into pieces, never a crash.
    let run_on = "la ".repeat(300);
    let started = Instant::now();
    let s = v.synthesize(&run_on, &opts).expect("long run-on text");
    println!(
        "{} chars without punctuation: {:.1} s of audio in {:.1} s",
        run_on.len(),
        s.duration_secs(),
        started.elapsed().as_secs_f64()
    );
    assert!(s.duration_secs() > 20.0, "{} s", s.duration_secs());
    assert!(s.peak() <= 1.0);
}

#[test]
fn the_registry_interface_separates_refusals_from_failures() {
    let mut v = voice();
    let out = v.run_batch(vec![
        SynthRequest {
            text: "Ready.".into(),
            options: SynthOptions::default(),
        },
        SynthRequest {
            text: "x".repeat(MAX_TEXT_CHARS + 1),
            options: SynthOptions::default(),
        },
    ]);
    assert_eq!(out.len(), 2);
    match &out[0] {
        Ok(Ok(speech)) => assert!(speech.duration_secs() > 0.2),
        other => panic!("first request: {other:?}"),
    }
    match &out[1] {
        Ok(Err(e)) => assert!(matches!(e, SpeechError::TextTooLong { .. }), "{e}"),
        other => panic!("second request: {other:?}"),
    }
}

#[test]
fn real_time_factor_of_a_paragraph() {
    require_program("espeak-ng");
    let paragraph = "Tessera keeps your notes, pictures and recordings in one place. \
        It can read a document aloud, describe a photo, or find a meeting. \
        Everything runs on your own machine.";
    let dir = crate::support::model_dir(VOICE);
    let mut report = Vec::new();
    for threads in [1, 2] {
        let mut v = PiperVoice::load(&dir, &SessionOptions::threads(threads)).expect("load");
        v.synthesize("Warm up.", &SynthOptions::default())
            .expect("warm-up");
        let mut best = f64::MAX;
        let mut secs = 0.0;
        for _ in 0..2 {
            let started = Instant::now();
            let s = v
                .synthesize(paragraph, &SynthOptions::default())
                .expect("paragraph");
            let took = started.elapsed().as_secs_f64();
            secs = s.duration_secs();
            best = best.min(took / secs);
        }
        let started = Instant::now();
        let phonemes = v.phonemizer().phonemize(paragraph).expect("phonemes");
        println!(
            "{threads} intra-op thread(s): {secs:.3} s of audio, real-time factor {best:.3} \
             (espeak-ng: {} sentences in {} ms)",
            phonemes.len(),
            started.elapsed().as_millis()
        );
        report.push(best);
        assert!(secs > 7.0 && secs < 20.0, "{secs} s for the paragraph");
    }
    // The goal is 0.2; the bound leaves room for a busy machine.
    assert!(report.iter().all(|&rtf| rtf < 1.0), "{report:?}");
}
