"""Reader for legacy (non-zip) torch.save files holding a state dict, without torch.

The file is five protocol-2 pickles (magic, protocol version, sys info, the object, the storage
keys) followed by each storage's raw data: for every key in the order of that key list, an i64
element count and then the little-endian values.
"""

import collections
import io
import pickle
import struct

import numpy as np

MAGIC = 0x1950A86A20F9469CFC6C
PROTOCOL = 1001

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _StorageType:
    def __init__(self, name):
        self.name = name


class _Storage:
    def __init__(self, dtype, key, numel):
        self.dtype = dtype
        self.key = key
        self.numel = numel
        self.data = None


class _TensorRef:
    def __init__(self, storage, offset, size, stride):
        self.storage = storage
        self.offset = offset
        self.size = tuple(size)
        self.stride = tuple(stride)


def _rebuild_tensor_v2(storage, offset, size, stride, *_rest):
    return _TensorRef(storage, offset, size, stride)


class _Unpickler(pickle.Unpickler):
    """Resolves only the few globals a state dict needs; anything else is refused."""

    def __init__(self, stream, storages):
        super().__init__(stream)
        self.storages = storages

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid[:5]
        if len(pid) > 5 and pid[5] is not None:
            raise pickle.UnpicklingError("storage views are not supported")
        if key not in self.storages:
            self.storages[key] = _Storage(np.dtype(_STORAGE_DTYPES[storage_type.name]), key, numel)
        return self.storages[key]


def load(path) -> "collections.OrderedDict[str, np.ndarray]":
    """Returns the state dict as contiguous numpy arrays, in file order."""
    with open(path, "rb") as f:
        stream = io.BytesIO(f.read())
    plain = lambda: pickle.Unpickler(stream).load()  # noqa: E731 (ints, dicts and lists only)
    if plain() != MAGIC:
        raise ValueError(f"{path}: not a legacy torch.save file (bad magic)")
    if plain() != PROTOCOL:
        raise ValueError(f"{path}: unexpected torch protocol version")
    sys_info = plain()
    if not sys_info.get("little_endian", False):
        raise ValueError(f"{path}: big-endian files are not supported")
    storages: dict = {}
    state = _Unpickler(stream, storages).load()
    keys = plain()
    for key in keys:
        storage = storages[key]
        (count,) = struct.unpack("<q", stream.read(8))
        if count != storage.numel:
            raise ValueError(f"{path}: storage {key} holds {count} values, expected {storage.numel}")
        nbytes = count * storage.dtype.itemsize
        raw = stream.read(nbytes)
        if len(raw) != nbytes:
            raise ValueError(f"{path}: truncated storage {key}")
        storage.data = np.frombuffer(raw, dtype=storage.dtype.newbyteorder("<"))
    if stream.read(1):
        raise ValueError(f"{path}: unexpected trailing bytes")
    out = collections.OrderedDict()
    for name, ref in state.items():
        if not isinstance(ref, _TensorRef):
            raise ValueError(f"{path}: {name} is not a tensor")
        data = ref.storage.data
        last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride))
        if any(n == 0 for n in ref.size) or last >= len(data):
            raise ValueError(f"{path}: {name} reaches outside its storage")
        item = data.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[ref.offset :], shape=ref.size, strides=[s * item for s in ref.stride], writeable=False
        )
        out[name] = np.ascontiguousarray(view)
    return out
