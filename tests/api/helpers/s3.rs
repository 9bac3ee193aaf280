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

/// A TCP relay in front of an S3 endpoint that can be told to stop passing the store's answers
/// on: the network fault of a store that accepts connections and then says nothing.
pub struct StallingRelay {
    pub endpoint: String,
    stalled: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl StallingRelay {
    pub async fn start(upstream: &str) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let target = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let stalled = Arc::new(AtomicBool::new(false));
        let flag = stalled.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&target).await else {
                    continue;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                });
                let flag = flag.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let Ok(n) = server_read.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        while flag.load(Ordering::SeqCst) {
                            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        }
                        if client_write.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { endpoint, stalled }
    }

    /// Holds (or passes on again) everything the store sends.
    pub fn stall(&self, on: bool) {
        self.stalled.store(on, std::sync::atomic::Ordering::SeqCst);
    }
}
