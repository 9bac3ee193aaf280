//! `ModelRegistry`: keeps the node's loaded models within a memory budget. Every instance tells
//! it when it loads; when the loaded total goes over the budget, the registry unloads the idle
//! instances that were used least recently until the total fits again. (The thread budget, the
//! other shared limit, is a semaphore every instance takes a permit of per batch.)

use std::collections::HashMap;

use actix::prelude::*;
use futures_util::future::join_all;

use super::instance::{GetInstanceStatus, InstanceStatus, UnloadIfIdle};

/// An instance loaded its model.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Loaded {
    pub model: String,
    pub memory_mb: u64,
    pub instance: LoadedInstance,
}

/// How the registry reaches a loaded instance.
#[derive(Clone)]
pub struct LoadedInstance {
    pub status: Recipient<GetInstanceStatus>,
    pub unload: Recipient<UnloadIfIdle>,
}

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
    loaded: HashMap<String, (u64, LoadedInstance)>,
    unloads: u64,
}

impl ModelRegistry {
    pub fn new(budget_mb: u64) -> Self {
        ModelRegistry {
            budget_mb,
            loaded: HashMap::new(),
            unloads: 0,
        }
    }

    fn total(&self) -> u64 {
        self.loaded.values().map(|(mb, _)| mb).sum()
    }
}

impl Actor for ModelRegistry {
    type Context = Context<Self>;
}

impl Handler<Loaded> for ModelRegistry {
    type Result = ();

    fn handle(&mut self, msg: Loaded, ctx: &mut Context<Self>) {
        let newest = msg.model.clone();
        self.loaded.insert(msg.model, (msg.memory_mb, msg.instance));
        if self.total() <= self.budget_mb {
            return;
        }
        let others: Vec<(String, LoadedInstance)> = self
            .loaded
            .iter()
            .filter(|(name, _)| **name != newest)
            .map(|(name, (_, i))| (name.clone(), i.clone()))
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
                if let Some((mb, _)) = act.loaded.get(&name) {
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
