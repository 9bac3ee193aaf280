//! The S3 store, for AWS S3 and compatible services (MinIO, ...). Bodies are uploaded as they
//! arrive: in one PUT when smaller than a part, otherwise as a multipart upload of 8 MiB parts.
//!
//! Every call has a time limit and goes through the store's circuit breaker ([`Breaker`]); a
//! download waits on the store at most the request time-out for its next bytes and the time-out
//! plus its size at the slowest tolerated rate in all.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use s3::command::Command;
use s3::creds::Credentials;
use s3::error::S3Error;
use s3::request::tokio_backend::ReqwestRequest;
use s3::request::Request as _;
use s3::serde_types::Part;
use s3::{Bucket, BucketConfiguration, Region};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use super::breaker::{guarded, Breaker};
use super::{
    blocking, concat_parts, resolve_range, validate_prefix, BlobError, BlobKey, BlobMeta, BlobRead,
    BlobStore, ByteStream, S3Settings, Staged,
};

/// The size of a multipart upload's parts (S3 wants at least 5 MiB for all but the last).
const PART_SIZE: usize = 8 * 1024 * 1024;
/// The largest object a single server-side copy may produce.
const MAX_COPY_SIZE: u64 = 5 * 1024 * 1024 * 1024;
const OCTET_STREAM: &str = "application/octet-stream";

/// Blobs as objects in one S3 bucket.
pub struct S3Store {
    bucket: Box<Bucket>,
    /// The same bucket without a whole-request timeout, for reads a slow client may drain slowly.
    streaming: Box<Bucket>,
    endpoint: String,
    breaker: Arc<Breaker>,
    /// Longest wait for one answer, or for a download's next bytes.
    request_timeout: Duration,
    /// The slowest transfer tolerated, in bytes a second.
    min_rate: u64,
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Store")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket.name())
            .finish_non_exhaustive()
    }
}

/// The path rust-s3 expects for a key.
fn path_of(key: &str) -> String {
    format!("/{key}")
}

fn status_of(error: &S3Error) -> Option<u16> {
    match error {
        S3Error::HttpFailWithBody(status, _) => Some(*status),
        _ => None,
    }
}

fn backend(what: &str, error: S3Error) -> BlobError {
    BlobError::Backend(format!("S3 {what} failed: {error}"))
}

/// Maps a 404 to [`BlobError::NotFound`], anything else to [`BlobError::Backend`].
fn not_found_or_backend(what: &str, key: &str, error: S3Error) -> BlobError {
    if status_of(&error) == Some(404) {
        BlobError::NotFound(key.to_owned())
    } else {
        backend(what, error)
    }
}

fn parse_time(
    text: Option<&str>,
    parse: fn(&str) -> chrono::ParseResult<chrono::DateTime<chrono::FixedOffset>>,
) -> chrono::DateTime<chrono::Utc> {
    // An unreadable date counts as "just now", so the garbage collector never takes a fresh
    // object for an old one.
    text.and_then(|t| parse(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(chrono::Utc::now)
}

impl S3Store {
    /// Connects to the bucket, creating it when allowed and missing.
    pub async fn connect(settings: &S3Settings) -> Result<Self, BlobError> {
        let (access, secret) = (
            settings.access_key.expose_secret(),
            settings.secret_key.expose_secret(),
        );
        if settings.endpoint.is_empty() || settings.bucket.is_empty() {
            return Err(BlobError::Backend(
                "the S3 store needs storage.s3.endpoint and storage.s3.bucket".into(),
            ));
        }
        if access.is_empty() || secret.is_empty() {
            return Err(BlobError::Backend(
                "the S3 store needs storage.s3.access_key and storage.s3.secret_key".into(),
            ));
        }
        let region = Region::Custom {
            region: settings.region.clone(),
            endpoint: settings.endpoint.trim_end_matches('/').to_owned(),
        };
        let credentials = Credentials::new(Some(access), Some(secret), None, None, None)
            .map_err(|e| BlobError::Backend(format!("S3 credentials: {e}")))?;
        let mut bucket = Bucket::new(&settings.bucket, region.clone(), credentials.clone())
            .map_err(|e| backend("client set-up", e))?;
        if settings.path_style {
            bucket = bucket.with_path_style();
        }
        let request_timeout = Duration::from_secs(settings.request_timeout_secs.max(1));
        let min_rate = settings.min_bytes_per_sec.max(1);
        let mut streaming = bucket.clone();
        streaming.set_request_timeout(None);
        // One call moves at most a part: its time-out allows a part at the slowest rate.
        bucket.set_request_timeout(Some(
            request_timeout + Duration::from_secs(PART_SIZE as u64 / min_rate),
        ));

        // One cheap listing proves the endpoint, the credentials and the bucket.
        match bucket
            .list_page(String::new(), None, None, None, Some(1))
            .await
        {
            Ok(_) => {}
            Err(e) if status_of(&e) == Some(404) && settings.create_bucket => {
                let config = BucketConfiguration::default();
                let created = if settings.path_style {
                    Bucket::create_with_path_style(&settings.bucket, region, credentials, config)
                        .await
                } else {
                    Bucket::create(&settings.bucket, region, credentials, config).await
                };
                match created {
                    Ok(_) => tracing::info!(bucket = %settings.bucket, "created the S3 bucket"),
                    // Created meanwhile by another node.
                    Err(e) if status_of(&e) == Some(409) => {}
                    Err(e) => return Err(backend("creating the bucket", e)),
                }
            }
            Err(e) if status_of(&e) == Some(404) => {
                return Err(BlobError::Backend(format!(
                    "the S3 bucket {:?} does not exist (and storage.s3.create_bucket is off)",
                    settings.bucket
                )))
            }
            Err(e) => return Err(backend("reaching the bucket", e)),
        }
        tracing::info!(endpoint = %settings.endpoint, bucket = %settings.bucket, "S3 blob store ready");
        Ok(Self {
            bucket,
            streaming,
            endpoint: settings.endpoint.clone(),
            breaker: Arc::new(Breaker::new(Duration::from_secs(
                settings.breaker_cool_down_secs,
            ))),
            request_timeout,
            min_rate,
        })
    }

    /// How long a transfer of `size` bytes may wait on the store in all.
    fn transfer_budget(&self, size: u64) -> Duration {
        self.request_timeout + Duration::from_secs(size / self.min_rate)
    }

    /// Streams `body` into the object `key` through the breaker (each call within its bucket's
    /// time-out).
    async fn upload_guarded<S>(
        &self,
        key: &BlobKey,
        body: S,
        limit: u64,
    ) -> Result<Staged, BlobError>
    where
        S: Stream<Item = Result<Bytes, BlobError>> + Send + Unpin,
    {
        self.breaker.check()?;
        let outcome = self.upload(key, body, limit).await;
        self.breaker.record(&outcome);
        outcome
    }

    /// Streams `body` into the object `key`, hashing it; nothing is left behind on failure.
    async fn upload<S>(&self, key: &BlobKey, mut body: S, limit: u64) -> Result<Staged, BlobError>
    where
        S: Stream<Item = Result<Bytes, BlobError>> + Send + Unpin,
    {
        let path = path_of(key.as_str());
        let mut multipart = Multipart {
            bucket: &self.bucket,
            path: &path,
            upload_id: None,
            parts: Vec::new(),
        };
        let mut hasher = Sha256::new();
        // Untouched capacity costs address space only, so small bodies stay small in memory.
        let mut buffer: Vec<u8> = Vec::with_capacity(PART_SIZE);
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let mut chunk = chunk?;
            size += chunk.len() as u64;
            if size > limit {
                return Err(BlobError::TooLarge { limit });
            }
            while !chunk.is_empty() {
                let take = chunk.len().min(PART_SIZE - buffer.len());
                buffer.extend_from_slice(&chunk.split_to(take));
                if buffer.len() == PART_SIZE {
                    let part = std::mem::replace(&mut buffer, Vec::with_capacity(PART_SIZE));
                    let (h, part) = hash(hasher, part).await?;
                    hasher = h;
                    multipart.send_part(part).await?;
                }
            }
        }
        let (hasher, last) = hash(hasher, buffer).await?;
        if multipart.upload_id.is_none() {
            self.bucket
                .put_object_with_content_type(&path, &last, OCTET_STREAM)
                .await
                .map_err(|e| backend("upload", e))?;
        } else {
            if !last.is_empty() {
                multipart.send_part(last).await?;
            }
            multipart.complete().await?;
        }
        Ok(Staged {
            key: key.clone(),
            size,
            sha256: hex::encode(hasher.finalize()),
        })
    }
}

/// Hashes a part off the executor.
async fn hash(mut hasher: Sha256, part: Vec<u8>) -> Result<(Sha256, Vec<u8>), BlobError> {
    blocking(move || {
        hasher.update(&part);
        Ok((hasher, part))
    })
    .await
}

/// A multipart upload in progress; aborted when dropped before completing.
struct Multipart<'a> {
    bucket: &'a Bucket,
    path: &'a str,
    upload_id: Option<String>,
    parts: Vec<Part>,
}

impl Multipart<'_> {
    async fn send_part(&mut self, part: Vec<u8>) -> Result<(), BlobError> {
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let started = self
                    .bucket
                    .initiate_multipart_upload(self.path, OCTET_STREAM)
                    .await
                    .map_err(|e| backend("starting a multipart upload", e))?;
                self.upload_id = Some(started.upload_id.clone());
                started.upload_id
            }
        };
        let number = u32::try_from(self.parts.len() + 1)
            .map_err(|_| BlobError::Backend("too many parts".into()))?;
        let sent = self
            .bucket
            .put_multipart_chunk(part, self.path, number, &upload_id, OCTET_STREAM)
            .await
            .map_err(|e| backend("uploading a part", e))?;
        self.parts.push(sent);
        Ok(())
    }

    async fn complete(mut self) -> Result<(), BlobError> {
        let Some(upload_id) = self.upload_id.take() else {
            return Ok(());
        };
        let parts = std::mem::take(&mut self.parts);
        if let Err(e) = self
            .bucket
            .complete_multipart_upload(self.path, &upload_id, parts)
            .await
        {
            self.upload_id = Some(upload_id);
            return Err(backend("completing a multipart upload", e));
        }
        Ok(())
    }
}

impl Drop for Multipart<'_> {
    fn drop(&mut self) {
        let Some(upload_id) = self.upload_id.take() else {
            return;
        };
        // Drop cannot wait: abort in the background, or the parts linger (and are billed).
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(
                path = self.path,
                "multipart upload left unaborted: no runtime"
            );
            return;
        };
        let bucket = self.bucket.clone();
        let path = self.path.to_owned();
        runtime.spawn(async move {
            if let Err(e) = bucket.abort_upload(&path, &upload_id).await {
                tracing::warn!(path, error = %e, "could not abort a multipart upload");
            }
        });
    }
}

#[async_trait::async_trait]
impl BlobStore for S3Store {
    fn kind(&self) -> &'static str {
        "s3"
    }

    async fn stage(&self, body: ByteStream, limit: u64) -> Result<Staged, BlobError> {
        self.upload_guarded(&BlobKey::staging(), body, limit).await
    }

    async fn stage_concat(&self, parts: &[BlobKey], limit: u64) -> Result<Staged, BlobError> {
        self.upload_guarded(&BlobKey::staging(), concat_parts(self, parts), limit)
            .await
    }

    async fn promote(&self, staged: &Staged, target: &BlobKey) -> Result<bool, BlobError> {
        if self.head(target).await?.is_some() {
            self.delete(&staged.key).await?;
            return Ok(false);
        }
        if staged.size <= MAX_COPY_SIZE {
            let copy = async {
                self.bucket
                    .copy_object_internal(staged.key.as_str(), path_of(target.as_str()))
                    .await
                    .map_err(|e| not_found_or_backend("copy", staged.key.as_str(), e))
            };
            let limit = self.transfer_budget(staged.size);
            self.breaker.call("copy", limit, copy).await?;
        } else {
            // Past the single-copy limit: stream the bytes through instead.
            let read = self.get(&staged.key, None).await?;
            self.upload(target, read.stream, staged.size).await?;
        }
        self.delete(&staged.key).await?;
        tracing::debug!(staged = %staged.key, target = %target, "promoted blob");
        Ok(true)
    }

    async fn put(&self, key: &BlobKey, bytes: Bytes, content_type: &str) -> Result<(), BlobError> {
        let limit = self.transfer_budget(bytes.len() as u64);
        let put = async {
            self.bucket
                .put_object_with_content_type(path_of(key.as_str()), &bytes, content_type)
                .await
                .map_err(|e| backend("upload", e))
        };
        self.breaker.call("upload", limit, put).await?;
        Ok(())
    }

    async fn get(
        &self,
        key: &BlobKey,
        range: Option<(u64, Option<u64>)>,
    ) -> Result<BlobRead, BlobError> {
        let meta = self
            .head(key)
            .await?
            .ok_or_else(|| BlobError::NotFound(key.to_string()))?;
        let served = resolve_range(meta.size, range)?;
        let command = match served {
            Some((start, end)) => Command::GetObjectRange {
                start,
                end: Some(end),
            },
            None => Command::GetObject,
        };
        let path = path_of(key.as_str());
        let request = async {
            ReqwestRequest::new(&self.streaming, &path, command)
                .await
                .map_err(|e| backend("download", e))?
                .response_data_to_stream()
                .await
                .map_err(|e| not_found_or_backend("download", key.as_str(), e))
        };
        let response = self
            .breaker
            .call("download", self.request_timeout, request)
            .await?;
        let length = served.map_or(meta.size, |(start, end)| end + 1 - start);
        let stream = guarded(
            response.bytes.map_err(|e| backend("download", e)),
            self.breaker.clone(),
            self.request_timeout,
            self.transfer_budget(length),
        );
        Ok(BlobRead {
            stream,
            total_size: meta.size,
            range: served,
        })
    }

    async fn head(&self, key: &BlobKey) -> Result<Option<BlobMeta>, BlobError> {
        let head = async {
            self.bucket
                .head_object(path_of(key.as_str()))
                .await
                .map_err(|e| {
                    if status_of(&e) == Some(404) {
                        BlobError::NotFound(key.to_string())
                    } else {
                        backend("head", e)
                    }
                })
        };
        let head = match self.breaker.call("head", self.request_timeout, head).await {
            Err(BlobError::NotFound(_)) | Ok((_, 404)) => return Ok(None),
            Ok((head, _)) => head,
            Err(e) => return Err(e),
        };
        Ok(Some(BlobMeta {
            key: key.clone(),
            size: head
                .content_length
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
            modified: parse_time(
                head.last_modified.as_deref(),
                chrono::DateTime::parse_from_rfc2822,
            ),
        }))
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        let delete = async {
            match self.bucket.delete_object(path_of(key.as_str())).await {
                Err(e) if status_of(&e) != Some(404) => Err(backend("delete", e)),
                _ => Ok(()),
            }
        };
        self.breaker
            .call("delete", self.request_timeout, delete)
            .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<BlobMeta>, BlobError> {
        validate_prefix(prefix)?;
        let list = async {
            self.bucket
                .list(prefix.to_owned(), None)
                .await
                .map_err(|e| backend("list", e))
        };
        // A listing takes a page per thousand objects: the sweeper's long calls get more time.
        let pages = self
            .breaker
            .call("listing", self.request_timeout * 10, list)
            .await?;
        let mut out: Vec<BlobMeta> = pages
            .into_iter()
            .flat_map(|page| page.contents)
            .filter_map(|object| {
                // Objects that are not valid keys were not written by this store.
                let key = BlobKey::new(&object.key).ok()?;
                Some(BlobMeta {
                    key,
                    size: object.size,
                    modified: parse_time(
                        Some(&object.last_modified),
                        chrono::DateTime::parse_from_rfc3339,
                    ),
                })
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }
}
