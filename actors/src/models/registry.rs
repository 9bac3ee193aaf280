//! `ModelRegistry`: keeps the node's loaded models within a memory budget. Every instance tells
//! it when it loads; when the loaded total goes over the budget, the registry unloads the idle
//! instances that were used least recently until the total fits again. (The thread budget, the
//! other shared limit, is a semaphore every instance takes a permit of per batch.) Every instance
//! registers when it starts, so an administrator can load or unload any model by name.

use std::collections::HashMap;

use actix::prelude::*;
use futures_util::future::join_all;

use super::instance::{GetInstanceStatus, InferError, InstanceStatus, LoadNow, UnloadIfIdle};

/// An instance started.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Register {
    pub model: String,
    pub instance: InstanceControls,
}

/// An instance loaded its model.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Loaded {
    pub model: String,
    pub memory_mb: u64,
}

/// How the registry reaches an instance.
#[derive(Clone)]
pub struct InstanceControls {
    pub status: Recipient<GetInstanceStatus>,
    pub load: Recipient<LoadNow>,
    pub unload: Recipient<UnloadIfIdle>,
}

/// Why an administrator's load or unload did not happen.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ControlError {
    #[error("no model named {0} runs on this node")]
    Unknown(String),
    #[error("model {0} is answering requests; try again when it is idle")]
    Busy(String),
    #[error(transparent)]
    Infer(#[from] InferError),
}

/// Load a model now (`Ok(true)`: it loaded; `Ok(false)`: it already was in memory).
#[derive(Message)]
#[rtype(result = "Result<bool, ControlError>")]
pub struct LoadModel(pub String);

/// Unload a model now if it is idle (`Ok(true)`: it unloaded; `Ok(false)`: it was not loaded).
#[derive(Message)]
#[rtype(result = "Result<bool, ControlError>")]
pub struct UnloadModel(pub String);

/// Asks for the budget and what is loaded.
#[derive(Message)]
#[rtype(result = "RegistryReport")]
pub struct GetRegistryReport;

/// The registry's view.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RegistryReport {
    pub budget_mb: u64,
    pub loaded: Vec<String>,
    pub loaded_mb: u64,
    pub unloads_for_memory: u64,
}

/// The memory keeper.
pub struct ModelRegistry {
    budget_mb: u64,
    /// Every instance of the node, loaded or not.
    instances: HashMap<String, InstanceControls>,
    /// What is loaded, and its memory.
    loaded: HashMap<String, u64>,
    unloads: u64,
}

impl ModelRegistry {
    pub fn new(budget_mb: u64) -> Self {
        ModelRegistry {
            budget_mb,
            instances: HashMap::new(),
            loaded: HashMap::new(),
            unloads: 0,
        }
    }

    fn controls(&self, model: &str) -> Result<InstanceControls, ControlError> {
        self.instances
            .get(model)
            .cloned()
            .ok_or_else(|| ControlError::Unknown(model.to_owned()))
    }

    fn total(&self) -> u64 {
        self.loaded.values().sum()
    }
}

impl Actor for ModelRegistry {
    type Context = Context<Self>;
}

impl Handler<Register> for ModelRegistry {
    type Result = ();

    fn handle(&mut self, msg: Register, _: &mut Context<Self>) {
        self.instances.insert(msg.model, msg.instance);
    }
}

impl Handler<LoadModel> for ModelRegistry {
    type Result = ResponseFuture<Result<bool, ControlError>>;

    fn handle(&mut self, msg: LoadModel, _: &mut Context<Self>) -> Self::Result {
        let controls = self.controls(&msg.0);
        Box::pin(async move {
            let controls = controls?;
            let outcome = controls
                .load
                .send(LoadNow)
                .await
                .map_err(|_| InferError::Stopped(msg.0.clone()))?;
            Ok(outcome?)
        })
    }
}

impl Handler<UnloadModel> for ModelRegistry {
    type Result = ResponseActFuture<Self, Result<bool, ControlError>>;

    fn handle(&mut self, msg: UnloadModel, _: &mut Context<Self>) -> Self::Result {
        let controls = self.controls(&msg.0);
        let name = msg.0;
        Box::pin(
            async move {
                let controls = controls?;
                let status = controls
                    .status
                    .send(GetInstanceStatus)
                    .await
                    .map_err(|_| InferError::Stopped(name.clone()))?;
                if !status.loaded {
                    return Ok((name, false));
                }
                match controls.unload.send(UnloadIfIdle).await {
                    Ok(true) => Ok((name, true)),
                    Ok(false) => Err(ControlError::Busy(name)),
                    Err(_) => Err(InferError::Stopped(name).into()),
                }
            }
            .into_actor(self)
            .map(|outcome, act, _| {
                let (name, unloaded) = outcome?;
                act.loaded.remove(&name);
                if unloaded {
                    tracing::info!(model = %name, "model unloaded by an administrator");
                }
                Ok(unloaded)
            }),
        )
    }
}

impl Handler<Loaded> for ModelRegistry {
    type Result = ();

    fn handle(&mut self, msg: Loaded, ctx: &mut Context<Self>) {
        let newest = msg.model.clone();
        self.loaded.insert(msg.model, msg.memory_mb);
        if self.total() <= self.budget_mb {
            return;
        }
        let others: Vec<(String, InstanceControls)> = self
            .loaded
            .keys()
            .filter(|name| **name != newest)
            .filter_map(|name| Some((name.clone(), self.instances.get(name)?.clone())))
            .collect();
        let asks = others.into_iter().map(|(name, i)| async move {
            let status: Option<InstanceStatus> = i.status.send(GetInstanceStatus).await.ok();
            (name, i, status)
        });
        ctx.spawn(join_all(asks).into_actor(self).then(|mut found, act, _| {
            // Forget what unloaded itself meanwhile; most idle first.
            found.retain(|(name, _, s)| match s {
                Some(s) if s.loaded => true,
                _ => {
                    act.loaded.remove(name);
                    false
                }
            });
            found.sort_by_key(|(_, _, s)| std::cmp::Reverse(s.as_ref().map_or(0, |s| s.idle_ms)));
            let excess = act.total().saturating_sub(act.budget_mb);
            let mut freed = 0;
            let mut chosen = Vec::new();
            for (name, i, _) in found {
                if freed >= excess {
                    break;
                }
                if let Some(mb) = act.loaded.get(&name) {
                    freed += *mb;
                    chosen.push((name, i));
                }
            }
            async move {
                let mut unloaded = Vec::new();
                for (name, i) in chosen {
                    if i.unload.send(UnloadIfIdle).await.unwrap_or(false) {
                        unloaded.push(name);
                    }
                }
                unloaded
            }
            .into_actor(act)
            .map(|unloaded, act, _| {
                for name in unloaded {
                    tracing::info!(model = %name, budget_mb = act.budget_mb, "model unloaded to stay within the memory budget");
                    act.loaded.remove(&name);
                    act.unloads += 1;
                }
            })
        }));
    }
}

impl Handler<GetRegistryReport> for ModelRegistry {
    type Result = MessageResult<GetRegistryReport>;

    fn handle(&mut self, _: GetRegistryReport, _: &mut Context<Self>) -> Self::Result {
        let mut loaded: Vec<String> = self.loaded.keys().cloned().collect();
        loaded.sort();
        MessageResult(RegistryReport {
            budget_mb: self.budget_mb,
            loaded_mb: self.total(),
            loaded,
            unloads_for_memory: self.unloads,
        })
    }
}
