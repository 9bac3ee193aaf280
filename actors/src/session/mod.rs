//! Live WebSocket sessions: the per-node registry, the per-socket actor, and the wire protocol.

mod actor;
mod auth;
pub mod protocol;
mod registry;
mod settings;
mod writer;

pub use actor::{start_session, SessionActor, SessionOptions};
pub use auth::{SessionUser, TokenVerifier};
pub use protocol::{Topic, Topics};
pub use registry::{
    GetRegistryStatus, Register, Registered, RegistryError, RegistryStatus, SessionRegistry,
    ToSession, Unregister,
};
pub use settings::SessionSettings;
