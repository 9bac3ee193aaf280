//! Video: scene keyframes and the audio track through the `ffmpeg` program (a subprocess: no
//! shell, a time limit, killed past it). Keyframes go on to the image pipelines, the track to the
//! audio pipelines.
//!
//! Every run is hardened as the probe is: the demuxer is named from the file's own bytes, only
//! the `file` protocol is allowed (no playlists, no network), one decoding thread, and what may
//! be written is bounded (a number of frames; a length of audio).

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use crate::media::ffmpeg::file_arg;
use crate::media::video::{container_of, input_args};
use crate::media::MediaError;
use crate::process;

/// How keyframes are chosen.
#[derive(Debug, Clone)]
pub struct KeyframeOptions {
    /// A new scene starts where ffmpeg's scene score passes this (0..1).
    pub scene_threshold: f32,
    /// At least one frame this often, even without a scene change, in seconds.
    pub max_gap_secs: f32,
    /// At most this many frames.
    pub max_frames: usize,
    /// Longest side of a keyframe, in pixels.
    pub max_side: u32,
    /// Time limit for the ffmpeg run.
    pub timeout: Duration,
}

impl Default for KeyframeOptions {
    fn default() -> Self {
        KeyframeOptions {
            scene_threshold: 0.3,
            max_gap_secs: 30.0,
            max_frames: 12,
            max_side: 640,
            timeout: Duration::from_secs(300),
        }
    }
}

/// One keyframe: when it is, and the picture as JPEG.
#[derive(Debug, Clone, PartialEq)]
pub struct Keyframe {
    /// Seconds from the start.
    pub time: f64,
    pub jpeg: Vec<u8>,
}

/// The first frame, then every frame that starts a scene, then at least one per
/// `max_gap_secs`, up to `max_frames`, in time order.
pub fn keyframes(path: &Path, options: &KeyframeOptions) -> Result<Vec<Keyframe>, MediaError> {
    let dir = tempfile::Builder::new()
        .prefix("keyframes-")
        .tempdir()
        .map_err(MediaError::Io)?;
    let pattern = dir.path().join("frame-%04d.jpg");
    let select = format!(
        "select='eq(n\\,0)+gt(scene\\,{thr})+gte(t-prev_selected_t\\,{gap})',showinfo,\
         scale='if(gt(iw\\,ih)\\,min({side}\\,iw)\\,-2)':'if(gt(iw\\,ih)\\,-2\\,min({side}\\,ih))'",
        thr = options.scene_threshold.clamp(0.01, 1.0),
        gap = options.max_gap_secs.max(1.0),
        side = options.max_side.max(16),
    );
    let mut args = input_args(path, container_of(path)?, None);
    // `showinfo` reports each frame's time at the info level.
    args[1] = "info".into();
    let tail: Vec<OsString> = vec![
        "-map".into(),
        "0:v:0".into(),
        "-vf".into(),
        select.into(),
        "-fps_mode".into(),
        "vfr".into(),
        "-frames:v".into(),
        options.max_frames.max(1).to_string().into(),
        "-q:v".into(),
        "4".into(),
        "-f".into(),
        "image2".into(),
        pattern.into_os_string(),
    ];
    args.extend(tail);
    let out = process::run("ffmpeg", &args, None, options.timeout, 0)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        if stderr.contains("matches no streams") {
            return Ok(Vec::new());
        }
        return Err(MediaError::CorruptVideo(out.stderr_summary()));
    }
    let times = showinfo_times(&stderr);
    let mut frames = Vec::new();
    for (i, time) in times.into_iter().enumerate().take(options.max_frames) {
        let file = dir.path().join(format!("frame-{:04}.jpg", i + 1));
        match std::fs::read(&file) {
            Ok(jpeg) => frames.push(Keyframe { time, jpeg }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(e) => return Err(MediaError::Io(e)),
        }
    }
    Ok(frames)
}

/// The `pts_time` of each frame that `showinfo` reported, in order.
fn showinfo_times(stderr: &str) -> Vec<f64> {
    stderr
        .lines()
        .filter(|l| l.contains("Parsed_showinfo") && l.contains(" n:"))
        .filter_map(|l| {
            let rest = &l[l.find("pts_time:")? + "pts_time:".len()..];
            rest.split_whitespace().next()?.parse::<f64>().ok()
        })
        .collect()
}

/// Writes the first audio track as 16 kHz mono 16-bit WAV to `out`, at most `max_secs` of it
/// (and so at most 32 kB a second). Returns false when the video has no audio track.
pub fn extract_audio(
    path: &Path,
    out: &Path,
    max_secs: f64,
    timeout: Duration,
) -> Result<bool, MediaError> {
    let max_secs = max_secs.max(0.0);
    let mut args = input_args(path, container_of(path)?, None);
    let tail: Vec<OsString> = vec![
        "-y".into(),
        "-t".into(),
        format!("{max_secs:.3}").into(),
        // The WAV header and a little slack past the samples' own bytes.
        "-fs".into(),
        ((max_secs * 32_000.0).ceil() as u64 + 4096)
            .to_string()
            .into(),
        "-map".into(),
        "0:a:0?".into(),
        "-vn".into(),
        "-ac".into(),
        "1".into(),
        "-ar".into(),
        "16000".into(),
        "-c:a".into(),
        "pcm_s16le".into(),
        "-f".into(),
        "wav".into(),
        file_arg(out),
    ];
    args.extend(tail);
    let result = process::run("ffmpeg", &args, None, timeout, 0)?;
    if !result.status.success() {
        let summary = result.stderr_summary();
        // With the optional map and no audio, ffmpeg has nothing to write.
        if summary.contains("does not contain any stream")
            || summary.contains("Output file is empty")
            || summary.contains("Output file #0 does not contain any stream")
        {
            return Ok(false);
        }
        return Err(MediaError::CorruptVideo(summary));
    }
    // A WAV header alone (44 bytes) means no samples: no audio track.
    Ok(std::fs::metadata(out)
        .map(|m| m.len() > 44)
        .unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn showinfo_lines_give_frame_times() {
        let stderr = "[Parsed_showinfo_1 @ 0x1] n:   0 pts:      0 pts_time:0       duration\n\
                      [Parsed_showinfo_1 @ 0x1] n:   1 pts:  61440 pts_time:4.8     duration\n\
                      [Parsed_showinfo_1 @ 0x1] config in time_base: 1/12800\n";
        assert_eq!(showinfo_times(stderr), vec![0.0, 4.8]);
    }
}
