//! The model side of the actor tree: one [`ModelInstance`] per model, and the
//! [`ModelRegistry`] that keeps what is loaded within the node's memory budget.

pub mod instance;
pub mod registry;

pub use instance::{
    GetInstanceStatus, Infer, InferError, InstanceOptions, InstanceStatus, LoadNow, Loader,
    ModelInstance, UnloadIfIdle,
};
pub use registry::{
    ControlError, GetRegistryReport, InstanceControls, LoadModel, Loaded, ModelRegistry, Register,
    RegistryReport, UnloadModel,
};
