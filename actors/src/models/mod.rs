//! The model side of the actor tree: one [`ModelInstance`] per model, and the
//! [`ModelRegistry`] that keeps what is loaded within the node's memory budget.

pub mod instance;
pub mod registry;

pub use instance::{
    GetInstanceStatus, Infer, InferError, InstanceOptions, InstanceStatus, Loader, ModelInstance,
    UnloadIfIdle,
};
pub use registry::{GetRegistryReport, Loaded, LoadedInstance, ModelRegistry, RegistryReport};
