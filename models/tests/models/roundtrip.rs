//! Text to speech to text: Piper speaks a few sentences, Silero and Whisper write them down
//! again, and the words come back.

use tessera_models::audio::{to_16k, transcribe_pcm, SileroVad, Whisper};
use tessera_models::runtime::SessionOptions;
use tessera_models::speech::{PiperVoice, SynthOptions};

const SENTENCES: &str = "The weather is warm and sunny today. \
    We walked to the market to buy fresh bread and apples. \
    In the evening we read a good book by the window. \
    My brother plays the piano every Sunday afternoon. \
    The train to the city leaves at half past eight. \
    Please remember to close the door when you leave the house.";

#[test]
fn speech_synthesised_by_piper_is_transcribed_with_few_word_errors() {
    let options = SessionOptions::default();
    let mut voice = PiperVoice::load(
        &crate::support::model_dir("piper-en-us-joe-medium"),
        &options,
    )
    .expect("the voice loads");
    let speech = voice
        .synthesize(SENTENCES, &SynthOptions::default())
        .expect("synthesis");
    assert!(speech.duration_secs() > 4.0, "{} s", speech.duration_secs());
    let pcm = to_16k(&speech.samples, speech.sample_rate).expect("resample");
    let mut vad = SileroVad::load(&crate::support::model_dir("silero-vad"), &options).expect("vad");
    let mut whisper =
        Whisper::load(&crate::support::model_dir("whisper-tiny-en"), &options).expect("whisper");
    let transcript = transcribe_pcm(&pcm, &mut vad, &mut whisper).expect("transcription");
    let error = crate::support::wer(SENTENCES, &transcript.text);
    println!("round trip: {:?} (WER {error:.3})", transcript.text);
    assert!(error <= 0.10, "WER {error} for {:?}", transcript.text);
    let end = pcm.len() as f32 / 16_000.0;
    for s in &transcript.segments {
        assert!(
            s.start >= 0.0 && s.start <= s.end && s.end <= end + 0.5,
            "{s:?}"
        );
    }
}
