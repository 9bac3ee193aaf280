//! The pipelines a job runs, per modality, over the model instances of the node. Each step's
//! output is cached by (input, model version, parameters) and carries its provenance.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix::Addr;
use async_trait::async_trait;
use futures_util::future::join_all;
use image::DynamicImage;
use serde_json::json;
use std::time::Duration;
use tessera_events::content::Modality;
use tessera_events::jobs::{job_stream, JobEvent, JobRequested, Provenance};
use tessera_events::{CommandContext, EventStore, ExpectedVersion};
use tessera_models::audio::{
    decode_file, group_spans, to_16k, AudioError, AudioLimits, Segment, SileroVad, Span,
    Transcript, Whisper, SAMPLE_RATE_16K,
};
use tessera_models::media::MediaError;
use tessera_models::runtime::llama::{ChatMessage, GenerateOptions};
use tessera_models::runtime::Model;
use tessera_models::speech::{PiperVoice, Speech, SynthOptions, SynthRequest};
use tessera_models::text::chat::{ChatModel, ChatRequest};
use tessera_models::text::{Chunker, Embedder};
use tessera_models::video::{extract_audio, keyframes, KeyframeOptions};
use tessera_models::vision::{
    decode_image, read_exif, Classifier, ExifFacts, ImageLimits, Ocr, VisionError,
};

use super::cache::{cached, ModelInfo};
use super::StepError;
use crate::models::{Infer, ModelInstance};

/// Reads the bytes of an item for a pipeline.
#[async_trait]
pub trait MediaSource: Send + Sync + 'static {
    /// Copies the blob to a local file, deleted when the returned path is dropped.
    async fn fetch(&self, blob_key: &str) -> Result<tempfile::TempPath, String>;
    /// Stores a picture derived from an item (a keyframe) beside its previews, so it goes
    /// when the item is purged; returns the blob key.
    async fn put_derived(
        &self,
        content_sha256: &str,
        name: &str,
        bytes: Vec<u8>,
        mime: &str,
    ) -> Result<String, String>;
}

/// Where a running job reports its progress (`job.progress` events, throttled by the caller's
/// stage changes).
#[derive(Clone)]
pub struct ProgressSink {
    store: Option<Arc<dyn EventStore>>,
    job_id: uuid::Uuid,
    attempt: u32,
    /// The content's owner: their live sessions receive the progress.
    owner: Option<uuid::Uuid>,
}

impl ProgressSink {
    pub fn new(
        store: Arc<dyn EventStore>,
        job_id: uuid::Uuid,
        attempt: u32,
        owner: uuid::Uuid,
    ) -> Self {
        ProgressSink {
            store: Some(store),
            job_id,
            attempt,
            owner: Some(owner),
        }
    }

    /// A sink for work that is not a job (an interactive request): reports go nowhere.
    pub fn silent() -> Self {
        ProgressSink {
            store: None,
            job_id: uuid::Uuid::nil(),
            attempt: 0,
            owner: None,
        }
    }

    /// Records that the job reached `stage`, `percent` done. Best effort: a lost progress
    /// event changes nothing.
    pub async fn report(&self, stage: &str, percent: u8) {
        let Some(store) = &self.store else {
            return;
        };
        let stream = job_stream(self.job_id);
        let event = JobEvent::Progress {
            attempt: self.attempt,
            stage: stage.to_owned(),
            percent: percent.min(100),
        };
        let ctx = CommandContext::new(None);
        if let Ok(data) = ctx.to_event_data(&stream, &[event], self.owner) {
            if let Err(e) = store.append(&stream, ExpectedVersion::Any, data).await {
                tracing::debug!(job = %self.job_id, error = %e, "progress not recorded");
            }
        }
    }
}

/// Language-model tokens used by the work run inside [`count_tokens`].
#[derive(Debug, Default)]
struct TokenCount {
    prompt: std::sync::atomic::AtomicU64,
    completion: std::sync::atomic::AtomicU64,
}

tokio::task_local! {
    static TOKENS: Arc<TokenCount>;
}

/// Runs `work` and answers, beside its output, the language-model tokens it read and wrote
/// (prompt, completion); results read from the cache cost none.
pub async fn count_tokens<F: std::future::Future>(work: F) -> (F::Output, (u64, u64)) {
    let count = Arc::new(TokenCount::default());
    let out = TOKENS.scope(count.clone(), work).await;
    use std::sync::atomic::Ordering::Relaxed;
    (
        out,
        (count.prompt.load(Relaxed), count.completion.load(Relaxed)),
    )
}

fn note_tokens(g: &tessera_models::runtime::llama::Generation) {
    let _ = TOKENS.try_with(|t| {
        use std::sync::atomic::Ordering::Relaxed;
        t.prompt.fetch_add(g.prompt_tokens as u64, Relaxed);
        t.completion.fetch_add(g.completion_tokens as u64, Relaxed);
    });
}

/// The most text a pipeline reads from one item.
pub const MAX_TEXT_BYTES: u64 = 8 * 1024 * 1024;

/// The embedding model's tokenizer, loaded at first use (a node may start before its models
/// are fetched).
pub struct LazyChunker {
    dir: PathBuf,
    loaded: std::sync::Mutex<Option<Arc<Chunker>>>,
}

impl LazyChunker {
    pub fn new(dir: PathBuf) -> Self {
        LazyChunker {
            dir,
            loaded: std::sync::Mutex::new(None),
        }
    }

    /// The tokenizer, loaded on first use.
    pub fn get(&self) -> Result<Arc<Chunker>, StepError> {
        let mut slot = self
            .loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let c = Chunker::load(&self.dir).map(Arc::new).map_err(|e| {
            StepError::transient(
                "model_unavailable",
                format!("{e} (run `tessera models fetch`)"),
            )
        })?;
        *slot = Some(c.clone());
        Ok(c)
    }
}

/// The embedding model of the node.
pub struct EmbeddingModel {
    pub instance: Addr<ModelInstance<Embedder>>,
    pub chunker: LazyChunker,
    pub info: ModelInfo,
}

/// A model instance and what identifies its model.
pub struct Handle<M: Model> {
    pub instance: Addr<ModelInstance<M>>,
    pub info: ModelInfo,
}

impl<M: Model> Handle<M> {
    /// One inference.
    pub async fn infer(&self, request: M::Request) -> Result<M::Response, StepError> {
        self.instance
            .send(Infer::<M>(request))
            .await
            .map_err(|e| StepError::internal(e.to_string()))?
            .map_err(StepError::from)
    }
}

/// Limits and choices of the pipelines.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    pub image_limits: ImageLimits,
    pub audio_limits: AudioLimits,
    pub keyframes: KeyframeOptions,
    /// Time limit of one ffmpeg run.
    pub tool_timeout: Duration,
    /// Labels kept per image.
    pub top_labels: usize,
    /// Longest summary, in words.
    pub summary_words: usize,
    /// Texts shorter than this (in words) get no summary.
    pub summary_min_words: usize,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            image_limits: ImageLimits::default(),
            audio_limits: AudioLimits::default(),
            keyframes: KeyframeOptions::default(),
            tool_timeout: Duration::from_secs(300),
            top_labels: 5,
            summary_words: 60,
            summary_min_words: 80,
        }
    }
}

/// Every pipeline, over the node's models.
pub struct Pipelines {
    pub store: Arc<dyn EventStore>,
    pub media: Arc<dyn MediaSource>,
    pub embeddings: EmbeddingModel,
    pub classifier: Handle<Classifier>,
    pub ocr: Handle<Ocr>,
    pub vad: Handle<SileroVad>,
    pub whisper: Handle<Whisper>,
    pub chat: Handle<ChatModel>,
    /// The voice of speech synthesis (interactive requests only; uploads are not spoken).
    pub speech: Handle<PiperVoice>,
    pub options: PipelineOptions,
}

/// One embedded window of derived text.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct EmbeddedChunk {
    /// What the text is (`text`, `ocr`, `transcript`, `labels`, `description`, ...).
    pub source: String,
    /// Byte range of the window in that text.
    pub start: usize,
    pub end: usize,
    pub vector: Vec<f32>,
}

impl Pipelines {
    /// Runs the pipeline of the request's modality.
    pub async fn run(
        &self,
        request: &JobRequested,
        progress: &ProgressSink,
    ) -> Result<(serde_json::Value, Vec<Provenance>), StepError> {
        progress.report("fetching", 0).await;
        let file = self
            .media
            .fetch(&request.blob_key)
            .await
            .map_err(|e| StepError::transient("media_unavailable", e))?;
        match request.modality {
            Modality::Text => self.text(request, &file, progress).await,
            Modality::Image => self.image(request, &file, progress).await,
            Modality::Audio => self.audio(request, &file, progress).await,
            Modality::Video => self.video(request, &file, progress).await,
        }
    }

    async fn text(
        &self,
        request: &JobRequested,
        file: &Path,
        progress: &ProgressSink,
    ) -> Result<(serde_json::Value, Vec<Provenance>), StepError> {
        let text = read_text(file.to_path_buf()).await?;
        progress.report("embedding", 30).await;
        let mut provenance = Vec::new();
        let embeddings = self
            .embed_text(&request.sha256, "text", &text, &mut provenance)
            .await?;
        let words = text.split_whitespace().count();
        progress.report("summarising", 60).await;
        let summary = self
            .summary(&request.sha256, &text, "text", &mut provenance)
            .await?;
        let analysis = json!({
            "modality": "text",
            "words": words,
            "characters": text.chars().count(),
            "summary": summary,
            "embeddings": embeddings,
            "provenance": provenance,
        });
        Ok((analysis, provenance))
    }

    async fn image(
        &self,
        request: &JobRequested,
        file: &Path,
        progress: &ProgressSink,
    ) -> Result<(serde_json::Value, Vec<Provenance>), StepError> {
        let path = file.to_path_buf();
        let limits = self.options.image_limits;
        // Where a photo was taken is kept only when its owner said so at upload.
        let allow_gps = request.keep_location;
        let (image, exif) = blocking(move || {
            let bytes = std::fs::read(&path).map_err(|e| StepError::internal(e.to_string()))?;
            let exif = read_exif(&bytes, allow_gps);
            let image = decode_image(&bytes, &limits).map_err(vision_error)?;
            Ok((image, exif))
        })
        .await?;
        let mut provenance = Vec::new();
        progress.report("classifying", 20).await;
        let labels = self
            .labels(&request.sha256, image.clone(), &mut provenance)
            .await?;
        progress.report("reading text", 45).await;
        let ocr = self
            .read_text(&request.sha256, image, &mut provenance)
            .await?;
        progress.report("describing", 70).await;
        let description = self.describe(&labels, &ocr.text, &mut provenance).await?;
        progress.report("embedding", 90).await;
        let derived = derived_text(&labels, &ocr.text, &description);
        let embeddings = self
            .embed_text(&request.sha256, "derived", &derived, &mut provenance)
            .await?;
        let analysis = json!({
            "modality": "image",
            "labels": labels,
            "ocr": ocr,
            "exif": exif_json(&exif),
            "description": description,
            "embeddings": embeddings,
            "provenance": provenance,
        });
        Ok((analysis, provenance))
    }

    async fn audio(
        &self,
        request: &JobRequested,
        file: &Path,
        progress: &ProgressSink,
    ) -> Result<(serde_json::Value, Vec<Provenance>), StepError> {
        let path = file.to_path_buf();
        let limits = self.options.audio_limits;
        let (pcm, duration) = blocking(move || {
            let decoded = decode_file(&path, &limits).map_err(audio_error)?;
            let duration = decoded.duration_seconds();
            let pcm = to_16k(&decoded.samples, decoded.sample_rate).map_err(audio_error)?;
            Ok((pcm, duration))
        })
        .await?;
        let mut provenance = Vec::new();
        let (speech, transcript) = self
            .transcribe(&request.sha256, pcm, progress, &mut provenance)
            .await?;
        progress.report("summarising", 80).await;
        let summary = self
            .summary(
                &request.sha256,
                &transcript.text,
                "transcript",
                &mut provenance,
            )
            .await?;
        progress.report("embedding", 90).await;
        let embeddings = self
            .embed_text(
                &request.sha256,
                "transcript",
                &transcript.text,
                &mut provenance,
            )
            .await?;
        let analysis = json!({
            "modality": "audio",
            "duration_secs": duration,
            "speech": speech,
            "transcript": transcript,
            "summary": summary,
            "embeddings": embeddings,
            "provenance": provenance,
        });
        Ok((analysis, provenance))
    }

    async fn video(
        &self,
        request: &JobRequested,
        file: &Path,
        progress: &ProgressSink,
    ) -> Result<(serde_json::Value, Vec<Provenance>), StepError> {
        let path = file.to_path_buf();
        let options = self.options.keyframes.clone();
        progress.report("extracting keyframes", 5).await;
        let frames = blocking(move || keyframes(&path, &options).map_err(media_error)).await?;
        let mut provenance = Vec::new();
        let mut keyframes_out = Vec::new();
        let count = frames.len().max(1);
        for (i, frame) in frames.into_iter().enumerate() {
            let percent = 10 + (40 * i / count) as u8;
            progress.report("analysing keyframes", percent).await;
            let sha = sha256_hex(&frame.jpeg);
            let limits = self.options.image_limits;
            let bytes = frame.jpeg.clone();
            let image =
                blocking(move || decode_image(&bytes, &limits).map_err(vision_error)).await?;
            let labels = self.labels(&sha, image.clone(), &mut provenance).await?;
            let ocr = self.read_text(&sha, image, &mut provenance).await?;
            let key = self
                .media
                .put_derived(
                    &request.sha256,
                    &format!("keyframe-{i}.jpg"),
                    frame.jpeg,
                    "image/jpeg",
                )
                .await
                .map_err(|e| StepError::transient("media_unavailable", e))?;
            keyframes_out.push(json!({
                "index": i,
                "time": frame.time,
                "labels": labels.iter().take(3).collect::<Vec<_>>(),
                "ocr_text": ocr.text,
                "blob_key": key,
            }));
        }
        // The audio track, when there is one.
        progress.report("extracting audio", 55).await;
        let path = file.to_path_buf();
        let timeout = self.options.tool_timeout;
        let track = blocking(move || {
            let wav = tempfile::Builder::new()
                .suffix(".wav")
                .tempfile()
                .map_err(|e| StepError::internal(e.to_string()))?
                .into_temp_path();
            let has_audio = extract_audio(&path, &wav, timeout).map_err(media_error)?;
            if !has_audio {
                return Ok(None);
            }
            let decoded = decode_file(&wav, &AudioLimits::default()).map_err(audio_error)?;
            Ok(Some(decoded.samples))
        })
        .await?;
        let transcript = match track {
            Some(pcm) => {
                let (_, t) = self
                    .transcribe(&request.sha256, pcm, progress, &mut provenance)
                    .await?;
                Some(t)
            }
            None => None,
        };
        progress.report("summarising", 85).await;
        let summary = self
            .video_summary(&keyframes_out, transcript.as_ref(), &mut provenance)
            .await?;
        let mut derived = String::new();
        for k in &keyframes_out {
            if let Some(labels) = k["labels"].as_array() {
                for l in labels {
                    derived.push_str(l["name"].as_str().unwrap_or_default());
                    derived.push_str(". ");
                }
            }
            derived.push_str(k["ocr_text"].as_str().unwrap_or_default());
            derived.push('\n');
        }
        if let Some(t) = &transcript {
            derived.push_str(&t.text);
            derived.push('\n');
        }
        derived.push_str(&summary);
        progress.report("embedding", 95).await;
        let embeddings = self
            .embed_text(&request.sha256, "derived", &derived, &mut provenance)
            .await?;
        let analysis = json!({
            "modality": "video",
            "keyframes": keyframes_out,
            "has_audio": transcript.is_some(),
            "transcript": transcript,
            "summary": summary,
            "embeddings": embeddings,
            "provenance": provenance,
        });
        Ok((analysis, provenance))
    }

    /// Top labels of an image, cached by the image's sha256.
    async fn labels(
        &self,
        sha256: &str,
        image: DynamicImage,
        provenance: &mut Vec<Provenance>,
    ) -> Result<Vec<LabelOut>, StepError> {
        let top = self.options.top_labels;
        let (labels, p) = cached(
            self.store.as_ref(),
            sha256,
            "image.labels",
            &self.classifier.info,
            json!({ "top_k": top, "preprocess": "centre_crop_224", "normalise": "(x-127)/128" }),
            async {
                let labels = self.classifier.infer(image).await?;
                Ok(labels
                    .into_iter()
                    .take(top)
                    .map(|l| LabelOut {
                        index: l.index,
                        name: l.name,
                        score: l.score,
                    })
                    .collect::<Vec<_>>())
            },
        )
        .await?;
        provenance.push(p);
        Ok(labels)
    }

    /// The text in an image with its boxes, cached by the image's sha256.
    async fn read_text(
        &self,
        sha256: &str,
        image: DynamicImage,
        provenance: &mut Vec<Provenance>,
    ) -> Result<OcrOut, StepError> {
        let (ocr, p) = cached(
            self.store.as_ref(),
            sha256,
            "image.ocr",
            &self.ocr.info,
            json!({ "det_threshold": 0.3, "box_threshold": 0.5, "unclip": 1.6, "angle_classifier": true }),
            async {
                let r = self.ocr.infer(image).await?;
                Ok(OcrOut {
                    text: r.text,
                    lines: r
                        .lines
                        .into_iter()
                        .map(|l| OcrLineOut {
                            text: l.text,
                            score: l.score,
                            bbox: l.bbox,
                        })
                        .collect(),
                })
            },
        )
        .await?;
        provenance.push(p);
        Ok(ocr)
    }

    /// VAD then Whisper over 16 kHz samples: speech spans and the transcript with times.
    /// Decodes a local audio file and transcribes it (cached by `sha256` like an upload's
    /// transcript). Answers the audio's length in seconds, the transcript and the provenance.
    pub async fn transcribe_file(
        &self,
        path: &Path,
        sha256: &str,
    ) -> Result<(f64, Transcript, Vec<Provenance>), StepError> {
        let path = path.to_path_buf();
        let limits = self.options.audio_limits;
        let (pcm, duration) = blocking(move || {
            let decoded = decode_file(&path, &limits).map_err(audio_error)?;
            let duration = decoded.duration_seconds();
            let pcm = to_16k(&decoded.samples, decoded.sample_rate).map_err(audio_error)?;
            Ok((pcm, duration))
        })
        .await?;
        let mut provenance = Vec::new();
        let (_, transcript) = self
            .transcribe(sha256, pcm, &ProgressSink::silent(), &mut provenance)
            .await?;
        Ok((duration, transcript, provenance))
    }

    /// Speaks `text` with the node's voice. A request the voice refuses (too long, nothing to
    /// say) is a permanent error with the voice's code.
    pub async fn speak(
        &self,
        text: &str,
        options: SynthOptions,
    ) -> Result<(Speech, Provenance), StepError> {
        let started = std::time::Instant::now();
        let parameters = json!({
            "speed": options.effective_speed(),
            "sentence_silence": options.effective_silence(),
        });
        let speech = self
            .speech
            .infer(SynthRequest {
                text: text.to_owned(),
                options,
            })
            .await?
            .map_err(|e| StepError::bad_input(e.code(), e.to_string()))?;
        let provenance = Provenance {
            step: "speech.synthesis".into(),
            model_id: self.speech.info.id.clone(),
            model_version: self.speech.info.version.clone(),
            model_sha256: self.speech.info.sha256.clone(),
            parameters,
            run_ms: started.elapsed().as_millis() as u64,
            cached: false,
        };
        Ok((speech, provenance))
    }

    async fn transcribe(
        &self,
        sha256: &str,
        pcm: Vec<f32>,
        progress: &ProgressSink,
        provenance: &mut Vec<Provenance>,
    ) -> Result<(Vec<Span>, Transcript), StepError> {
        progress.report("finding speech", 20).await;
        let pcm = Arc::new(pcm);
        let samples = pcm.clone();
        let (speech, p) = cached(
            self.store.as_ref(),
            sha256,
            "audio.speech",
            &self.vad.info,
            json!({ "threshold": 0.5, "neg_threshold": 0.35, "min_speech_ms": 250, "min_silence_ms": 100, "speech_pad_ms": 30 }),
            async { self.vad.infer(samples.to_vec()).await },
        )
        .await?;
        provenance.push(p);
        progress.report("transcribing", 40).await;
        let chunks = group_spans(&speech, 30.0);
        let (transcript, p) = cached(
            self.store.as_ref(),
            sha256,
            "audio.transcript",
            &self.whisper.info,
            json!({ "decoding": "greedy", "timestamps": true, "window_secs": 30, "vad_chunks": true }),
            async {
                let rate = SAMPLE_RATE_16K as f32;
                let mut segments = Vec::new();
                for chunk in &chunks {
                    let from = ((chunk.start * rate) as usize).min(pcm.len());
                    let to = ((chunk.end * rate).ceil() as usize).clamp(from, pcm.len());
                    let offset = from as f32 / rate;
                    let part = self.whisper.infer(pcm[from..to].to_vec()).await?;
                    for seg in part.segments {
                        segments.push(Segment {
                            start: seg.start + offset,
                            end: seg.end + offset,
                            text: seg.text,
                        });
                    }
                }
                Ok(Transcript::from_segments(segments))
            },
        )
        .await?;
        provenance.push(p);
        Ok((speech, transcript))
    }

    /// A short description of an image composed by the LLM from its labels and text.
    async fn describe(
        &self,
        labels: &[LabelOut],
        text: &str,
        provenance: &mut Vec<Provenance>,
    ) -> Result<String, StepError> {
        let listed: Vec<String> = labels
            .iter()
            .filter(|l| l.score >= 0.05)
            .map(|l| format!("{} ({:.0}%)", l.name, l.score * 100.0))
            .collect();
        let text: String = text.chars().take(1500).collect();
        let facts = format!(
            "Objects a classifier saw in the picture, most likely first: {}.\nText read in the picture: {}",
            if listed.is_empty() { "nothing certain".to_owned() } else { listed.join(", ") },
            if text.trim().is_empty() { "none".to_owned() } else { format!("\"{}\"", text.trim()) },
        );
        self.composed(
            "image.description",
            "describe-v1",
            "You describe pictures for a photo library. Use only the facts given. Answer with one or two plain sentences.",
            format!("{facts}\nDescribe the picture."),
            &facts,
            80,
            provenance,
        )
        .await
    }

    /// A summary of a long text (none for a short one), by the LLM; long texts are summarised
    /// piece by piece, then the pieces' summaries together.
    async fn summary(
        &self,
        sha256: &str,
        text: &str,
        what: &str,
        provenance: &mut Vec<Provenance>,
    ) -> Result<Option<String>, StepError> {
        if text.split_whitespace().count() < self.options.summary_min_words {
            return Ok(None);
        }
        let (summary, p) = self
            .summarise(sha256, text, what, self.options.summary_words)
            .await?;
        provenance.push(p);
        Ok(Some(summary))
    }

    /// A summary of `text` in at most `words` words, however short the text, cached by
    /// (`sha256`, `what`, `words`) like an analysis' summary, so either reuses the other.
    pub async fn summarise(
        &self,
        sha256: &str,
        text: &str,
        what: &str,
        words: usize,
    ) -> Result<(String, Provenance), StepError> {
        let owned = text.to_owned();
        let what_owned = what.to_owned();
        let (summary, p) = cached(
            self.store.as_ref(),
            sha256,
            &format!("{what}.summary"),
            &self.chat.info,
            json!({ "prompt": "summary-v1", "max_words": words, "piece_chars": SUMMARY_PIECE_CHARS, "temperature": 0.0 }),
            async move {
                let mut pieces: Vec<String> = split_pieces(&owned, SUMMARY_PIECE_CHARS);
                for _round in 0..3 {
                    let mut next = Vec::new();
                    for piece in pieces.iter().take(MAX_SUMMARY_PIECES) {
                        next.push(self.summarise_once(piece, &what_owned, words).await?);
                    }
                    if next.len() == 1 {
                        return Ok(next.remove(0));
                    }
                    pieces = split_pieces(&next.join("\n"), SUMMARY_PIECE_CHARS);
                }
                Ok(pieces.join(" "))
            },
        )
        .await?;
        Ok((summary, p))
    }

    async fn summarise_once(
        &self,
        text: &str,
        what: &str,
        words: usize,
    ) -> Result<String, StepError> {
        let messages = vec![
            ChatMessage::system(
                "You write short, faithful summaries. Use only what the text says.",
            ),
            ChatMessage::user(format!(
                "Summarise this {what} in at most {words} words.\n\n{text}"
            )),
        ];
        let g = self
            .chat
            .infer(ChatRequest::new(
                messages,
                GenerateOptions::greedy(words * 2 + 16),
            ))
            .await?;
        note_tokens(&g);
        Ok(cut_words(g.text.trim(), words))
    }

    /// A time-coded summary of a video from its keyframes and transcript.
    async fn video_summary(
        &self,
        keyframes: &[serde_json::Value],
        transcript: Option<&Transcript>,
        provenance: &mut Vec<Provenance>,
    ) -> Result<String, StepError> {
        let mut facts = String::new();
        for k in keyframes {
            let t = k["time"].as_f64().unwrap_or_default();
            let labels: Vec<&str> = k["labels"]
                .as_array()
                .map(|a| a.iter().filter_map(|l| l["name"].as_str()).collect())
                .unwrap_or_default();
            facts.push_str(&format!("[{}] scene: {}", timecode(t), labels.join(", ")));
            let ocr = k["ocr_text"].as_str().unwrap_or_default().trim();
            if !ocr.is_empty() {
                facts.push_str(&format!(
                    "; on screen: \"{}\"",
                    ocr.chars().take(200).collect::<String>()
                ));
            }
            facts.push('\n');
        }
        if let Some(t) = transcript {
            for s in t.segments.iter().take(60) {
                facts.push_str(&format!(
                    "[{}] said: {}\n",
                    timecode(s.start as f64),
                    s.text.trim()
                ));
            }
        }
        let facts: String = facts.chars().take(6000).collect();
        self.composed(
            "video.summary",
            "video-summary-v1",
            "You summarise videos from notes about them. Write a few lines, each starting with a time code like [0:05], using only the notes.",
            format!("Notes:\n{facts}\nWrite the time-coded summary."),
            &facts,
            200,
            provenance,
        )
        .await
    }

    /// Text the LLM composes from `facts` (greedy), cached by the facts themselves: the same
    /// findings give the same text without running the model again.
    #[allow(clippy::too_many_arguments)]
    async fn composed(
        &self,
        step: &str,
        prompt: &str,
        system: &str,
        user: String,
        facts: &str,
        max_tokens: usize,
        provenance: &mut Vec<Provenance>,
    ) -> Result<String, StepError> {
        let messages = vec![ChatMessage::system(system), ChatMessage::user(user)];
        let (text, p) = cached(
            self.store.as_ref(),
            &sha256_hex(facts.as_bytes()),
            step,
            &self.chat.info,
            json!({ "prompt": prompt, "temperature": 0.0, "max_tokens": max_tokens }),
            async {
                let g = self
                    .chat
                    .infer(ChatRequest::new(
                        messages,
                        GenerateOptions::greedy(max_tokens),
                    ))
                    .await?;
                note_tokens(&g);
                Ok(g.text.trim().to_owned())
            },
        )
        .await?;
        provenance.push(p);
        Ok(text)
    }

    /// Embeds a derived text window by window (cached by the text's own hash).
    pub async fn embed_text(
        &self,
        input_sha256: &str,
        source: &str,
        text: &str,
        provenance: &mut Vec<Provenance>,
    ) -> Result<Vec<EmbeddedChunk>, StepError> {
        if text.trim().is_empty() {
            return Ok(Vec::new());
        }
        let key = if source == "text" {
            input_sha256.to_owned()
        } else {
            sha256_hex(text.as_bytes())
        };
        let chunker = self.embeddings.chunker.get()?;
        let owned = text.to_owned();
        let instance = self.embeddings.instance.clone();
        let source_name = source.to_owned();
        let (chunks, p) = cached(
            self.store.as_ref(),
            &key,
            "text.embeddings",
            &self.embeddings.info,
            json!({ "window_tokens": 256, "overlap_tokens": 32, "pooling": "mean", "normalised": true }),
            async move {
                let chunks = tokio::task::spawn_blocking(move || chunker.chunks(&owned))
                    .await
                    .map_err(|e| StepError::internal(e.to_string()))?
                    .map_err(|e| StepError::internal(e.to_string()))?;
                let asks = chunks
                    .iter()
                    .map(|c| instance.send(Infer::<Embedder>(c.text.clone())));
                let mut out = Vec::with_capacity(chunks.len());
                for (c, answer) in chunks.iter().zip(join_all(asks).await) {
                    let vector = answer
                        .map_err(|e| StepError::internal(e.to_string()))?
                        .map_err(StepError::from)?;
                    out.push(EmbeddedChunk {
                        source: source_name.clone(),
                        start: c.start,
                        end: c.end,
                        vector,
                    });
                }
                Ok(out)
            },
        )
        .await?;
        provenance.push(p);
        Ok(chunks)
    }
}

/// Pieces of text the LLM summarises at once, in characters (about 1,000 tokens).
const SUMMARY_PIECE_CHARS: usize = 4000;
/// The most pieces summarised per round; the rest of a very long text is left out.
const MAX_SUMMARY_PIECES: usize = 16;

/// A label as the item shows it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LabelOut {
    pub index: usize,
    pub name: String,
    pub score: f32,
}

/// The text read in an image, line by line in reading order, with boxes (corners TL, TR, BR,
/// BL in pixels of the image).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct OcrOut {
    pub text: String,
    pub lines: Vec<OcrLineOut>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct OcrLineOut {
    pub text: String,
    pub score: f32,
    #[serde(rename = "box")]
    pub bbox: [[f32; 2]; 4],
}

fn exif_json(e: &ExifFacts) -> serde_json::Value {
    json!({
        "captured_at": e.captured_at,
        "camera_make": e.camera_make,
        "camera_model": e.camera_model,
        "orientation": e.orientation,
        "gps": e.gps.map(|g| json!({ "latitude": g.latitude, "longitude": g.longitude })),
    })
}

/// The text derived from an image, for its embeddings.
fn derived_text(labels: &[LabelOut], ocr: &str, description: &str) -> String {
    let names: Vec<&str> = labels.iter().map(|l| l.name.as_str()).collect();
    format!("{}\n{}\n{}", names.join(", "), ocr, description)
}

/// Splits text into pieces of at most `max` characters, at paragraph, sentence or word ends.
fn split_pieces(text: &str, max: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    for word in text.split_inclusive(char::is_whitespace) {
        if current.chars().count() + word.chars().count() > max && !current.trim().is_empty() {
            pieces.push(std::mem::take(&mut current).trim().to_owned());
        }
        current.push_str(word);
    }
    if !current.trim().is_empty() {
        pieces.push(current.trim().to_owned());
    }
    pieces
}

fn cut_words(text: &str, max: usize) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() <= max {
        return words.join(" ");
    }
    words[..max].join(" ")
}

/// `m:ss` (or `h:mm:ss`).
fn timecode(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// Runs CPU work off the async loop.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StepError> + Send + 'static,
) -> Result<T, StepError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StepError::internal(e.to_string()))?
}

fn vision_error(e: VisionError) -> StepError {
    if e.is_input_error() {
        StepError::bad_input(e.code(), e.to_string())
    } else {
        StepError::transient(e.code(), e.to_string())
    }
}

fn audio_error(e: AudioError) -> StepError {
    match e {
        AudioError::Runtime(_) => StepError::transient(e.code(), e.to_string()),
        _ => StepError::bad_input(e.code(), e.to_string()),
    }
}

fn media_error(e: MediaError) -> StepError {
    if e.is_client_error() {
        StepError::bad_input(e.code(), e.to_string())
    } else {
        StepError::transient(e.code(), e.to_string())
    }
}

/// Reads an item's text (UTF-8, invalid sequences replaced), at most [`MAX_TEXT_BYTES`].
async fn read_text(path: PathBuf) -> Result<String, StepError> {
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let f = std::fs::File::open(&path).map_err(|e| StepError::internal(e.to_string()))?;
        let mut bytes = Vec::new();
        f.take(MAX_TEXT_BYTES)
            .read_to_end(&mut bytes)
            .map_err(|e| StepError::internal(e.to_string()))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    })
    .await
    .map_err(|e| StepError::internal(e.to_string()))?
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}
