//! How people reach this deployment, from `server.public_url`: whether cookies are `Secure`
//! and HSTS is sent, and which origin a browser page must come from to use the session cookie.
//! It follows the configuration, never a request's headers, which anyone can write.

use actix_web::http::header;
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

    /// The origin pages of this site have (`scheme://host[:port]`), when configured.
    fn origin(&self) -> Option<&str> {
        let url = self.public_url.as_deref()?;
        let (scheme, rest) = url.split_once("://")?;
        let host = rest.split('/').next().unwrap_or(rest);
        Some(&url[..scheme.len() + 3 + host.len()])
    }
}

/// Whether the page that sent `req` is one of this site's, by its `Origin` (or, lacking one,
/// its `Referer`): `None` when the request names neither, as clients that are not browsers do.
///
/// The page must come from `server.public_url`'s origin when that is set; otherwise its host
/// must be the host the request was sent to.
pub fn same_origin(req: &HttpRequest) -> Option<bool> {
    let named = req
        .headers()
        .get(header::ORIGIN)
        .or_else(|| req.headers().get(header::REFERER))?;
    let Ok(named) = named.to_str() else {
        return Some(false);
    };
    // An origin, or a referring URL cut to its origin.
    let Some((scheme, rest)) = named.split_once("://") else {
        return Some(false);
    };
    let host = rest.split('/').next().unwrap_or(rest);
    let origin = &named[..scheme.len() + 3 + host.len()];
    Some(match Site::of(req).origin() {
        Some(ours) => origin.eq_ignore_ascii_case(ours),
        None => host.eq_ignore_ascii_case(req.connection_info().host()),
    })
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn site(url: Option<&str>) -> web::Data<Site> {
        web::Data::new(Site {
            https: url.is_some_and(|u| u.starts_with("https")),
            public_url: url.map(str::to_owned),
        })
    }

    #[test]
    fn pages_of_this_host_or_of_the_public_url_are_ours() {
        let req = |headers: &[(&str, &str)], url: Option<&str>| {
            let mut r = TestRequest::default()
                .insert_header(("host", "tessera.local:8080"))
                .app_data(site(url));
            for h in headers {
                r = r.insert_header(*h);
            }
            r.to_http_request()
        };
        assert_eq!(same_origin(&req(&[], None)), None);
        let ours = [("origin", "http://tessera.local:8080")];
        assert_eq!(same_origin(&req(&ours, None)), Some(true));
        let evil = [("origin", "https://evil.example")];
        assert_eq!(same_origin(&req(&evil, None)), Some(false));
        assert_eq!(same_origin(&req(&[("origin", "null")], None)), Some(false));
        let referer = [("referer", "http://tessera.local:8080/library?q=x")];
        assert_eq!(same_origin(&req(&referer, None)), Some(true));
        // With a public URL, the page's origin must be exactly it (scheme included).
        let url = Some("https://tessera.example.com/");
        let public = [("origin", "https://tessera.example.com")];
        assert_eq!(same_origin(&req(&public, url)), Some(true));
        let plain = [("origin", "http://tessera.example.com")];
        assert_eq!(same_origin(&req(&plain, url)), Some(false));
        assert_eq!(same_origin(&req(&ours, url)), Some(false));
    }
}
