"""Reader for CTranslate2 `model.bin` files (binary version 6), numpy only."""

import struct

import numpy as np

_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError(f"model.bin truncated at byte {self.pos} (wanted {n} more)")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack("<H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack("<I", self.take(4))[0]

    def string(self) -> str:
        # The length counts the trailing NUL.
        raw = self.take(self.u16())
        if not raw or raw[-1] != 0:
            raise ValueError(f"model.bin: unterminated string before byte {self.pos}")
        return raw[:-1].decode("utf-8")


def load(path) -> tuple[str, dict[str, np.ndarray]]:
    """Returns (spec name, variables by name); aliases resolve to the array they name."""
    with open(path, "rb") as f:
        r = _Reader(f.read())
    version = r.u32()
    if version != 6:
        raise ValueError(f"model.bin: binary version {version}, expected 6")
    spec = r.string()
    r.u32()  # spec revision
    variables: dict[str, np.ndarray] = {}
    for _ in range(r.u32()):
        name = r.string()
        dims = [r.u32() for _ in range(r.u8())]
        dtype_code = r.u8()
        if dtype_code not in _DTYPES:
            raise ValueError(f"model.bin: {name} has unsupported dtype code {dtype_code}")
        nbytes = r.u32()
        arr = np.frombuffer(r.take(nbytes), dtype=np.dtype(_DTYPES[dtype_code]).newbyteorder("<"))
        variables[name] = arr.reshape(dims) if dims else arr.reshape(())
    for _ in range(r.u32()):
        alias = r.string()
        target = r.string()
        variables[alias] = variables[target]
    if r.pos != len(r.data):
        raise ValueError(f"model.bin: {len(r.data) - r.pos} unexpected trailing bytes")
    return spec, variables
