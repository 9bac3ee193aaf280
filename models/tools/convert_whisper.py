"""Whisper tiny.en: CTranslate2 model.bin -> ONNX encoder + decoder (fp32).

Usage: convert_whisper.py MODEL_BIN OUT_DIR
OUT_DIR receives encoder.onnx and decoder.onnx.

Graphs:
  encoder: input_features f32 [batch,80,3000] -> encoder_hidden_states f32 [batch,1500,384]
  decoder: input_ids i64 [batch,T] + encoder_hidden_states -> logits f32 [batch,T,51864]
The decoder has no key/value cache: every step recomputes all T positions and the cross-attention
keys and values (fine for short utterances; a cached decoder is a later optimisation).

The conversion is verified before it is accepted: the mel front end against known check values,
the graphs with onnx's checker, and ONNX Runtime's outputs against a numpy forward pass.
"""

import hashlib
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ct2  # noqa: E402
from onnxbuild import FLOAT, INT64, Graph, save, tensor  # noqa: E402

D = 384
HEADS = 6
HEAD_DIM = 64
LAYERS = 4
VOCAB = 51864
N_MELS = 80
FRAMES = 3000
CONVERTER = "whisper-ct2-onnx/1"

# ---------------------------------------------------------------- audio front end (reference)

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
N_SAMPLES = 480000


def _hz_to_mel(f):
    f = np.asarray(f, dtype=np.float64)
    logstep = math.log(6.4) / 27.0
    return np.where(f < 1000.0, f / (200.0 / 3.0), 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / logstep)


def _mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    logstep = math.log(6.4) / 27.0
    return np.where(m < 15.0, m * (200.0 / 3.0), 1000.0 * np.exp(logstep * (m - 15.0)))


def mel_filters() -> np.ndarray:
    """Slaney-style 80x201 filterbank over 0-8000 Hz (librosa htk=False, norm='slaney')."""
    fft_freqs = np.arange(N_FFT // 2 + 1, dtype=np.float64) * SAMPLE_RATE / N_FFT
    pts = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(8000.0), N_MELS + 2))
    weights = np.zeros((N_MELS, fft_freqs.size))
    for i in range(N_MELS):
        lower = (fft_freqs - pts[i]) / (pts[i + 1] - pts[i])
        upper = (pts[i + 2] - fft_freqs) / (pts[i + 2] - pts[i + 1])
        weights[i] = np.maximum(0.0, np.minimum(lower, upper)) * (2.0 / (pts[i + 2] - pts[i]))
    return weights


def log_mel(samples: np.ndarray) -> np.ndarray:
    """16 kHz mono float samples -> [80,3000] log-mel features."""
    audio = np.zeros(N_SAMPLES, dtype=np.float64)
    n = min(len(samples), N_SAMPLES)
    audio[:n] = samples[:n]
    padded = np.pad(audio, N_FFT // 2, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT)
    n_frames = 1 + (len(padded) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
    spec = np.fft.rfft(padded[idx] * window, axis=1)
    power = (np.abs(spec) ** 2)[:FRAMES].T  # [201, 3000]
    mel = mel_filters() @ power
    logspec = np.log10(np.maximum(mel, 1e-10))
    logspec = np.maximum(logspec, logspec.max() - 8.0)
    return ((logspec + 4.0) / 4.0).astype(np.float32)


# ---------------------------------------------------------------- numpy forward pass (reference)


def _erf(x):
    # Abramowitz & Stegun 7.1.26: absolute error below 1.5e-7, under float32 resolution here.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x):
    x64 = x.astype(np.float64)
    return (0.5 * x64 * (1.0 + _erf(x64 / math.sqrt(2.0)))).astype(np.float32)


def _ln(x, p):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-5) * p["gamma"] + p["beta"]


def _lin(x, p):
    return x @ p["weight"].T + p["bias"]


def _attend(q, k, v, mask=None):
    t_q, t_k = q.shape[0], k.shape[0]
    q = q.reshape(t_q, HEADS, HEAD_DIM).transpose(1, 0, 2)
    k = k.reshape(t_k, HEADS, HEAD_DIM).transpose(1, 2, 0)
    v = v.reshape(t_k, HEADS, HEAD_DIM).transpose(1, 0, 2)
    s = (q @ k) * (1.0 / math.sqrt(HEAD_DIM))
    if mask is not None:
        s = s + mask
    s = s - s.max(-1, keepdims=True)
    p = np.exp(s)
    p = p / p.sum(-1, keepdims=True)
    return (p @ v).transpose(1, 0, 2).reshape(t_q, D)


def _conv1d(x, w, b, stride):
    # x [C_in, T], w [C_out, C_in, 3], padding 1.
    xp = np.pad(x, ((0, 0), (1, 1)))
    t_out = (x.shape[1] + 2 - 3) // stride + 1
    out = np.zeros((w.shape[0], t_out), dtype=np.float32)
    for k in range(3):
        out += w[:, :, k] @ xp[:, k : k + stride * (t_out - 1) + 1 : stride]
    return out + b[:, None]


def _params(variables, prefix):
    """Nested dict view of the fp32 weights under prefix."""
    out: dict = {}
    for name, arr in variables.items():
        if not name.startswith(prefix):
            continue
        parts = name[len(prefix) :].strip("/").split("/")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = arr
    return out


def numpy_encoder(w, mel):
    e = w["encoder"]
    x = _gelu(_conv1d(mel, e["conv1"]["weight"], e["conv1"]["bias"], 1))
    x = _gelu(_conv1d(x, e["conv2"]["weight"], e["conv2"]["bias"], 2)).T
    x = x + e["position_encodings"]["encodings"]
    for i in range(LAYERS):
        layer = e[f"layer_{i}"]
        sa = layer["self_attention"]
        qkv = _lin(_ln(x, sa["layer_norm"]), sa["linear_0"])
        x = x + _lin(_attend(qkv[:, :D], qkv[:, D : 2 * D], qkv[:, 2 * D :]), sa["linear_1"])
        ffn = layer["ffn"]
        x = x + _lin(_gelu(_lin(_ln(x, ffn["layer_norm"]), ffn["linear_0"])), ffn["linear_1"])
    return _ln(x, e["layer_norm"])


def numpy_decoder(w, tokens, enc):
    d = w["decoder"]
    emb = d["embeddings"]["weight"]
    t = len(tokens)
    x = emb[tokens] + d["position_encodings"]["encodings"][:t]
    mask = np.triu(np.full((t, t), -np.inf, dtype=np.float32), 1)
    for i in range(LAYERS):
        layer = d[f"layer_{i}"]
        sa = layer["self_attention"]
        qkv = _lin(_ln(x, sa["layer_norm"]), sa["linear_0"])
        x = x + _lin(_attend(qkv[:, :D], qkv[:, D : 2 * D], qkv[:, 2 * D :], mask), sa["linear_1"])
        ca = layer["attention"]
        q = _lin(_ln(x, ca["layer_norm"]), ca["linear_0"])
        kv = _lin(enc, ca["linear_1"])
        x = x + _lin(_attend(q, kv[:, :D], kv[:, D:]), ca["linear_2"])
        ffn = layer["ffn"]
        x = x + _lin(_gelu(_lin(_ln(x, ffn["layer_norm"]), ffn["linear_0"])), ffn["linear_1"])
    return _ln(x, d["layer_norm"]) @ emb.T


# ---------------------------------------------------------------- ONNX graphs


class _Builder(Graph):
    def __init__(self, name, variables):
        super().__init__(name)
        self.v = variables
        self.sqrt2 = self.f32(math.sqrt(2.0))
        self.half = self.f32(0.5)
        self.one = self.f32(1.0)
        self.scale = self.f32(1.0 / math.sqrt(HEAD_DIM))
        self.heads_shape = self.i64([0, 0, HEADS, HEAD_DIM])
        self.merge_shape = self.i64([0, 0, D])

    def w(self, name, transpose=False):
        arr = self.v[name].astype(np.float32)
        if transpose:
            arr = arr.T
        key = name.replace("/", ".") + (".T" if transpose else "")
        return self.const(key, arr)

    def linear(self, x, prefix):
        return self.op("Add", [self.op("MatMul", [x, self.w(f"{prefix}/weight", True)]), self.w(f"{prefix}/bias")])

    def layer_norm(self, x, prefix):
        return self.op(
            "LayerNormalization",
            [x, self.w(f"{prefix}/gamma"), self.w(f"{prefix}/beta")],
            axis=-1,
            epsilon=1e-5,
        )

    def gelu(self, x):
        erf = self.op("Erf", [self.op("Div", [x, self.sqrt2])])
        return self.op("Mul", [self.op("Mul", [x, self.half]), self.op("Add", [erf, self.one])])

    def attention(self, q, k, v, mask=None):
        q = self.op("Transpose", [self.op("Reshape", [q, self.heads_shape])], perm=[0, 2, 1, 3])
        k = self.op("Transpose", [self.op("Reshape", [k, self.heads_shape])], perm=[0, 2, 3, 1])
        v = self.op("Transpose", [self.op("Reshape", [v, self.heads_shape])], perm=[0, 2, 1, 3])
        scores = self.op("Mul", [self.op("MatMul", [q, k]), self.scale])
        if mask is not None:
            scores = self.op("Add", [scores, mask])
        probs = self.op("Softmax", [scores], axis=-1)
        out = self.op("Transpose", [self.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])
        return self.op("Reshape", [out, self.merge_shape])

    def split3(self, x):
        return self.op("Split", [x, self.i64([D, D, D])], n_out=3, axis=-1)

    def split2(self, x):
        return self.op("Split", [x, self.i64([D, D])], n_out=2, axis=-1)

    def ffn(self, x, prefix):
        h = self.layer_norm(x, f"{prefix}/layer_norm")
        h = self.gelu(self.linear(h, f"{prefix}/linear_0"))
        return self.op("Add", [x, self.linear(h, f"{prefix}/linear_1")])


def build_encoder(variables, metadata):
    g = _Builder("whisper_tiny_en_encoder", variables)
    x = g.op("Conv", ["input_features", g.w("encoder/conv1/weight"), g.w("encoder/conv1/bias")], pads=[1, 1], strides=[1])
    x = g.gelu(x)
    x = g.op("Conv", [x, g.w("encoder/conv2/weight"), g.w("encoder/conv2/bias")], pads=[1, 1], strides=[2])
    x = g.op("Transpose", [g.gelu(x)], perm=[0, 2, 1])
    x = g.op("Add", [x, g.w("encoder/position_encodings/encodings")])
    for i in range(LAYERS):
        p = f"encoder/layer_{i}"
        h = g.layer_norm(x, f"{p}/self_attention/layer_norm")
        q, k, v = g.split3(g.linear(h, f"{p}/self_attention/linear_0"))
        x = g.op("Add", [x, g.linear(g.attention(q, k, v), f"{p}/self_attention/linear_1")])
        x = g.ffn(x, f"{p}/ffn")
    g.op_named("LayerNormalization", [x, g.w("encoder/layer_norm/gamma"), g.w("encoder/layer_norm/beta")],
               "encoder_hidden_states", axis=-1, epsilon=1e-5)
    return g.model(
        [tensor("input_features", FLOAT, ["batch", N_MELS, FRAMES])],
        [tensor("encoder_hidden_states", FLOAT, ["batch", 1500, D])],
        "Whisper tiny.en encoder (converted from CTranslate2, fp32)",
        metadata,
    )


def build_decoder(variables, metadata):
    g = _Builder("whisper_tiny_en_decoder", variables)
    emb = g.w("decoder/embeddings/weight")
    x = g.op("Gather", [emb, "input_ids"], axis=0)
    t = g.op("Shape", ["input_ids"], start=1, end=2)  # [T]
    pos = g.op("Slice", [g.w("decoder/position_encodings/encodings"), g.i64([0]), t, g.i64([0])])
    x = g.op("Add", [x, pos])
    # Causal mask [T,T]: -inf where the key position is after the query position.
    steps = g.op("Range", [g.i64(0), g.op("Squeeze", [t, g.i64([0])]), g.i64(1)])
    future = g.op("Greater", [g.op("Unsqueeze", [steps, g.i64([0])]), g.op("Unsqueeze", [steps, g.i64([1])])])
    mask = g.op("Where", [future, g.f32(-np.inf), g.f32(0.0)])
    enc = "encoder_hidden_states"
    for i in range(LAYERS):
        p = f"decoder/layer_{i}"
        h = g.layer_norm(x, f"{p}/self_attention/layer_norm")
        q, k, v = g.split3(g.linear(h, f"{p}/self_attention/linear_0"))
        x = g.op("Add", [x, g.linear(g.attention(q, k, v, mask), f"{p}/self_attention/linear_1")])
        h = g.layer_norm(x, f"{p}/attention/layer_norm")
        q = g.linear(h, f"{p}/attention/linear_0")
        k, v = g.split2(g.linear(enc, f"{p}/attention/linear_1"))
        x = g.op("Add", [x, g.linear(g.attention(q, k, v), f"{p}/attention/linear_2")])
        x = g.ffn(x, f"{p}/ffn")
    h = g.layer_norm(x, "decoder/layer_norm")
    # Tied output projection: Gemm with transB reads the embedding matrix without a transposed copy.
    flat = g.op("Reshape", [h, g.i64([-1, D])])
    logits = g.op("Gemm", [flat, emb], transB=1)
    out_shape = g.op("Concat", [g.op("Shape", ["input_ids"]), g.i64([VOCAB])], axis=0)
    g.op_named("Reshape", [logits, out_shape], "logits")
    return g.model(
        [tensor("input_ids", INT64, ["batch", "tokens"]), tensor(enc, FLOAT, ["batch", 1500, D])],
        [tensor("logits", FLOAT, ["batch", "tokens", VOCAB])],
        "Whisper tiny.en decoder without key/value cache (converted from CTranslate2, fp32)",
        metadata,
    )


# ---------------------------------------------------------------- checks


def _check(name, ok, detail):
    print(f"  check {name}: {detail} {'ok' if ok else 'FAILED'}", flush=True)
    if not ok:
        raise SystemExit(f"whisper conversion check failed: {name} ({detail})")


def check_front_end():
    fb = mel_filters()
    row0 = [int(i) for i in np.nonzero(fb[0])[0]]
    _check("filterbank sum", abs(fb.sum() - 1.999024) < 1e-5, f"{fb.sum():.6f}")
    _check("filterbank row 0", row0 == [1] and abs(fb[0, 1] - 0.024863) < 1e-6, f"bins {row0} {fb[0, 1]:.6f}")
    _check("filterbank max", abs(fb.max() - 0.025881) < 1e-6, f"{fb.max():.6f}")
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    mel = log_mel(0.5 * np.sin(2 * np.pi * 440.0 * t))
    peak = int(np.unravel_index(np.argmax(mel), mel.shape)[0])
    _check("440 Hz mel max", abs(mel.max() - 1.4382) < 5e-4, f"{mel.max():.4f}")
    _check("440 Hz mel min", abs(mel.min() + 0.5618) < 5e-4, f"{mel.min():.4f}")
    _check("440 Hz mel peak bin", peak == 11, str(peak))
    return mel


def check_graphs(w, enc_path, dec_path, mel):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    enc_sess = ort.InferenceSession(str(enc_path), opts, providers=["CPUExecutionProvider"])
    dec_sess = ort.InferenceSession(str(dec_path), opts, providers=["CPUExecutionProvider"])
    enc_ref = numpy_encoder(w, mel)
    (enc_onnx,) = enc_sess.run(None, {"input_features": mel[None]})
    diff = float(np.abs(enc_onnx[0] - enc_ref).max())
    _check("encoder onnx vs numpy", diff < 1e-2, f"max |diff| {diff:.2e} (|ref| max {np.abs(enc_ref).max():.1f})")
    tokens = [50257, 50362, 18435, 995, 11]
    dec_ref = numpy_decoder(w, np.array(tokens), enc_ref)
    (dec_onnx,) = dec_sess.run(None, {"input_ids": np.array([tokens], dtype=np.int64), "encoder_hidden_states": enc_onnx})
    diff = float(np.abs(dec_onnx[0] - dec_ref).max())
    same_argmax = bool((dec_onnx[0].argmax(-1) == dec_ref.argmax(-1)).all())
    _check("decoder onnx vs numpy", diff < 2e-2 and same_argmax, f"max |diff| {diff:.2e}, argmax equal {same_argmax}")
    # Batch of two with different prompts must give the same rows as two single runs.
    (one,) = dec_sess.run(None, {"input_ids": np.array([tokens[:3]], dtype=np.int64), "encoder_hidden_states": enc_onnx})
    _check("decoder causality", float(np.abs(one[0] - dec_onnx[0, :3]).max()) < 1e-3, "prefix logits unchanged")


def main(argv):
    if len(argv) != 3:
        raise SystemExit(__doc__)
    src, out = Path(argv[1]), Path(argv[2])
    source_sha = hashlib.sha256(src.read_bytes()).hexdigest()
    spec, raw = ct2.load(src)
    if spec != "WhisperSpec":
        raise SystemExit(f"model.bin holds a {spec}, not a WhisperSpec")
    if int(raw["decoder/activation"]) != 3 or int(raw["decoder/num_heads"]) != HEADS:
        raise SystemExit("model.bin: unexpected activation or head count for Whisper tiny.en")
    variables = {k: v for k, v in raw.items() if v.ndim > 0}
    metadata = {"converter": CONVERTER, "source": "CTranslate2 model.bin", "source_sha256": source_sha}
    print("  building encoder.onnx", flush=True)
    save(build_encoder(variables, metadata), out / "encoder.onnx")
    print("  building decoder.onnx", flush=True)
    save(build_decoder(variables, metadata), out / "decoder.onnx")
    mel = check_front_end()
    fp32 = {k: v.astype(np.float32) for k, v in variables.items()}
    check_graphs(_params(fp32, ""), out / "encoder.onnx", out / "decoder.onnx", mel)


if __name__ == "__main__":
    main(sys.argv)
