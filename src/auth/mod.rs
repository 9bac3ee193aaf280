//! Authentication and authorization: accounts, passwords, access and refresh tokens, API keys,
//! login throttling, and the extractors that guard handlers.

mod cache;
pub mod email;
pub mod error;
pub mod extract;
pub mod jwt;
pub mod names;
pub mod password;
pub mod scopes;
pub mod service;
mod session_verifier;
pub mod throttle;
pub mod tokens;

pub use email::EmailAddress;
pub use error::AuthError;
pub use extract::{AdminUser, AuthUser, ACCESS_COOKIE};
pub use service::{
    AuthMethod, AuthService, CreatedApiKey, EffectiveQuota, NewUser, Principal, Profile, SignUp,
    SignedIn, UserPage,
};
pub use session_verifier::SessionVerifier;
