//! The S3-compatible server that tests of the S3 paths use.

use std::path::Path;
use std::sync::OnceLock;

/// The port `deploy/local/s3.sh` serves the test S3 on.
pub const S3_TEST_PORT: u16 = 59000;

pub fn s3_credentials() -> (String, String) {
    (
        std::env::var("TESSERA_TEST_S3_ACCESS_KEY").unwrap_or_else(|_| "tessera".into()),
        std::env::var("TESSERA_TEST_S3_SECRET_KEY")
            .unwrap_or_else(|_| "tessera-local-secret".into()),
    )
}

/// The endpoint of the test S3 server: `TESSERA_TEST_S3_ENDPOINT`, or one started (and, the first
/// time, installed) by `deploy/local/s3.sh`. Fails the test when neither works.
pub fn s3_endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        if let Ok(endpoint) = std::env::var("TESSERA_TEST_S3_ENDPOINT") {
            if !endpoint.is_empty() {
                return endpoint;
            }
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let (access, secret) = s3_credentials();
        let output = std::process::Command::new(root.join("deploy/local/s3.sh"))
            .args(["ensure", "target/s3-data", &S3_TEST_PORT.to_string()])
            .current_dir(root)
            .env("S3_ACCESS_KEY", access)
            .env("S3_SECRET_KEY", secret)
            .output();
        let hint = "The S3 tests need s3s-fs: `cargo install s3s-fs --version 0.14.1 --locked \
                    --features binary --root ~/.cache/tessera/tools` (deploy/local/s3.sh does \
                    this itself when cargo is on the PATH), or set TESSERA_TEST_S3_ENDPOINT (and \
                    TESSERA_TEST_S3_ACCESS_KEY, TESSERA_TEST_S3_SECRET_KEY) to an S3 server.";
        match output {
            Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().into(),
            Ok(out) => panic!(
                "deploy/local/s3.sh ensure failed ({}):\n{}\n{hint}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => panic!("could not run deploy/local/s3.sh: {e}\n{hint}"),
        }
    })
}
