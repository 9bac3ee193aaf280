//! Sentence embeddings on the real MiniLM model.

use tessera_models::runtime::SessionOptions;
use tessera_models::text::{cosine, Embedder};

fn embedder() -> Embedder {
    Embedder::load(
        &crate::support::model_dir("minilm-l6-v2-int8"),
        &SessionOptions::default(),
    )
    .expect("MiniLM loads")
}

#[test]
fn tokenizes_like_the_reference() {
    let e = embedder();
    assert_eq!(
        e.tokens("A man is eating food.").expect("tokens"),
        [101, 1037, 2158, 2003, 5983, 2833, 1012, 102]
    );
}

#[test]
fn close_sentences_rank_above_unrelated_ones() {
    let mut e = embedder();
    let texts = [
        "A man is eating food.",
        "Someone is having a meal.",
        "The stock market crashed today.",
        "Un chat dort sur le canapé.",
    ];
    let v = e.embed(&texts).expect("embed");
    assert_eq!(v.len(), 4);
    for x in &v {
        assert_eq!(x.len(), 384);
        let norm: f32 = x.iter().map(|a| a * a).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "normalised, got {norm}");
    }
    let close = cosine(&v[0], &v[1]);
    let far = cosine(&v[0], &v[2]);
    assert!(
        (close - 0.685).abs() < 0.02,
        "reference cosine 0.685, got {close}"
    );
    assert!(close > far + 0.4, "close {close} vs unrelated {far}");
    assert!(close > cosine(&v[0], &v[3]) + 0.4);
    // Batching pads; padding must not change a sentence's vector.
    let alone = e.embed(&texts[..1]).expect("embed one");
    assert!(cosine(&alone[0], &v[0]) > 0.9999);
}

#[test]
fn long_text_is_cut_into_overlapping_windows() {
    let e = embedder();
    let sentence = "The quick brown fox jumps over the lazy dog near the river bank. ";
    let text = sentence.repeat(60);
    let chunks = e.chunks(&text).expect("chunks");
    assert!(chunks.len() >= 3, "{} chunks", chunks.len());
    assert_eq!(chunks[0].start, 0);
    assert_eq!(chunks.last().expect("last").end, text.trim_end().len());
    for pair in chunks.windows(2) {
        assert!(pair[1].start < pair[0].end, "chunks overlap");
    }
    for c in &chunks {
        assert!(e.tokens(&c.text).expect("tokens").len() <= 256);
        assert_eq!(&text[c.start..c.end], c.text);
    }
    assert!(e.chunks("").expect("empty").is_empty());
}
