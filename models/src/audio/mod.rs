//! Audio pipelines: decoding, resampling to 16 kHz, voice activity, speech recognition.
