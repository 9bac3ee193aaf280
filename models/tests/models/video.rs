//! Keyframes and the audio track of videos the test makes with ffmpeg.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tessera_models::media::MediaError;
use tessera_models::video::{extract_audio, keyframes, KeyframeOptions};

/// Two scenes (red for 2 s, then blue for 2 s), with a 440 Hz tone unless `silent`.
fn two_scene_video(dir: &Path, silent: bool) -> PathBuf {
    let out = dir.join(if silent { "silent.mp4" } else { "scenes.mp4" });
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "color=c=red:s=320x240:d=2:r=10"])
        .args(["-f", "lavfi", "-i", "color=c=blue:s=320x240:d=2:r=10"]);
    if !silent {
        cmd.args(["-f", "lavfi", "-i", "sine=frequency=440:duration=4"]);
    }
    cmd.args([
        "-filter_complex",
        "[0:v][1:v]concat=n=2:v=1:a=0[v]",
        "-map",
        "[v]",
    ]);
    if !silent {
        cmd.args(["-map", "2:a", "-c:a", "aac"]);
    }
    cmd.args(["-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .arg(&out);
    let status = cmd
        .status()
        .expect("ffmpeg runs (install it with `apt-get install ffmpeg`)");
    assert!(status.success());
    out
}

#[test]
fn each_scene_gives_a_keyframe_at_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let video = two_scene_video(dir.path(), false);
    let frames = keyframes(&video, &KeyframeOptions::default()).expect("keyframes");
    assert_eq!(
        frames.len(),
        2,
        "{:?}",
        frames.iter().map(|f| f.time).collect::<Vec<_>>()
    );
    assert!(frames[0].time < 0.2);
    assert!((frames[1].time - 2.0).abs() < 0.2, "{}", frames[1].time);
    let first = image::load_from_memory(&frames[0].jpeg)
        .expect("a JPEG")
        .to_rgb8();
    let second = image::load_from_memory(&frames[1].jpeg)
        .expect("a JPEG")
        .to_rgb8();
    let p = first.get_pixel(10, 10);
    assert!(p[0] > 200 && p[2] < 60, "red scene: {p:?}");
    let p = second.get_pixel(10, 10);
    assert!(p[2] > 200 && p[0] < 60, "blue scene: {p:?}");

    // A long still scene still gets frames at the gap; the cap holds.
    let capped = keyframes(
        &video,
        &KeyframeOptions {
            max_gap_secs: 1.0,
            max_frames: 3,
            ..KeyframeOptions::default()
        },
    )
    .expect("keyframes");
    assert_eq!(capped.len(), 3);
    assert!(capped.windows(2).all(|w| w[0].time < w[1].time));
}

#[test]
fn the_audio_track_comes_out_as_16_khz_mono() {
    let dir = tempfile::tempdir().unwrap();
    let video = two_scene_video(dir.path(), false);
    let wav = dir.path().join("track.wav");
    assert!(extract_audio(&video, &wav, 60.0, Duration::from_secs(60)).expect("extract"));
    let reader = hound::WavReader::open(&wav).expect("a WAV");
    let spec = reader.spec();
    assert_eq!((spec.sample_rate, spec.channels), (16_000, 1));
    let seconds = reader.duration() as f64 / 16_000.0;
    assert!((seconds - 4.0).abs() < 0.15, "{seconds} s");

    let silent = two_scene_video(dir.path(), true);
    let none = dir.path().join("none.wav");
    assert!(
        !extract_audio(&silent, &none, 60.0, Duration::from_secs(60)).expect("no track is fine")
    );

    // At most the length asked for is written.
    let short = dir.path().join("short.wav");
    assert!(extract_audio(&video, &short, 1.5, Duration::from_secs(60)).expect("extract"));
    let reader = hound::WavReader::open(&short).expect("a WAV");
    let seconds = reader.duration() as f64 / 16_000.0;
    assert!((seconds - 1.5).abs() < 0.1, "{seconds} s");
}

#[test]
fn a_script_that_names_other_files_is_never_followed() {
    // An ffconcat script (or a playlist) that ffmpeg would recognise on its own and follow to
    // another file of the host: only a container sniffed from the bytes is ever opened.
    let dir = tempfile::tempdir().unwrap();
    let other = two_scene_video(dir.path(), false);
    for (name, script) in [
        (
            "concat.mp4",
            format!("ffconcat version 1.0\nfile '{}'\n", other.display()),
        ),
        (
            "list.mp4",
            format!(
                "#EXTM3U\n#EXTINF:4.0,\nfile:{}\n#EXT-X-ENDLIST\n",
                other.display()
            ),
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, script).unwrap();
        let err = keyframes(&path, &KeyframeOptions::default()).unwrap_err();
        assert!(
            matches!(err, MediaError::UnsupportedType(_)),
            "{name}: {err}"
        );
        let wav = dir.path().join(format!("{name}.wav"));
        let err = extract_audio(&path, &wav, 60.0, Duration::from_secs(60)).unwrap_err();
        assert!(
            matches!(err, MediaError::UnsupportedType(_)),
            "{name}: {err}"
        );
        assert!(!wav.exists(), "{name}");
    }
}

#[test]
fn a_file_that_is_not_a_video_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.mp4");
    std::fs::write(&junk, b"this is not a video at all").unwrap();
    let err = keyframes(&junk, &KeyframeOptions::default()).unwrap_err();
    assert!(matches!(err, MediaError::UnsupportedType(_)), "{err}");
}
