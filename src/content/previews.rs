//! The preview worker: thumbnails for images, a waveform for audio, a poster frame for video.
//! Runs after the upload is acknowledged; results (or the reason there are none) are events, so
//! a rebuild of the read model recomputes nothing. A periodic pass picks up items a crashed or
//! busy node left pending; the item's stream version makes a second result a no-op. The node's
//! supervisor hosts the worker ([`PreviewWorker`]) and restarts it when it fails.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use tessera_actors::{panic_message, stop_requested, HostedJob, JobResult};
use tessera_events::content::{
    content_stream, usage_stream, ContentCommand, ContentError, Ledger, LedgerCommand, Modality,
    PreviewImage, Previews,
};
use tessera_events::{
    aggregate::Aggregate, AppendRequest, CommandContext, EventStore, ExpectedVersion, UserId,
};
use tessera_models::media;
use tokio::sync::{mpsc, watch, Mutex, Semaphore};
use uuid::Uuid;

use super::error::ContentFailure;
use super::service::ContentService;
use crate::blob::BlobKey;
use tessera_actors::HasErrorCode;
use tessera_events::{ContentId, ErrorCode};

/// Previews made at once per node: one, so that on a small machine decoding images and running
/// ffmpeg leaves a core to the requests (previews are not on any request's path).
const PARALLEL: usize = 1;

/// The preview worker, for the node's supervisor to host. New uploads reach it through the
/// service's queue, which outlives a run, so a restart loses none; every `rescan` it looks for
/// items left pending.
pub struct PreviewWorker {
    service: ContentService,
    rescan: Duration,
    queue: Arc<Mutex<mpsc::UnboundedReceiver<Uuid>>>,
}

impl PreviewWorker {
    /// A worker for `service`; new uploads are queued for it from now on.
    pub fn new(service: ContentService, rescan: Duration) -> Self {
        let (tx, rx) = mpsc::unbounded_channel::<Uuid>();
        service.set_preview_queue(tx);
        Self {
            service,
            rescan,
            queue: Arc::new(Mutex::new(rx)),
        }
    }
}

impl HostedJob for PreviewWorker {
    fn name(&self) -> &str {
        "previews"
    }

    fn run(&self, shutdown: watch::Receiver<bool>) -> BoxFuture<'static, JobResult> {
        let (service, queue) = (self.service.clone(), self.queue.clone());
        work(service, self.rescan, queue, shutdown).boxed()
    }
}

/// One run of the worker: until asked to stop.
async fn work(
    service: ContentService,
    rescan: Duration,
    queue: Arc<Mutex<mpsc::UnboundedReceiver<Uuid>>>,
    mut shutdown: watch::Receiver<bool>,
) -> JobResult {
    // A run that ended (a panic) gave the queue back as it unwound.
    let mut rx = queue.lock().await;
    let limit = Arc::new(Semaphore::new(PARALLEL));
    let mut tick = tokio::time::interval(rescan);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut in_flight = tokio::task::JoinSet::new();
    loop {
        let ids = tokio::select! {
            _ = stop_requested(&mut shutdown) => return Ok(()),
            Some(id) = rx.recv() => vec![id],
            _ = tick.tick() => pending(&service, rescan).await,
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => continue,
        };
        for id in ids {
            let permit = limit
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| e.to_string())?;
            let service = service.clone();
            in_flight.spawn(async move {
                wait_for_quiet(&service).await;
                // One item's panic is that item's failure, not the worker's: the others go on.
                match std::panic::AssertUnwindSafe(make(&service, id))
                    .catch_unwind()
                    .await
                {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, %id, "previews failed"),
                    Err(panic) => tracing::error!(
                        error = %panic_message(panic),
                        %id,
                        "making previews panicked"
                    ),
                }
                drop(permit);
            });
        }
    }
}

/// Waits (a bounded time) until no upload has started or finished for a moment: previews are
/// not on any request's path, acknowledgements are.
async fn wait_for_quiet(service: &ContentService) {
    const QUIET: Duration = Duration::from_millis(300);
    const AT_MOST: Duration = Duration::from_secs(10);
    let started = Instant::now();
    while service.quiet_for() < QUIET && started.elapsed() < AT_MOST {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Items left pending for longer than `age` (by a crash, or by another busy node).
async fn pending(service: &ContentService, age: Duration) -> Vec<Uuid> {
    let before = Utc::now() - chrono::Duration::from_std(age).unwrap_or_default();
    match tessera_projections::read_models::content::pending_previews(service.pool(), before, 100)
        .await
    {
        Ok(rows) => rows.into_iter().map(|r| r.id).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "listing pending previews failed");
            Vec::new()
        }
    }
}

/// Makes and records the previews of one item (nothing if it has them or is gone).
pub async fn make(service: &ContentService, id: Uuid) -> Result<(), ContentFailure> {
    let f = service.fold(ContentId(id)).await?;
    let Some(u) = f.state.uploaded.clone() else {
        return Ok(());
    };
    if !f.state.exists() || f.state.previews.is_some() || f.state.preview_failure.is_some() {
        return Ok(());
    }
    if u.modality == Modality::Text {
        return Ok(());
    }
    let limits = service.limits(u.owner).await?;
    let ledger = Ledger::load(service.store(), &usage_stream(u.owner)).await?;
    if let Err(e) = ledger
        .state
        .check_processing(Utc::now().date_naive(), limits)
    {
        return record_failure(
            service,
            id,
            ErrorCode::ProcessingQuotaExceeded,
            &e.to_string(),
        )
        .await;
    }
    // The probe and the tools read files: the original as a local file (a link to it, from
    // the filesystem store).
    let key = BlobKey::new(&u.blob_key)?;
    let file = crate::blob::fetch_to_temp(
        service.blobs().as_ref(),
        &key,
        service.tmp_dir(),
        "preview-",
    )
    .await?;
    let started = Instant::now();
    let settings = service.settings().clone();
    let path = file.to_path_buf();
    let modality = u.modality;
    let made = in_background(move || produce(&path, modality, &settings)).await?;
    let produced = match made {
        Ok(p) => p,
        Err(e) if e.is_client_error() => {
            return record_failure(service, id, e.error_code(), &e.to_string()).await;
        }
        Err(e) => return Err(e.into()),
    };
    let mut images = Vec::new();
    for (name, shot) in produced.images {
        let key = BlobKey::new(&format!("previews/{}/{name}.jpg", u.sha256))?;
        let size = shot.bytes.len() as u64;
        service
            .blobs()
            .put(&key, Bytes::from(shot.bytes), &shot.mime)
            .await?;
        images.push(PreviewImage {
            name,
            key: key.to_string(),
            mime: shot.mime,
            width: shot.width,
            height: shot.height,
            size,
        });
    }
    let processing_ms = started.elapsed().as_millis() as u64;
    let previews = Previews {
        images,
        waveform: produced.waveform,
        processing_ms,
    };
    record(service, id, u.owner.into_inner(), modality, previews).await
}

/// How much nicer than the server a preview thread (and the ffmpeg it starts) is to the CPU.
const NICENESS: i32 = 19;

/// Runs `work` on a thread of its own at a lower scheduling priority: a preview started while
/// the node was quiet keeps going when requests arrive, and on a busy machine they come first.
/// Processes started from the thread (ffmpeg) inherit its priority.
async fn in_background<T, F>(work: F) -> Result<T, ContentFailure>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("previews".into())
        .spawn(move || {
            tessera_models::process::lower_thread_priority(NICENESS);
            let _ = tx.send(work());
        })
        .map_err(|e| ContentFailure::Internal(format!("starting a preview thread: {e}")))?;
    rx.await
        .map_err(|_| ContentFailure::Internal("the preview thread stopped".into()))
}

struct Shot {
    mime: String,
    width: u32,
    height: u32,
    bytes: Vec<u8>,
}

#[derive(Default)]
struct Produced {
    images: Vec<(String, Shot)>,
    waveform: Option<Vec<f32>>,
}

fn produce(
    path: &std::path::Path,
    modality: Modality,
    settings: &super::ContentSettings,
) -> Result<Produced, media::MediaError> {
    let limits = settings.media_limits();
    let mut out = Produced::default();
    match modality {
        Modality::Image => {
            for t in media::image_thumbnails(path, &settings.thumbnail_sizes, &limits)? {
                out.images.push((
                    format!("thumb-{}", t.max_side),
                    Shot {
                        mime: t.mime,
                        width: t.width,
                        height: t.height,
                        bytes: t.bytes,
                    },
                ));
            }
        }
        Modality::Audio => {
            out.waveform = Some(media::waveform_peaks(
                path,
                settings.waveform_buckets,
                &limits,
            )?);
        }
        Modality::Video => {
            let probed = media::probe(path, &limits)?;
            let poster = media::video_poster(path, &probed, &limits)?;
            out.images.push((
                "poster".to_owned(),
                Shot {
                    mime: "image/jpeg".to_owned(),
                    width: poster.width,
                    height: poster.height,
                    bytes: poster.bytes,
                },
            ));
        }
        Modality::Text => {}
    }
    Ok(out)
}

/// Appends the previews and the processing time in one append (the item's stream and the
/// owner's ledger), retrying when either moved.
async fn record(
    service: &ContentService,
    id: Uuid,
    owner: Uuid,
    modality: Modality,
    previews: Previews,
) -> Result<(), ContentFailure> {
    let cs = content_stream(id);
    let us = usage_stream(owner);
    let mut c = CommandContext::new(None);
    c.metadata.node = Some(service.node().to_owned());
    for _ in 0..8 {
        let f = service.fold(ContentId(id)).await?;
        let events = match f
            .state
            .decide(ContentCommand::RecordPreviews(previews.clone()))
        {
            Ok(e) if e.is_empty() => return Ok(()),
            Ok(e) => e,
            Err(ContentError::NotFound) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let _ledger = service.lock_ledger(owner.into()).await;
        let ledger = Ledger::load(service.store(), &us).await?;
        let usage = ledger.state.decide(LedgerCommand::RecordProcessing {
            content_id: Some(ContentId(id)),
            modality,
            processing_ms: previews.processing_ms,
            today: Utc::now().date_naive(),
        })?;
        let requests = vec![
            AppendRequest {
                stream: cs.clone(),
                expected: ExpectedVersion::Exact(f.version),
                events: c.to_event_data(&cs, &events, Some(UserId(owner)))?,
            },
            AppendRequest {
                stream: us.clone(),
                expected: if ledger.version == 0 {
                    ExpectedVersion::NoStream
                } else {
                    ExpectedVersion::Exact(ledger.version)
                },
                events: c.to_event_data(&us, &usage, Some(UserId(owner)))?,
            },
        ];
        match service.store().append_many(requests).await {
            Ok(_) => return Ok(()),
            Err(e) if e.is_concurrency_conflict() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ContentFailure::Internal(
        "recording previews kept conflicting".into(),
    ))
}

async fn record_failure(
    service: &ContentService,
    id: Uuid,
    code: ErrorCode,
    message: &str,
) -> Result<(), ContentFailure> {
    let mut c = CommandContext::new(None);
    c.metadata.node = Some(service.node().to_owned());
    let stream = content_stream(id);
    let f = service.fold(ContentId(id)).await?;
    let owner = f.state.owner().map(UserId::into_inner);
    let events = match f.state.decide(ContentCommand::RecordPreviewFailure {
        code: code.as_str().to_owned(),
        message: message.to_owned(),
    }) {
        Ok(e) if e.is_empty() => return Ok(()),
        Ok(e) => e,
        Err(ContentError::NotFound) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let data = c.to_event_data(&stream, &events, owner.map(UserId))?;
    match service
        .store()
        .append(&stream, ExpectedVersion::Exact(f.version), data)
        .await
    {
        Ok(_) => Ok(()),
        // Someone else recorded a result first.
        Err(e) if e.is_concurrency_conflict() => Ok(()),
        Err(e) => Err(e.into()),
    }
}
