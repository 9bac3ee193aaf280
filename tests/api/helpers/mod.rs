//! What the modules of this binary share: the application and sign-in from the test kit,
//! media made at test time, and the Redis and S3 servers of the tests.

pub mod media;
pub mod s3;

pub use tessera_testkit::app::*;
pub use tessera_testkit::signin::{email, registration, tokens_of, Tokens, PASSWORD};
pub use tessera_testkit::ws::WsClient;
pub use tessera_testkit::{eventually, eventually_within};

/// The Redis that tests of the Redis-backed paths use: `TESSERA_TEST_REDIS_URL`, or else the
/// one `deploy/local/redis.sh` keeps on port 56379 (started, and installed where it is missing,
/// on first use). Panics, never skips, when there is none.
pub fn redis_url() -> String {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("TESSERA_TEST_REDIS_URL") {
            if !url.is_empty() {
                return url;
            }
        }
        let root = env!("CARGO_MANIFEST_DIR");
        let out = std::process::Command::new(format!("{root}/deploy/local/redis.sh"))
            .args(["ensure", "56379", &format!("{root}/target/redis-data")])
            .output()
            .unwrap_or_else(|e| panic!("running deploy/local/redis.sh: {e}"));
        assert!(
            out.status.success(),
            "no Redis for the tests: set TESSERA_TEST_REDIS_URL, or make \
             `deploy/local/redis.sh ensure 56379 target/redis-data` work (it needs redis-server; \
             as root it installs it):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    })
    .clone()
}
