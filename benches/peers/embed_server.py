"""The seed's embedding stack, as `make bench`'s peer for /v1/embeddings.

FastAPI on uvicorn, onnxruntime and Hugging Face's tokenizers serving the same int8 MiniLM files
as Tessera, in OpenAI's request and answer shape: the tokens truncated to 256, mean pooling over
the attention mask, unit length. Each with its defaults: a sync endpoint runs in FastAPI's thread
pool, and onnxruntime uses every core.

Usage: embed_server.py MODEL_DIR PORT
"""

import sys

import numpy as np
import onnxruntime as ort
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from tokenizers import Tokenizer

model_dir, port = sys.argv[1], int(sys.argv[2])
tokenizer = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
tokenizer.enable_truncation(256)
tokenizer.enable_padding()
session = ort.InferenceSession(f"{model_dir}/model.onnx", providers=["CPUExecutionProvider"])
inputs = {i.name for i in session.get_inputs()}
app = FastAPI()


class Request(BaseModel):
    input: list[str] | str
    model: str | None = None


@app.post("/v1/embeddings")
def embeddings(request: Request):
    texts = [request.input] if isinstance(request.input, str) else request.input
    encoded = tokenizer.encode_batch(texts)
    ids = np.array([e.ids for e in encoded], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in inputs:
        feeds["token_type_ids"] = np.zeros_like(ids)
    hidden = session.run(None, feeds)[0]
    weights = mask[..., None].astype(np.float32)
    vectors = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return {
        "object": "list",
        "model": request.model or "minilm-l6-v2-int8",
        "data": [
            {"object": "embedding", "index": i, "embedding": v.tolist()}
            for i, v in enumerate(vectors)
        ],
    }


uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
