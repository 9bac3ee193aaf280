"""EfficientNet-Lite0: legacy torch.save state dict -> ONNX (fp32), without torch.

Usage: convert_efficientnet.py PTH_FILE OUT_DIR
Writes OUT_DIR/model.onnx: input f32 [batch,3,224,224] (RGB, (x - 127) / 128 on 0-255) ->
logits f32 [batch,1000] (ImageNet-1k order). BatchNorm (eps 1e-3) is folded into the
convolutions; padding is TensorFlow "SAME" for 224x224 inputs; ReLU6 is Clip(0, 6).
"""

import hashlib
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch_legacy  # noqa: E402
from onnxbuild import FLOAT, Graph, save, tensor  # noqa: E402

CONVERTER = "efficientnet-lite-torch-onnx/1"
SIZE = 224
BN_EPS = 1e-3
# (repeats, expand ratio, kernel, stride of the first block, output channels); input 32 channels.
STAGES = [(1, 1, 3, 1, 16), (2, 6, 3, 2, 24), (2, 6, 5, 2, 40), (3, 6, 3, 2, 80),
          (3, 6, 5, 1, 112), (4, 6, 5, 2, 192), (1, 6, 3, 1, 320)]


def _same_pads(size, k, s):
    total = max((math.ceil(size / s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2, math.ceil(size / s)


class _Builder(Graph):
    def __init__(self, state):
        super().__init__("efficientnet_lite0")
        self.state = state
        self.zero = self.f32(0.0)
        self.six = self.f32(6.0)
        self.used: set[str] = set()

    def get(self, name):
        self.used.add(name)
        return self.state[name].astype(np.float32)

    def conv_bn(self, x, size, conv, bn, stride, groups=1, relu6=True):
        """Conv (no bias) + folded BatchNorm [+ ReLU6]; returns (tensor, output size)."""
        w = self.get(f"{conv}.weight")
        gamma, beta = self.get(f"{bn}.weight"), self.get(f"{bn}.bias")
        mean, var = self.get(f"{bn}.running_mean"), self.get(f"{bn}.running_var")
        self.used.add(f"{bn}.num_batches_tracked")
        scale = gamma / np.sqrt(var + BN_EPS)
        w = (w * scale[:, None, None, None]).astype(np.float32)
        b = (beta - mean * scale).astype(np.float32)
        k = w.shape[-1]
        before, after, out_size = _same_pads(size, k, stride)
        y = self.op(
            "Conv",
            [x, self.const(f"{conv}.weight", w), self.const(f"{conv}.bias", b)],
            kernel_shape=[k, k],
            strides=[stride, stride],
            pads=[before, before, after, after],
            group=groups,
        )
        if relu6:
            y = self.op("Clip", [y, self.zero, self.six])
        return y, out_size


def build(state, metadata):
    g = _Builder(state)
    x, size = g.conv_bn("input", SIZE, "_conv_stem", "_bn0", 2)
    channels = 32
    block = 0
    for repeats, expand, kernel, stride, out_ch in STAGES:
        for r in range(repeats):
            p = f"_blocks.{block}"
            s = stride if r == 0 else 1
            h, hsize = x, size
            if expand != 1:
                h, hsize = g.conv_bn(h, hsize, f"{p}._expand_conv", f"{p}._bn0", 1)
            mid = channels * expand
            dw = state[f"{p}._depthwise_conv.weight"]
            if dw.shape != (mid, 1, kernel, kernel):
                raise SystemExit(f"{p}: depthwise weight {dw.shape}, expected {(mid, 1, kernel, kernel)}")
            h, hsize = g.conv_bn(h, hsize, f"{p}._depthwise_conv", f"{p}._bn1", s, groups=mid)
            h, hsize = g.conv_bn(h, hsize, f"{p}._project_conv", f"{p}._bn2", 1, relu6=False)
            if s == 1 and channels == out_ch:
                h = g.op("Add", [h, x])
            x, size, channels = h, hsize, out_ch
            block += 1
    x, size = g.conv_bn(x, size, "_conv_head", "_bn1", 1)
    pooled = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
    g.op_named("Gemm", [pooled, g.const("_fc.weight", g.get("_fc.weight")), g.const("_fc.bias", g.get("_fc.bias"))],
               "logits", transB=1)
    unused = sorted(set(state) - g.used)
    if block != 16 or unused:
        raise SystemExit(f"state dict does not match EfficientNet-Lite0: {block} blocks, unused {unused[:5]}")
    return g.model(
        [tensor("input", FLOAT, ["batch", 3, SIZE, SIZE])],
        [tensor("logits", FLOAT, ["batch", 1000])],
        "EfficientNet-Lite0, ImageNet-1k (converted from a PyTorch state dict, fp32, BN folded)",
        metadata,
    )


def _check(name, ok, detail):
    print(f"  check {name}: {detail} {'ok' if ok else 'FAILED'}", flush=True)
    if not ok:
        raise SystemExit(f"efficientnet conversion check failed: {name} ({detail})")


def check(path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    # A synthetic image: smooth colour gradients plus a bright disc, normalised as (x - 127) / 128.
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    disc = ((xx - 112) ** 2 + (yy - 112) ** 2 < 60**2).astype(np.float32)
    img = np.stack([xx / SIZE * 255, yy / SIZE * 255, 128 + 100 * disc])
    batch = ((img - 127.0) / 128.0)[None].astype(np.float32)
    (a,) = sess.run(None, {"input": batch})
    (b,) = sess.run(None, {"input": batch})
    _check("runs", a.shape == (1, 1000) and bool(np.isfinite(a).all()), f"logits {a.shape}")
    _check("deterministic", bool((a == b).all()), "two runs equal")
    (two,) = sess.run(None, {"input": np.concatenate([batch, batch[:, ::-1]])})
    _check("batch of two", float(np.abs(two[0] - a[0]).max()) < 1e-3, "row 0 matches the single run")


def main(argv):
    if len(argv) != 3:
        raise SystemExit(__doc__)
    src, out = Path(argv[1]), Path(argv[2])
    source_sha = hashlib.sha256(src.read_bytes()).hexdigest()
    state = torch_legacy.load(src)
    metadata = {
        "converter": CONVERTER,
        "source": src.name,
        "source_sha256": source_sha,
        "normalisation": "(x - 127) / 128 on 0-255 RGB",
    }
    print("  building model.onnx", flush=True)
    save(build(state, metadata), out / "model.onnx")
    check(out / "model.onnx")


if __name__ == "__main__":
    main(sys.argv)
