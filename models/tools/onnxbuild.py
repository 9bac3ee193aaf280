"""A small deterministic ONNX graph builder: fixed node and tensor names, no timestamps."""

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
PRODUCER = "tessera-models-convert"


class Graph:
    def __init__(self, name: str):
        self.name = name
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._names: set[str] = set()
        self._counter = 0

    def _fresh(self, hint: str) -> str:
        self._counter += 1
        return f"{hint}_{self._counter}"

    def const(self, name: str, value) -> str:
        """Adds an initializer; the name must be unique."""
        if name in self._names:
            raise ValueError(f"duplicate initializer name {name}")
        self._names.add(name)
        arr = np.ascontiguousarray(value)
        self.initializers.append(numpy_helper.from_array(arr, name))
        return name

    def i64(self, values) -> str:
        return self.const(self._fresh("const_i64"), np.asarray(values, dtype=np.int64))

    def f32(self, values) -> str:
        return self.const(self._fresh("const_f32"), np.asarray(values, dtype=np.float32))

    def op(self, op_type: str, inputs: list[str], n_out: int = 1, **attrs):
        outs = [self._fresh(op_type.lower()) for _ in range(n_out)]
        node = helper.make_node(op_type, inputs, outs, name=f"n{len(self.nodes)}_{op_type}", **attrs)
        self.nodes.append(node)
        return outs[0] if n_out == 1 else outs

    def rename_output(self, tensor: str, new_name: str) -> str:
        """Makes a graph output carry a stable public name."""
        return self.op_named("Identity", [tensor], new_name)

    def op_named(self, op_type: str, inputs: list[str], out: str, **attrs) -> str:
        node = helper.make_node(op_type, inputs, [out], name=f"n{len(self.nodes)}_{op_type}", **attrs)
        self.nodes.append(node)
        return out

    def model(self, inputs, outputs, doc: str, metadata: dict[str, str]) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, self.name, inputs, outputs, self.initializers)
        model = helper.make_model(
            graph,
            producer_name=PRODUCER,
            producer_version="1",
            opset_imports=[helper.make_opsetid("", OPSET)],
            doc_string=doc,
        )
        model.ir_version = IR_VERSION
        for key in sorted(metadata):
            entry = model.metadata_props.add()
            entry.key = key
            entry.value = metadata[key]
        onnx.checker.check_model(model, full_check=True)
        return model


def tensor(name: str, elem_type, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem_type, shape)


FLOAT = TensorProto.FLOAT
INT64 = TensorProto.INT64


def save(model: onnx.ModelProto, path) -> None:
    # SerializeToString is byte-stable for a given graph (no maps, no timestamps).
    data = model.SerializeToString(deterministic=True)
    tmp = f"{path}.partial"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
