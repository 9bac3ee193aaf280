//! Content calls on the test application: multipart uploads, raw downloads, and what the upload
//! left in the log and on disk.

use reqwest::multipart::{Form, Part};
use reqwest::Method;
use serde_json::Value;

use crate::app::{Reply, TestApp};

/// A multipart form with a `file` part and optional text parts.
pub fn form(bytes: Vec<u8>, filename: &str, fields: &[(&str, &str)]) -> Form {
    let mut f = Form::new().part(
        "file",
        Part::bytes(bytes)
            .file_name(filename.to_owned())
            .mime_str("application/octet-stream")
            .expect("mime"),
    );
    for (k, v) in fields {
        f = f.text(k.to_string(), v.to_string());
    }
    f
}

impl TestApp {
    /// `POST /api/content` with a form.
    pub async fn upload_form(&self, access: &str, form: Form, key: Option<&str>) -> Reply {
        let mut r = self
            .request(Method::POST, "/api/content")
            .bearer_auth(access)
            .multipart(form);
        if let Some(k) = key {
            r = r.header("Idempotency-Key", k);
        }
        self.send(r).await
    }

    /// Uploads bytes; panics unless the server created an item. Returns it.
    pub async fn upload(&self, access: &str, bytes: Vec<u8>, filename: &str) -> Value {
        let reply = self
            .upload_form(access, form(bytes, filename, &[]), None)
            .await;
        assert_eq!(reply.status, 201, "upload of {filename}: {:?}", reply.body);
        reply.body
    }

    /// The raw bytes of a GET, with status and headers.
    pub async fn get_bytes(
        &self,
        path: &str,
        access: &str,
        headers: &[(&str, &str)],
    ) -> (reqwest::StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
        let mut r = self.get(path).bearer_auth(access);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        let res = r.send().await.expect("request");
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.bytes().await.expect("body").to_vec();
        (status, headers, body)
    }

    /// Every event of a type, as (stream id, payload).
    pub async fn events_of_type(&self, event_type: &str) -> Vec<(String, Value)> {
        sqlx::query_as(
            "SELECT stream_id, payload FROM events WHERE event_type = $1 ORDER BY global_position",
        )
        .bind(event_type)
        .fetch_all(&self.db.pool)
        .await
        .expect("reading events")
    }

    /// Files (not folders) under the app's data folder's `sub` path, recursively.
    pub fn files_under(&self, sub: &str) -> Vec<std::path::PathBuf> {
        fn walk(p: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            if let Ok(rd) = std::fs::read_dir(p) {
                for e in rd.flatten() {
                    let path = e.path();
                    if path.is_dir() {
                        walk(&path, out);
                    } else {
                        out.push(path);
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.data_dir.0.join(sub), &mut out);
        out
    }
}
