//! ONNX Runtime, loaded at run time from the library the fetch tool installs.
//!
//! The library is looked up once per process: `ORT_DYLIB_PATH` if set, otherwise the
//! `onnxruntime` entry of the model catalog in the models folder. One `ort` environment serves
//! every session; each session gets its own thread counts (one intra-op thread by default: the
//! model registry, not ONNX Runtime, decides how many inferences run at once).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{Session, SessionInputs, SessionOutputs};

use super::RuntimeError;
use crate::catalog;

/// The catalog id and version of the library entry.
pub const LIBRARY_ID: &str = "onnxruntime";
pub const LIBRARY_VERSION: &str = "1.31.1";
const LIBRARY_FILE: &str = "libonnxruntime.so.1.31.1";

/// The process-wide ONNX Runtime.
pub struct OnnxRuntime {
    env: Environment,
    library: PathBuf,
}

static RUNTIME: OnceLock<Result<OnnxRuntime, String>> = OnceLock::new();

impl OnnxRuntime {
    /// The runtime, loading the library on first use. A failure is remembered: the library
    /// cannot be loaded twice into one process.
    pub fn get() -> Result<&'static OnnxRuntime, RuntimeError> {
        RUNTIME
            .get_or_init(|| Self::load().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|message| RuntimeError::LibraryLoad {
                path: library_candidates()
                    .first()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                message: message.clone(),
            })
    }

    fn load() -> Result<OnnxRuntime, RuntimeError> {
        let candidates = library_candidates();
        let library = candidates
            .iter()
            .find(|p| p.is_file())
            .cloned()
            .ok_or_else(|| RuntimeError::LibraryMissing {
                looked: candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let lib_err = |message: String| RuntimeError::LibraryLoad {
            path: library.display().to_string(),
            message,
        };
        let env = ort::init_from(&library)
            .map_err(|e| lib_err(e.to_string()))?
            .with_name("tessera")
            .with_telemetry(false)
            .build()
            .map_err(|e| lib_err(e.to_string()))?;
        tracing::info!(library = %library.display(), "ONNX Runtime loaded");
        Ok(OnnxRuntime { env, library })
    }

    /// The library file in use.
    pub fn library(&self) -> &Path {
        &self.library
    }

    /// Loads a model file into a session.
    pub fn session(
        &self,
        path: impl AsRef<Path>,
        options: &SessionOptions,
    ) -> Result<OnnxSession, RuntimeError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        if !path.is_file() {
            return Err(RuntimeError::ModelMissing { path: shown });
        }
        let load_err = |message: String| RuntimeError::Load {
            path: shown.clone(),
            message,
        };
        let started = Instant::now();
        let mut builder = Session::builder(&self.env)
            .map_err(|e| load_err(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| load_err(e.to_string()))?
            .with_intra_threads(options.intra_threads.max(1))
            .map_err(|e| load_err(e.to_string()))?
            .with_inter_threads(options.inter_threads.max(1))
            .map_err(|e| load_err(e.to_string()))?;
        let session = builder
            .commit_from_file(path)
            .map_err(|e| load_err(e.to_string()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let load_time = started.elapsed();
        tracing::debug!(model = %name, ms = load_time.as_millis() as u64, "ONNX session loaded");
        Ok(OnnxSession {
            session,
            name,
            load_time,
        })
    }
}

/// Where the library is looked for, in order.
pub fn library_candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        out.push(PathBuf::from(p));
    }
    out.push(
        catalog::default_models_dir()
            .join(LIBRARY_ID)
            .join(LIBRARY_VERSION)
            .join(LIBRARY_FILE),
    );
    out
}

/// Thread counts of one session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionOptions {
    pub intra_threads: usize,
    pub inter_threads: usize,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            intra_threads: 1,
            inter_threads: 1,
        }
    }
}

impl SessionOptions {
    pub fn threads(intra_threads: usize) -> Self {
        SessionOptions {
            intra_threads,
            inter_threads: 1,
        }
    }
}

/// One loaded model. Running needs `&mut`: a session serves one inference at a time.
pub struct OnnxSession {
    session: Session,
    name: String,
    load_time: Duration,
}

impl OnnxSession {
    /// The model file's name, for errors and logs.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How long loading took.
    pub fn load_time(&self) -> Duration {
        self.load_time
    }

    /// The underlying `ort` session, for what this wrapper does not cover (metadata, names).
    pub fn inner(&self) -> &Session {
        &self.session
    }

    /// Runs the model.
    pub fn run<'s, 'i, 'v: 'i, const N: usize>(
        &'s mut self,
        inputs: impl Into<SessionInputs<'i, 'v, N>>,
    ) -> Result<SessionOutputs<'s>, RuntimeError> {
        let model = self.name.clone();
        self.session
            .run(inputs)
            .map_err(|e| RuntimeError::Inference {
                model,
                message: e.to_string(),
            })
    }

    /// A custom metadata value of the model (OCR keeps its character table there).
    pub fn metadata(&self, key: &str) -> Result<Option<String>, RuntimeError> {
        let meta = self.session.metadata().map_err(|e| RuntimeError::Load {
            path: self.name.clone(),
            message: e.to_string(),
        })?;
        Ok(meta.custom(key))
    }

    /// An output error for this model.
    pub fn output_error(&self, message: impl Into<String>) -> RuntimeError {
        RuntimeError::Output {
            model: self.name.clone(),
            message: message.into(),
        }
    }
}
