"""The peers of `make eval`, run on the same items as Tessera.

    peers.py ocr ITEMS.json     RapidOCR's own Python pipeline with its default settings
    peers.py asr MODEL ITEMS.json
                                faster-whisper with the same CTranslate2 weights as Tessera's
                                Whisper (its defaults: beam 5), and greedy (beam 1)

ITEMS.json is a list of file paths. Prints one JSON list of results, in the same order, each
with the text and the seconds the item took (the model's load not counted).
"""

import json
import sys
import time


def ocr(items):
    from rapidocr_onnxruntime import RapidOCR

    engine = RapidOCR()
    out = []
    for path in items:
        started = time.perf_counter()
        result, _ = engine(path)
        took = time.perf_counter() - started
        lines = [r[1] for r in (result or [])]
        out.append({"lines": lines, "text": "\n".join(lines), "seconds": took})
    return out


def asr(model_dir, items):
    from faster_whisper import WhisperModel

    model = WhisperModel(model_dir, device="cpu", compute_type="int8")
    out = []
    for path in items:
        row = {}
        for name, beam in (("beam5", 5), ("greedy", 1)):
            started = time.perf_counter()
            segments, _ = model.transcribe(path, beam_size=beam, language="en")
            text = " ".join(s.text.strip() for s in segments)
            row[name] = {"text": text, "seconds": time.perf_counter() - started}
        out.append(row)
    return out


def main():
    kind = sys.argv[1]
    if kind == "ocr":
        items = json.load(open(sys.argv[2]))
        print(json.dumps(ocr(items)))
    elif kind == "asr":
        items = json.load(open(sys.argv[3]))
        print(json.dumps(asr(sys.argv[2], items)))
    else:
        sys.exit(f"unknown peer {kind!r}")


if __name__ == "__main__":
    main()
