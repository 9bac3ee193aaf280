//! One conformance suite for every blob store, run against the filesystem store and against a
//! real S3 server (s3s-fs, started by `deploy/local/s3.sh` unless `TESSERA_TEST_S3_ENDPOINT`
//! names one).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::helpers::s3::{s3_credentials, s3_endpoint};
use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use tessera::blob::{
    from_settings, BlobError, BlobKey, BlobRead, BlobStore, ByteStream, FsStore, S3Settings,
    StorageSettings,
};

const MIB: usize = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Helpers

/// Deterministic, incompressible-looking bytes.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A body delivering `bytes` in chunks of `chunk` bytes.
fn body(bytes: &[u8], chunk: usize) -> ByteStream {
    let chunks: Vec<Result<Bytes, BlobError>> = bytes
        .chunks(chunk.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    stream::iter(chunks).boxed()
}

/// An endless body of 64 KiB chunks; `pulled` counts the bytes taken from it.
fn endless_body(pulled: Arc<AtomicU64>) -> ByteStream {
    let chunk = Bytes::from(pattern(64 * 1024, 7));
    stream::repeat_with(move || {
        pulled.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        Ok(chunk.clone())
    })
    .boxed()
}

/// A body that delivers `bytes`, then fails as a dropped client connection would.
fn failing_body(bytes: &[u8]) -> ByteStream {
    body(bytes, 64 * 1024)
        .chain(stream::once(async {
            Err(BlobError::Body("the client went away".into()))
        }))
        .boxed()
}

async fn read_all(read: BlobRead) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stream = read.stream;
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.expect("a read chunk"));
    }
    out
}

async fn get_all(store: &dyn BlobStore, key: &BlobKey) -> Vec<u8> {
    read_all(store.get(key, None).await.expect("get")).await
}

async fn keys(store: &dyn BlobStore, prefix: &str) -> Vec<String> {
    store
        .list(prefix)
        .await
        .expect("list")
        .into_iter()
        .map(|m| m.key.to_string())
        .collect()
}

fn key(k: &str) -> BlobKey {
    BlobKey::new(k).expect("a valid key")
}

// ---------------------------------------------------------------------------------------------
// The suite

async fn conformance(store: &dyn BlobStore) {
    stage_and_promote_round_trip(store).await;
    promoting_the_same_bytes_twice_keeps_one_object(store).await;
    too_large_stops_at_the_limit(store).await;
    a_failing_body_leaves_nothing_behind(store).await;
    stage_concat_joins_parts_in_order(store).await;
    range_reads(store).await;
    put_get_head_delete_list(store).await;
    invalid_keys_and_prefixes_are_rejected(store).await;
    assert_eq!(
        keys(store, "staging/").await,
        Vec::<String>::new(),
        "staging/ is clean"
    );
}

async fn stage_and_promote_round_trip(store: &dyn BlobStore) {
    let data = pattern(300 * 1024 + 17, 1);
    let staged = store.stage(body(&data, 8 * 1024), 1 << 30).await.unwrap();
    assert_eq!(staged.size, data.len() as u64);
    assert_eq!(staged.sha256, sha256(&data));
    assert!(staged.key.as_str().starts_with("staging/"));
    assert_eq!(
        get_all(store, &staged.key).await,
        data,
        "a staged object is readable"
    );

    let target = staged.content_key().unwrap();
    assert_eq!(
        target.as_str(),
        format!("blobs/{}/{}", &staged.sha256[..2], staged.sha256)
    );
    assert!(store.promote(&staged, &target).await.unwrap());
    assert_eq!(get_all(store, &target).await, data);
    let meta = store.head(&target).await.unwrap().expect("promoted object");
    assert_eq!(meta.size, data.len() as u64);
    assert_eq!(meta.key, target);
    assert!(
        store.head(&staged.key).await.unwrap().is_none(),
        "staged object moved"
    );

    // An empty body is a valid blob too.
    let empty = store.stage(body(&[], 1), 10).await.unwrap();
    assert_eq!(
        (empty.size, empty.sha256.as_str()),
        (0, sha256(&[]).as_str())
    );
    let empty_target = empty.content_key().unwrap();
    store.promote(&empty, &empty_target).await.unwrap();
    assert_eq!(get_all(store, &empty_target).await, Vec::<u8>::new());
    store.delete(&empty_target).await.unwrap();
    store.delete(&target).await.unwrap();
}

async fn promoting_the_same_bytes_twice_keeps_one_object(store: &dyn BlobStore) {
    let data = pattern(5000, 2);
    let first = store.stage(body(&data, 1000), 10_000).await.unwrap();
    let second = store.stage(body(&data, 333), 10_000).await.unwrap();
    assert_ne!(first.key, second.key);
    assert_eq!(first.sha256, second.sha256);
    let target = first.content_key().unwrap();
    assert!(
        store.promote(&first, &target).await.unwrap(),
        "first creates"
    );
    assert!(
        !store.promote(&second, &target).await.unwrap(),
        "second finds it"
    );
    assert!(
        store.head(&second.key).await.unwrap().is_none(),
        "second staged removed"
    );
    let prefix = format!("blobs/{}/", &first.sha256[..2]);
    assert_eq!(keys(store, &prefix).await, vec![target.to_string()]);
    assert_eq!(get_all(store, &target).await, data);
    store.delete(&target).await.unwrap();
}

async fn too_large_stops_at_the_limit(store: &dyn BlobStore) {
    // Past one S3 part, so a multipart upload is under way when the limit is crossed.
    let limit = 9 * MIB as u64 + 123;
    let pulled = Arc::new(AtomicU64::new(0));
    let err = store
        .stage(endless_body(pulled.clone()), limit)
        .await
        .unwrap_err();
    assert!(
        matches!(err, BlobError::TooLarge { limit: l } if l == limit),
        "{err:?}"
    );
    let pulled = pulled.load(Ordering::SeqCst);
    assert!(
        pulled > limit && pulled <= limit + 64 * 1024,
        "stopped at the first chunk past the limit, pulled {pulled}"
    );
    assert_eq!(keys(store, "staging/").await, Vec::<String>::new());

    // Exactly at the limit is fine.
    let data = pattern(1000, 3);
    let staged = store.stage(body(&data, 100), 1000).await.unwrap();
    store.delete(&staged.key).await.unwrap();
    let err = store.stage(body(&data, 100), 999).await.unwrap_err();
    assert!(matches!(err, BlobError::TooLarge { limit: 999 }), "{err:?}");
    assert_eq!(keys(store, "staging/").await, Vec::<String>::new());
}

async fn a_failing_body_leaves_nothing_behind(store: &dyn BlobStore) {
    for len in [10 * 1024, 9 * MIB] {
        let err = store
            .stage(failing_body(&pattern(len, 4)), 1 << 30)
            .await
            .unwrap_err();
        assert!(matches!(err, BlobError::Body(_)), "{err:?}");
        assert_eq!(
            keys(store, "staging/").await,
            Vec::<String>::new(),
            "after {len} bytes"
        );
    }
}

async fn stage_concat_joins_parts_in_order(store: &dyn BlobStore) {
    let upload = uuid::Uuid::new_v4();
    let chunks = [pattern(3, 5), pattern(70 * 1024 + 1, 6), pattern(1, 7)];
    let mut parts = Vec::new();
    let mut offset = 0usize;
    for chunk in &chunks {
        let part = key(&format!("uploads/{upload}/{offset:018}"));
        store
            .put(
                &part,
                Bytes::from(chunk.clone()),
                "application/octet-stream",
            )
            .await
            .unwrap();
        offset += chunk.len();
        parts.push(part);
    }
    let whole = chunks.concat();
    let staged = store.stage_concat(&parts, 1 << 20).await.unwrap();
    assert_eq!(staged.size, whole.len() as u64);
    assert_eq!(staged.sha256, sha256(&whole));
    assert_eq!(get_all(store, &staged.key).await, whole);
    store.delete(&staged.key).await.unwrap();

    let err = store
        .stage_concat(&parts, whole.len() as u64 - 1)
        .await
        .unwrap_err();
    assert!(matches!(err, BlobError::TooLarge { .. }), "{err:?}");

    let missing = key(&format!("uploads/{upload}/missing"));
    let err = store
        .stage_concat(&[parts[0].clone(), missing], 1 << 20)
        .await
        .unwrap_err();
    assert!(matches!(err, BlobError::NotFound(_)), "{err:?}");
    assert_eq!(keys(store, "staging/").await, Vec::<String>::new());

    let listed = keys(store, &format!("uploads/{upload}/")).await;
    assert_eq!(
        listed,
        parts.iter().map(|p| p.to_string()).collect::<Vec<_>>()
    );
    for part in &parts {
        store.delete(part).await.unwrap();
    }
    assert!(keys(store, &format!("uploads/{upload}/")).await.is_empty());
}

async fn range_reads(store: &dyn BlobStore) {
    let data = pattern(200 * 1024 + 7, 8);
    let size = data.len() as u64;
    let k = key(&format!("previews/{}/range.bin", uuid::Uuid::new_v4()));
    store
        .put(&k, Bytes::from(data.clone()), "application/octet-stream")
        .await
        .unwrap();

    let cases = [
        ((10, Some(19)), (10, 19)),
        ((100_000, None), (100_000, size - 1)),
        ((size - 1, None), (size - 1, size - 1)),
        ((size - 1, Some(size - 1)), (size - 1, size - 1)),
        ((5, Some(size + 1000)), (5, size - 1)),
    ];
    for (asked, served) in cases {
        let read = store.get(&k, Some(asked)).await.unwrap();
        assert_eq!(read.total_size, size);
        assert_eq!(read.range, Some(served), "{asked:?}");
        let bytes = read_all(read).await;
        assert_eq!(
            bytes,
            data[served.0 as usize..=served.1 as usize],
            "{asked:?}"
        );
    }
    let whole = store.get(&k, None).await.unwrap();
    assert_eq!((whole.total_size, whole.range), (size, None));
    assert_eq!(read_all(whole).await, data);

    for asked in [(size, None), (size + 10, Some(size + 20)), (20, Some(10))] {
        let err = store.get(&k, Some(asked)).await.unwrap_err();
        assert!(
            matches!(err, BlobError::RangeNotSatisfiable { size: s } if s == size),
            "{asked:?}: {err:?}"
        );
    }
    store.delete(&k).await.unwrap();
}

async fn put_get_head_delete_list(store: &dyn BlobStore) {
    let sha = sha256(uuid::Uuid::new_v4().as_bytes());
    let thumb = key(&format!("previews/{sha}/thumb-256.jpg"));
    let other = key(&format!("previews/{sha}/thumb-1024.jpg"));
    assert!(store.head(&thumb).await.unwrap().is_none());
    assert!(matches!(
        store.get(&thumb, None).await.unwrap_err(),
        BlobError::NotFound(_)
    ));

    store
        .put(&thumb, Bytes::from_static(b"first"), "image/jpeg")
        .await
        .unwrap();
    store
        .put(&thumb, Bytes::from_static(b"replaced"), "image/jpeg")
        .await
        .unwrap();
    store
        .put(&other, Bytes::from_static(b"other"), "image/jpeg")
        .await
        .unwrap();
    assert_eq!(get_all(store, &thumb).await, b"replaced");
    let meta = store.head(&thumb).await.unwrap().expect("head");
    assert_eq!(meta.size, 8);
    let age = chrono::Utc::now() - meta.modified;
    assert!(age.num_seconds().abs() < 300, "modified {}", meta.modified);

    let listed = store.list(&format!("previews/{sha}/")).await.unwrap();
    assert_eq!(
        listed.iter().map(|m| m.key.clone()).collect::<Vec<_>>(),
        vec![other.clone(), thumb.clone()]
    );
    assert_eq!(
        listed.iter().map(|m| m.size).collect::<Vec<_>>(),
        vec![5, 8]
    );
    // A prefix need not end at a '/'.
    assert_eq!(
        keys(store, &format!("previews/{sha}/thumb-2")).await,
        vec![thumb.to_string()]
    );
    assert!(keys(store, &format!("previews/{sha}x/")).await.is_empty());

    store.delete(&thumb).await.unwrap();
    store.delete(&thumb).await.unwrap();
    assert!(store.head(&thumb).await.unwrap().is_none());
    assert_eq!(
        keys(store, &format!("previews/{sha}/")).await,
        vec![other.to_string()]
    );
    store.delete(&other).await.unwrap();
}

async fn invalid_keys_and_prefixes_are_rejected(store: &dyn BlobStore) {
    for bad in ["../x", "/abs", "Upper/case", "", "a/../../b", "a//b"] {
        assert!(
            matches!(BlobKey::new(bad), Err(BlobError::InvalidKey(_))),
            "{bad:?}"
        );
    }
    for bad in ["../", "/", "A"] {
        assert!(
            matches!(store.list(bad).await, Err(BlobError::InvalidKey(_))),
            "{bad:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The filesystem store

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tessera-blob-{name}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn the_filesystem_store_conforms() {
    let dir = temp_dir("fs");
    let store = FsStore::open(dir.join("blobs")).await.unwrap();
    assert_eq!(store.kind(), "fs");
    conformance(&store).await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn the_default_store_is_the_filesystem_under_the_data_dir() {
    let dir = temp_dir("default");
    let settings = StorageSettings {
        backend: "fs".into(),
        fs_root: None,
        s3: S3Settings::default(),
    };
    let store = from_settings(&settings, &dir).await.unwrap();
    assert_eq!(store.kind(), "fs");
    let staged = store.stage(body(b"hello", 2), 100).await.unwrap();
    assert!(dir.join("blobs").join(staged.key.as_str()).is_file());
    store.delete(&staged.key).await.unwrap();

    let unknown = StorageSettings {
        backend: "tape".into(),
        ..settings
    };
    assert!(matches!(
        from_settings(&unknown, &dir).await,
        Err(BlobError::Backend(_))
    ));
    std::fs::remove_dir_all(dir).ok();
}

/// The peak resident memory of this process, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Staging 1 GiB must not grow memory by more than a few MiB. Measured in a child process of
/// this test binary, so that tests running beside it in this process cannot disturb the peak.
#[test]
fn the_filesystem_store_streams_a_large_body_in_little_memory() {
    const CHILD: &str = "TESSERA_TEST_BLOB_MEMORY_CHILD";
    if std::env::var_os(CHILD).is_some() {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(stage_one_gib_and_measure());
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "blob_store::the_filesystem_store_streams_a_large_body_in_little_memory",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn stage_one_gib_and_measure() {
    let dir = temp_dir("large");
    let store = FsStore::open(dir.join("blobs")).await.unwrap();
    let total: u64 = 1024 * MIB as u64;
    let chunk = Bytes::from(pattern(64 * 1024, 9));
    let mut expected = Sha256::new();
    for _ in 0..total / chunk.len() as u64 {
        expected.update(&chunk);
    }
    let expected = hex::encode(expected.finalize());
    let count = total / chunk.len() as u64;
    let before = peak_rss();
    let body = stream::iter((0..count).map(move |_| Ok(chunk.clone()))).boxed();
    let staged = store.stage(body, total).await.unwrap();
    let grown = peak_rss().saturating_sub(before);
    assert_eq!(staged.size, total);
    assert_eq!(staged.sha256, expected);
    assert!(
        grown < 32 * MIB as u64,
        "staging 1 GiB grew the peak RSS by {} MiB",
        grown / MIB as u64
    );
    std::fs::remove_dir_all(dir).ok();
}

// ---------------------------------------------------------------------------------------------
// The S3 store

fn s3_settings(bucket: &str) -> StorageSettings {
    let (access, secret) = s3_credentials();
    StorageSettings {
        backend: "s3".into(),
        fs_root: None,
        s3: S3Settings {
            endpoint: s3_endpoint().to_owned(),
            region: "us-east-1".into(),
            bucket: bucket.to_owned(),
            access_key: SecretString::from(access),
            secret_key: SecretString::from(secret),
            path_style: true,
            create_bucket: true,
            ..S3Settings::default()
        },
    }
}

/// A fresh bucket per test, so tests never see each other's objects.
async fn s3_store(name: &str) -> Arc<dyn BlobStore> {
    let bucket = format!(
        "tessera-{name}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let store = from_settings(&s3_settings(&bucket), Path::new("unused"))
        .await
        .unwrap_or_else(|e| panic!("the S3 store at {} failed: {e}", s3_endpoint()));
    assert_eq!(store.kind(), "s3");
    store
}

#[tokio::test]
async fn the_s3_store_conforms() {
    let store = s3_store("conform").await;
    conformance(store.as_ref()).await;
}

#[tokio::test]
async fn the_s3_store_round_trips_objects_larger_than_a_part() {
    let store = s3_store("large").await;
    let data = pattern(20 * MIB + 3, 10);
    // Chunk sizes that do not divide the part size, and one chunk larger than a part.
    let mut chunks: Vec<Result<Bytes, BlobError>> =
        vec![Ok(Bytes::copy_from_slice(&data[..9 * MIB]))];
    chunks.extend(
        data[9 * MIB..]
            .chunks(100_003)
            .map(|c| Ok(Bytes::copy_from_slice(c))),
    );
    let staged = store
        .stage(stream::iter(chunks).boxed(), data.len() as u64)
        .await
        .unwrap();
    assert_eq!(staged.size, data.len() as u64);
    assert_eq!(staged.sha256, sha256(&data));
    let target = staged.content_key().unwrap();
    assert!(store.promote(&staged, &target).await.unwrap());
    let read = store.get(&target, None).await.unwrap();
    assert_eq!(read.total_size, data.len() as u64);
    assert_eq!(sha256(&read_all(read).await), staged.sha256);
    // A range across the first part boundary.
    let (start, end) = (8 * MIB as u64 - 10, 8 * MIB as u64 + 10);
    let read = store.get(&target, Some((start, Some(end)))).await.unwrap();
    assert_eq!(read_all(read).await, data[start as usize..=end as usize]);

    // Exactly one part's worth, and concatenation of large parts.
    let exact = pattern(8 * MIB, 11);
    let staged_exact = store.stage(body(&exact, MIB), 1 << 30).await.unwrap();
    assert_eq!(staged_exact.sha256, sha256(&exact));
    let joined = store
        .stage_concat(&[target.clone(), staged_exact.key.clone()], 1 << 30)
        .await
        .unwrap();
    assert_eq!(joined.size, (data.len() + exact.len()) as u64);
    assert_eq!(joined.sha256, sha256(&[data.as_slice(), &exact].concat()));
    for k in [&target, &staged_exact.key, &joined.key] {
        store.delete(k).await.unwrap();
    }
    assert!(keys(store.as_ref(), "").await.is_empty());
}

#[tokio::test]
async fn the_s3_store_reports_a_missing_bucket_when_it_may_not_create_one() {
    let mut settings = s3_settings(&format!(
        "tessera-absent-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    ));
    settings.s3.create_bucket = false;
    let err = from_settings(&settings, Path::new("unused"))
        .await
        .err()
        .expect("no store without a bucket");
    assert!(
        matches!(&err, BlobError::Backend(m) if m.contains("does not exist")),
        "{err:?}"
    );

    let mut wrong = s3_settings("tessera-wrong-secret");
    wrong.s3.secret_key = SecretString::from("not-the-secret");
    let err = from_settings(&wrong, Path::new("unused"))
        .await
        .err()
        .expect("no store with a wrong secret");
    assert!(matches!(&err, BlobError::Backend(_)), "{err:?}");
    assert!(!err.to_string().contains("not-the-secret"));
}

/// rustls panics on `ClientConfig::builder()` when more than one crypto provider is compiled in
/// and none was installed: the S3 client must not bring a second one.
#[test]
fn only_one_rustls_crypto_provider_is_compiled_in() {
    let _config = rustls::ClientConfig::builder()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
}
