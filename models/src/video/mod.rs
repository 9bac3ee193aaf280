//! Video: keyframes and the audio track through ffmpeg (a subprocess), fed to the image and audio
//! pipelines.
