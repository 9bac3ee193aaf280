//! The catalog file's shape as written, and its validation into [`ModelEntry`] values.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::paths::home;
use super::{Conversion, FileOrigin, ModelEntry, ModelFile, Origin, Runtime, WheelSource};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCatalog {
    pub(super) schema: Option<u32>,
    #[serde(default)]
    pub(super) model: Vec<RawModel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawModel {
    id: String,
    task: String,
    version: String,
    runtime: Runtime,
    licence: Option<String>,
    memory_mb: Option<u64>,
    description: Option<String>,
    source: Option<WheelSource>,
    path: Option<PathBuf>,
    #[serde(default)]
    files: Vec<RawFile>,
    convert: Option<Conversion>,
    #[serde(default)]
    outputs: Vec<RawFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: String,
    wheel_path: Option<String>,
    member: Option<String>,
    path: Option<PathBuf>,
    sha256: Option<String>,
    size: Option<u64>,
    source: Option<WheelSource>,
}

impl RawModel {
    pub(super) fn validate(self, base: &Path) -> Result<ModelEntry, String> {
        let id = self.id;
        let ctx = |msg: String| format!("{id}: {msg}");
        check_segment(&id, "id").map_err(|m| format!("model {m}"))?;
        check_segment(&self.version, "version").map_err(ctx)?;
        if self.task.trim().is_empty() {
            return Err(ctx("task is empty".into()));
        }
        let origin = match (self.source, self.path) {
            (Some(source), None) => {
                check_source(&source).map_err(ctx)?;
                Origin::Registry(source)
            }
            (None, Some(path)) => Origin::Local(resolve(base, &path)),
            _ => return Err(ctx("needs exactly one of `source` and `path`".into())),
        };
        let registry = matches!(origin, Origin::Registry(_));
        let mut files = Vec::new();
        for f in self.files {
            files.push(f.validate(base, &origin).map_err(ctx)?);
        }
        if files.is_empty() {
            match &origin {
                Origin::Local(path) if !path.is_dir() => {
                    let name = path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .ok_or_else(|| ctx(format!("{} names no file", path.display())))?;
                    files.push(ModelFile {
                        name: name.to_owned(),
                        sha256: None,
                        size: None,
                        origin: FileOrigin::InPlace,
                    });
                }
                _ => return Err(ctx("lists no files".into())),
            }
        }
        let mut outputs = Vec::new();
        for f in self.outputs {
            if f.wheel_path.is_some() || f.path.is_some() || f.source.is_some() {
                return Err(ctx(format!("output {} must not name a source", f.name)));
            }
            outputs.push(
                f.validate(base, &Origin::Local(PathBuf::new()))
                    .map_err(ctx)?,
            );
        }
        if self.convert.is_some() == outputs.is_empty() {
            return Err(ctx("`convert` and `outputs` come together".into()));
        }
        if let Some(conv) = &self.convert {
            if !files.iter().any(|f| f.name == conv.input) {
                return Err(ctx(format!(
                    "conversion input {} is not one of its files",
                    conv.input
                )));
            }
        }
        let mut names = HashSet::new();
        for f in files.iter().chain(outputs.iter()) {
            if !names.insert(f.name.as_str()) {
                return Err(ctx(format!("file {} is listed twice", f.name)));
            }
            if registry && (f.sha256.is_none() || f.size.is_none()) {
                return Err(ctx(format!("{} needs sha256 and size", f.name)));
            }
        }
        Ok(ModelEntry {
            id,
            task: self.task,
            version: self.version,
            runtime: self.runtime,
            licence: self.licence,
            memory_mb: self.memory_mb,
            description: self.description,
            origin,
            files,
            convert: self.convert,
            outputs,
        })
    }
}

impl RawFile {
    fn validate(self, base: &Path, model_origin: &Origin) -> Result<ModelFile, String> {
        check_segment(&self.name, "file name")?;
        if let Some(sha) = &self.sha256 {
            check_sha256(sha).map_err(|m| format!("{}: {m}", self.name))?;
        }
        let origin = match (self.wheel_path, self.path, model_origin) {
            (Some(wheel_path), None, Origin::Registry(default)) => {
                let source = self.source.unwrap_or_else(|| default.clone());
                check_source(&source)?;
                FileOrigin::Wheel {
                    source,
                    wheel_path,
                    member: self.member,
                }
            }
            (None, Some(path), Origin::Registry(_)) if self.source.is_none() => {
                FileOrigin::Project(resolve(base, &path))
            }
            (None, None, Origin::Local(_)) if self.source.is_none() => FileOrigin::InPlace,
            _ => {
                return Err(format!(
                    "{}: a registry model's file needs `wheel_path` or `path`; a local model's \
                     files name nothing but themselves",
                    self.name
                ))
            }
        };
        Ok(ModelFile {
            name: self.name,
            sha256: self.sha256,
            size: self.size,
            origin,
        })
    }
}

fn resolve(base: &Path, path: &Path) -> PathBuf {
    let expanded = match path.strip_prefix("~") {
        Ok(rest) => home().join(rest),
        Err(_) => path.to_path_buf(),
    };
    if expanded.is_absolute() {
        expanded
    } else {
        base.join(expanded)
    }
}

/// Ids, versions and file names become path segments: keep them to one plain segment.
fn check_segment(value: &str, what: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value != "."
        && value != ".."
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} {value:?} must be one path segment of letters, digits, '.', '_', '-', '+'"
        ))
    }
}

fn check_sha256(value: &str) -> Result<(), String> {
    if value.len() == 64
        && value
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    {
        Ok(())
    } else {
        Err(format!("sha256 {value:?} is not 64 lowercase hex digits"))
    }
}

fn check_source(source: &WheelSource) -> Result<(), String> {
    check_sha256(&source.wheel_sha256).map_err(|m| format!("wheel {}: {m}", source.wheel))?;
    if source.package.is_empty() || source.version.is_empty() || !source.wheel.ends_with(".whl") {
        return Err(format!(
            "source {:?} needs a package, a version and a .whl file name",
            source.package
        ));
    }
    Ok(())
}
