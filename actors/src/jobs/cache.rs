//! Model outputs cached in the event log, keyed by (input sha256, model id and version,
//! parameters): the same bytes analysed twice, by anyone, run the model once.

use std::future::Future;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;
use tessera_events::jobs::{result_key, result_stream, Provenance, ResultEvent};
use tessera_events::{CommandContext, DomainEvent, EventStore, ExpectedVersion};

use super::StepError;

/// What identifies a model in provenance and cache keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    pub id: String,
    pub version: String,
    /// sha256 of the model's main file.
    pub sha256: String,
}

impl ModelInfo {
    /// The provenance of `step` run now with `parameters` for `took`.
    pub fn provenance(
        &self,
        step: &str,
        parameters: &impl Serialize,
        took: Duration,
    ) -> Result<Provenance, StepError> {
        Ok(Provenance {
            step: step.to_owned(),
            model_id: self.id.clone(),
            model_version: self.version.clone(),
            model_sha256: self.sha256.clone(),
            parameters: serde_json::to_value(parameters)
                .map_err(|e| StepError::internal(e.to_string()))?,
            run_ms: took.as_millis() as u64,
            cached: false,
        })
    }
}

/// Returns the cached output of `step` for these inputs, or computes, records and returns it.
/// The `parameters` are part of the key: serialised, they must not change for the same work.
pub async fn cached<T, P, F>(
    store: &dyn EventStore,
    input_sha256: &str,
    step: &str,
    model: &ModelInfo,
    parameters: &P,
    compute: F,
) -> Result<(T, Provenance), StepError>
where
    T: Serialize + DeserializeOwned,
    P: Serialize,
    F: Future<Output = Result<T, StepError>>,
{
    let params = serde_json::to_value(parameters)
        .map_err(|e| StepError::internal(e.to_string()))?
        .to_string();
    let key = result_key(
        input_sha256,
        &model.id,
        &model.version,
        &format!("{step}:{params}"),
    );
    let stream = result_stream(&key);
    if let Some(found) = read(store, &stream).await? {
        return Ok(found);
    }
    let started = Instant::now();
    let output = compute.await?;
    let provenance = model.provenance(step, parameters, started.elapsed())?;
    let event = ResultEvent::Computed {
        key,
        provenance: provenance.clone(),
        output: serde_json::to_value(&output).map_err(|e| StepError::internal(e.to_string()))?,
    };
    let ctx = CommandContext::new(None);
    let data = ctx
        .to_event_data(&stream, &[event], None)
        .map_err(|e| StepError::internal(e.to_string()))?;
    match store.append(&stream, ExpectedVersion::NoStream, data).await {
        Ok(_) => {}
        // Another worker recorded the same result first: either copy is right.
        Err(e) if e.is_concurrency_conflict() => {}
        Err(e) => return Err(StepError::internal(e.to_string())),
    }
    Ok((output, provenance))
}

async fn read<T: DeserializeOwned>(
    store: &dyn EventStore,
    stream: &tessera_events::StreamId,
) -> Result<Option<(T, Provenance)>, StepError> {
    let events = store
        .read_stream(stream, 0, 1)
        .await
        .map_err(|e| StepError::internal(e.to_string()))?;
    let Some(first) = events.first() else {
        return Ok(None);
    };
    let ResultEvent::Computed {
        provenance, output, ..
    } = ResultEvent::decode(first).map_err(|e| StepError::internal(e.to_string()))?;
    // An output of an older shape is recomputed rather than trusted.
    let Ok(value) = serde_json::from_value::<T>(output) else {
        return Ok(None);
    };
    Ok(Some((
        value,
        Provenance {
            cached: true,
            run_ms: 0,
            ..provenance
        },
    )))
}
