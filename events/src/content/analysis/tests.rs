use serde_json::{json, Value};

use super::*;
use crate::content::ContentEvent;
use crate::upcast::Upcasters;

fn provenance(step: &str) -> Value {
    json!({
        "step": step, "model_id": "m", "model_version": "1.0.0", "model_sha256": "ab".repeat(32),
        "parameters": { "top_k": 5 }, "run_ms": 12, "cached": false,
    })
}

fn chunk(source: &str) -> Value {
    json!({ "source": source, "start": 0, "end": 11, "vector": [0.25, -0.5, 1.0] })
}

/// One analysis per modality, exactly as the pipelines have written them since the first
/// analysis.
fn written_today() -> Vec<Value> {
    vec![
        json!({
            "modality": "text",
            "words": 120,
            "characters": 700,
            "summary": "A short summary.",
            "embeddings": [chunk("text")],
            "provenance": [provenance("text.embeddings"), provenance("text.summary")],
        }),
        json!({
            "modality": "image",
            "labels": [{ "index": 281, "name": "tabby", "score": 0.75 }],
            "ocr": { "text": "STOP", "lines": [
                { "text": "STOP", "score": 0.5, "box": [[1.0, 2.0], [3.0, 2.0], [3.0, 4.0], [1.0, 4.0]] }
            ] },
            "exif": { "captured_at": "2024-05-17T14:03:09", "camera_make": "Pentax",
                      "camera_model": null, "orientation": 1,
                      "gps": { "latitude": 48.5, "longitude": 2.25 } },
            "description": "A cat by a stop sign.",
            "embeddings": [chunk("derived")],
            "provenance": [provenance("image.labels"), provenance("image.ocr"),
                           provenance("image.description"), provenance("text.embeddings")],
        }),
        json!({
            "modality": "audio",
            "duration_secs": 12.5,
            "speech": [{ "start": 0.5, "end": 3.25 }],
            "transcript": { "segments": [{ "start": 0.5, "end": 3.25, "text": "Hello there." }],
                            "text": "Hello there." },
            "summary": null,
            "embeddings": [chunk("transcript")],
            "provenance": [provenance("audio.speech"), provenance("audio.transcript"),
                           provenance("text.embeddings")],
        }),
        json!({
            "modality": "video",
            "keyframes": [{ "index": 0, "time": 0.0,
                            "labels": [{ "index": 1, "name": "goldfish", "score": 0.5 }],
                            "ocr_text": "garden", "blob_key": "previews/ab/keyframe-0.jpg" }],
            "has_audio": false,
            "transcript": null,
            "summary": "[0:00] A garden.",
            "embeddings": [chunk("derived")],
            "provenance": [provenance("image.labels"), provenance("image.ocr"),
                           provenance("video.summary"), provenance("text.embeddings")],
        }),
    ]
}

#[test]
fn analyses_written_today_read_into_the_typed_form_and_write_back_unchanged() {
    let upcasters = Upcasters::default();
    for written in written_today() {
        let event = json!({ "job_id": uuid::Uuid::nil(), "analysis": written });
        // Events are upcast before they are decoded; an analysis needs no step.
        let (version, payload) = upcasters
            .upcast("content.analysed", 1, event.clone())
            .unwrap();
        assert_eq!((version, &payload), (1, &event));
        let decoded: ContentEvent =
            serde_json::from_value(json!({ "type": "content.analysed", "data": payload })).unwrap();
        let ContentEvent::Analysed { analysis, .. } = decoded else {
            panic!("not an analysis");
        };
        assert_eq!(
            analysis.modality().as_str(),
            written["modality"].as_str().unwrap()
        );
        // The read model and the result cache see the same JSON as before.
        assert_eq!(serde_json::to_value(&analysis).unwrap(), written);
    }
}

#[test]
fn the_first_text_analyses_had_no_summary() {
    let first = json!({
        "modality": "text", "words": 3, "characters": 11,
        "embeddings": [], "provenance": [],
    });
    let a: Analysis = serde_json::from_value(first).unwrap();
    assert_eq!(a.summary(), None);
}

#[test]
fn parts_are_found_by_modality_and_step() {
    let all: Vec<Analysis> = written_today()
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect();
    let [text, image, audio, video] = &all[..] else {
        panic!("four analyses");
    };
    assert_eq!(text.summary(), Some("A short summary."));
    assert_eq!(image.description(), Some("A cat by a stop sign."));
    assert_eq!(image.labels()[0].name, "tabby");
    assert_eq!(image.ocr().map(|o| o.lines[0].bbox[2]), Some([3.0, 4.0]));
    assert_eq!(audio.summary(), None);
    assert_eq!(audio.transcript().unwrap().segments[0].end, 3.25);
    assert!(video.transcript().is_none());
    assert_eq!(video.keyframes()[0].blob_key, "previews/ab/keyframe-0.jpg");
    let steps: Vec<&str> = image
        .provenance_of(&[step::IMAGE_OCR, step::IMAGE_LABELS])
        .map(|p| p.step.as_str())
        .collect();
    assert_eq!(steps, ["image.labels", "image.ocr"]);
}

#[test]
fn map_changes_only_keyframes_and_embeddings() {
    let video: Analysis = serde_json::from_value(written_today().remove(3)).unwrap();
    let shown = video
        .clone()
        .map(|i, k| (i, k.time), |e: Embeddings| e.len());
    assert_eq!(shown.keyframes(), &[(0, 0.0)]);
    assert_eq!(*shown.embeddings(), 1);
    assert_eq!(shown.summary(), video.summary());
    assert_eq!(shown.provenance(), video.provenance());
}
