//! How people reach this deployment, from `server.public_url`: whether cookies are `Secure`
//! and HSTS is sent. It follows the configuration, never a request's headers, which anyone can
//! write.

use actix_web::{web, HttpRequest};

use crate::config::Settings;

/// HSTS for a year once the deployment says it is served over HTTPS.
pub const HSTS: &str = "max-age=31536000";

#[derive(Debug, Clone, Default)]
pub struct Site {
    /// People reach Tessera over HTTPS (`server.public_url` starts with `https://`).
    pub https: bool,
    /// The public URL, without a trailing slash.
    pub public_url: Option<String>,
}

impl Site {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            https: settings.serves_https(),
            public_url: settings
                .server
                .public_url
                .as_deref()
                .map(|u| u.trim_end_matches('/').to_owned()),
        }
    }

    /// The site a request is served for (the default, plain HTTP, when none is registered).
    pub fn of(req: &HttpRequest) -> Site {
        req.app_data::<web::Data<Site>>()
            .map(|s| s.get_ref().clone())
            .unwrap_or_default()
    }
}
