//! Limits and periods of the content library, from configuration (`[content]`).

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentSettings {
    /// Largest file per modality, in bytes.
    pub max_text_bytes: u64,
    pub max_image_bytes: u64,
    pub max_audio_bytes: u64,
    pub max_video_bytes: u64,
    /// Largest image, in pixels (width × height) and per side.
    pub max_image_pixels: u64,
    pub max_image_dimension: u32,
    /// Largest decoded image, in bytes (stops decompression bombs).
    pub max_decoded_image_bytes: u64,
    pub max_audio_seconds: f64,
    pub max_video_seconds: f64,
    /// Time limit for one ffprobe or ffmpeg run.
    pub tool_timeout_secs: u64,
    /// How long a deleted item can be restored before it is purged.
    pub restore_days: u32,
    /// How long a resumable upload may take from start to its last chunk.
    pub upload_session_hours: u32,
    /// Largest chunk of a resumable upload.
    pub max_chunk_bytes: u64,
    /// Most resumable uploads one user may have open at once (each holds its length of the
    /// user's storage until it completes, is cancelled or expires).
    pub max_open_uploads: usize,
    /// Unreferenced blobs younger than this are left alone by the garbage collector.
    pub gc_grace_secs: u64,
    /// How often the garbage collector and the purge sweeper run; 0 turns them off.
    pub sweep_interval_secs: u64,
    /// Thumbnail sizes (longest side, in pixels).
    pub thumbnail_sizes: Vec<u32>,
    /// Number of buckets in an audio waveform.
    pub waveform_buckets: usize,
}

impl ContentSettings {
    /// The largest file of any modality: the point where an upload is cut off before its type
    /// is known.
    pub fn max_any_bytes(&self) -> u64 {
        self.max_text_bytes
            .max(self.max_image_bytes)
            .max(self.max_audio_bytes)
            .max(self.max_video_bytes)
    }

    pub fn max_bytes(&self, modality: tessera_events::content::Modality) -> u64 {
        use tessera_events::content::Modality as M;
        match modality {
            M::Text => self.max_text_bytes,
            M::Image => self.max_image_bytes,
            M::Audio => self.max_audio_bytes,
            M::Video => self.max_video_bytes,
        }
    }

    /// The probe's limits.
    pub fn media_limits(&self) -> tessera_models::media::MediaLimits {
        tessera_models::media::MediaLimits {
            max_pixels: self.max_image_pixels,
            max_dimension: self.max_image_dimension,
            max_decoded_bytes: self.max_decoded_image_bytes,
            max_audio_seconds: self.max_audio_seconds,
            max_video_seconds: self.max_video_seconds,
            max_text_bytes: self.max_text_bytes,
            tool_timeout: std::time::Duration::from_secs(self.tool_timeout_secs),
        }
    }
}

/// `(key, value)` defaults for the `[content]` section.
pub fn defaults(
    b: config::ConfigBuilder<config::builder::DefaultState>,
) -> Result<config::ConfigBuilder<config::builder::DefaultState>, config::ConfigError> {
    const MIB: u64 = 1024 * 1024;
    b.set_default("content.max_text_bytes", 16 * MIB)?
        .set_default("content.max_image_bytes", 100 * MIB)?
        .set_default("content.max_audio_bytes", 2048 * MIB)?
        .set_default("content.max_video_bytes", 8192 * MIB)?
        .set_default("content.max_image_pixels", 100_000_000u64)?
        .set_default("content.max_image_dimension", 30_000)?
        .set_default("content.max_decoded_image_bytes", 512 * MIB)?
        .set_default("content.max_audio_seconds", 4.0 * 3600.0)?
        .set_default("content.max_video_seconds", 4.0 * 3600.0)?
        .set_default("content.tool_timeout_secs", 60)?
        .set_default("content.restore_days", 30)?
        .set_default("content.upload_session_hours", 24)?
        .set_default("content.max_chunk_bytes", 64 * MIB)?
        .set_default("content.max_open_uploads", 8)?
        .set_default("content.gc_grace_secs", 24 * 3600)?
        .set_default("content.sweep_interval_secs", 300)?
        .set_default("content.thumbnail_sizes", vec![256, 1024])?
        .set_default("content.waveform_buckets", 512)
}
