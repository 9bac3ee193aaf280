//! Speech synthesis: text to phonemes (espeak-ng, a subprocess) to speech (Piper).
