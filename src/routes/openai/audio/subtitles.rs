//! Transcripts as subtitles: SubRip (`srt`) and WebVTT (`vtt`).

use tessera_models::audio::Segment;

/// `h:mm:ss,mmm` (SRT) or `hh:mm:ss.mmm` (WebVTT).
fn timestamp(seconds: f32, separator: char) -> String {
    let ms = (f64::from(seconds.max(0.0)) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}{separator}{:03}",
        ms / 3_600_000,
        (ms / 60_000) % 60,
        (ms / 1000) % 60,
        ms % 1000
    )
}

/// SubRip: numbered cues with `hh:mm:ss,mmm` times.
pub(super) fn srt(segments: &[Segment]) -> String {
    let mut out = String::new();
    for (i, s) in segments.iter().enumerate() {
        out.push_str(&format!(
            "{}\n{} --> {}\n{}\n\n",
            i + 1,
            timestamp(s.start, ','),
            timestamp(s.end, ','),
            s.text.trim()
        ));
    }
    out
}

/// WebVTT: a header, then cues with `hh:mm:ss.mmm` times.
pub(super) fn vtt(segments: &[Segment]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for s in segments {
        out.push_str(&format!(
            "{} --> {}\n{}\n\n",
            timestamp(s.start, '.'),
            timestamp(s.end, '.'),
            s.text.trim()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(start: f32, end: f32, text: &str) -> Segment {
        Segment {
            start,
            end,
            text: text.into(),
        }
    }

    #[test]
    fn subtitles_have_their_formats_time_codes() {
        let s = [seg(0.0, 1.5, " Hello"), seg(61.25, 3725.0, "world ")];
        assert_eq!(
            srt(&s),
            "1\n00:00:00,000 --> 00:00:01,500\nHello\n\n2\n00:01:01,250 --> 01:02:05,000\nworld\n\n"
        );
        assert_eq!(
            vtt(&s[..1]),
            "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello\n\n"
        );
    }
}
