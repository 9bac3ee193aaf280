"""Tessera's OpenAI-compatible API driven by the official `openai` package.

Run by tests/openai_v1.rs with OPENAI_BASE_URL (…/v1), OPENAI_API_KEY (a Tessera API key) and
TESSERA_MODEL_{CHAT,EMBEDDINGS,TRANSCRIPTION,SPEECH} (the catalog ids the server serves).
Exits non-zero with the failed check's message on the first failure.
"""

import math
import os
import sys

import openai
from openai import OpenAI

CHAT = os.environ["TESSERA_MODEL_CHAT"]
EMBEDDINGS = os.environ["TESSERA_MODEL_EMBEDDINGS"]
TRANSCRIPTION = os.environ["TESSERA_MODEL_TRANSCRIPTION"]
SPEECH = os.environ["TESSERA_MODEL_SPEECH"]

# No retries: every error must surface as the exception class its status maps to.
client = OpenAI(max_retries=0, timeout=300)


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def models():
    ids = {m.id for m in client.models.list()}
    check(ids == {CHAT, EMBEDDINGS, TRANSCRIPTION, SPEECH}, f"models.list gave {ids}")
    check(client.models.retrieve(CHAT).id == CHAT, "models.retrieve")
    print("models ok")


def chat():
    messages = [{"role": "user", "content": "Name three colours of the rainbow."}]
    whole = client.chat.completions.create(
        model=CHAT, messages=messages, temperature=0, max_tokens=40
    )
    answer = whole.choices[0].message.content
    check(whole.object == "chat.completion" and whole.model == CHAT, f"completion: {whole}")
    check(answer and answer.strip(), f"empty answer: {whole}")
    check(whole.choices[0].finish_reason in ("stop", "length"), f"finish: {whole}")
    check(whole.usage.prompt_tokens > 0 and whole.usage.completion_tokens > 0, f"usage: {whole.usage}")
    check(
        whole.usage.total_tokens == whole.usage.prompt_tokens + whole.usage.completion_tokens,
        f"total: {whole.usage}",
    )

    stream = client.chat.completions.create(
        model=CHAT,
        messages=messages,
        temperature=0,
        max_tokens=40,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, finish, usage, chunks = [], None, None, 0
    for chunk in stream:
        chunks += 1
        check(chunk.object == "chat.completion.chunk", f"chunk: {chunk}")
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
            if choice.finish_reason:
                finish = choice.finish_reason
    streamed = "".join(pieces)
    check(streamed == answer, f"stream {streamed!r} != whole {answer!r}")
    check(len(pieces) > 1, f"the answer came in {len(pieces)} piece(s)")
    check(finish == whole.choices[0].finish_reason, f"stream finish {finish}")
    check(usage is not None and usage.completion_tokens == whole.usage.completion_tokens,
          f"stream usage {usage} vs {whole.usage}")
    check(usage.prompt_tokens == whole.usage.prompt_tokens, f"prompt tokens {usage}")

    # Without include_usage there is no usage chunk.
    plain = client.chat.completions.create(
        model=CHAT, messages=messages, temperature=0, max_tokens=5, stream=True
    )
    check(all(c.usage is None for c in plain), "usage sent without include_usage")
    print(f"chat ok ({whole.usage.completion_tokens} tokens, {chunks} chunks)")


def embeddings():
    texts = [
        "A cat is sleeping on the sofa.",
        "A kitten naps on the couch.",
        "The central bank raised interest rates again.",
    ]
    got = client.embeddings.create(model=EMBEDDINGS, input=texts)  # base64 by default
    check(len(got.data) == 3 and [d.index for d in got.data] == [0, 1, 2], f"data: {got.data}")
    vectors = [d.embedding for d in got.data]
    check(all(len(v) == 384 for v in vectors), "dimensions")
    near, far = cosine(vectors[0], vectors[1]), cosine(vectors[0], vectors[2])
    check(near > far + 0.2, f"similar sentences {near:.3f} vs unrelated {far:.3f}")
    check(got.usage.prompt_tokens > 10 and got.usage.total_tokens == got.usage.prompt_tokens,
          f"usage {got.usage}")
    floats = client.embeddings.create(model=EMBEDDINGS, input=texts[0], encoding_format="float")
    check(len(floats.data) == 1, "one input, one vector")
    diff = max(abs(a - b) for a, b in zip(floats.data[0].embedding, vectors[0]))
    check(diff < 1e-5, f"float and base64 differ by {diff}")
    print(f"embeddings ok (near {near:.3f}, far {far:.3f})")


def speech_and_transcription():
    said = "The quick brown fox jumps over the lazy dog."
    wav = client.audio.speech.create(model=SPEECH, voice="alloy", input=said, response_format="wav")
    audio = wav.read()
    check(audio[:4] == b"RIFF" and audio[8:12] == b"WAVE", f"not a WAV: {audio[:16]!r}")
    check(len(audio) > 22050, f"{len(audio)} bytes of speech")
    mp3 = client.audio.speech.create(model="tts-1", voice="nova", input="Hello there.", speed=1.25).read()
    check(mp3[:3] == b"ID3" or (mp3[0] == 0xFF and mp3[1] & 0xE0 == 0xE0), f"not MP3: {mp3[:8]!r}")

    text = client.audio.transcriptions.create(model=TRANSCRIPTION, file=("speech.wav", audio)).text
    words = text.lower()
    # The voice samples its prosody, so one word may come out unclear; most must be heard.
    heard = [w for w in ("quick", "brown", "fox", "jumps", "lazy", "dog") if w in words]
    check(len(heard) >= 5, f"only {heard} heard in the transcript {text!r}")
    verbose = client.audio.transcriptions.create(
        model="whisper-1", file=("speech.wav", audio), response_format="verbose_json"
    )
    check(verbose.duration > 1.0 and verbose.segments, f"verbose: {verbose}")
    check(verbose.segments[-1].end <= verbose.duration + 0.5, f"segments: {verbose.segments}")
    srt = client.audio.transcriptions.create(
        model=TRANSCRIPTION, file=("speech.wav", audio), response_format="srt"
    )
    check(srt.startswith("1\n00:00:") and " --> " in srt, f"srt: {srt!r}")
    plain = client.audio.transcriptions.create(
        model=TRANSCRIPTION, file=("speech.wav", audio), response_format="text"
    )
    check(plain.strip() == text.strip(), f"text: {plain!r} vs json: {text!r}")
    print(f"speech and transcription ok ({text!r})")


def expect(exception, code, call):
    try:
        call()
    except exception as e:
        check(e.code == code, f"{exception.__name__} with code {e.code!r}, wanted {code!r}")
        check(isinstance(e.body, dict) and e.body.get("type") and "message" in e.body, f"body {e.body}")
        return e
    except openai.APIStatusError as e:
        raise AssertionError(f"wanted {exception.__name__}, got {type(e).__name__}: {e}") from e
    raise AssertionError(f"wanted {exception.__name__}, the call succeeded")


def errors():
    bad = OpenAI(api_key="tsk_not-a-key", max_retries=0)
    expect(openai.AuthenticationError, "invalid_api_key", lambda: bad.models.list())
    expect(openai.NotFoundError, "model_not_found",
           lambda: client.chat.completions.create(model="gpt-nonexistent",
                                                  messages=[{"role": "user", "content": "hi"}]))
    long_prompt = "word " * 9000
    e = expect(openai.BadRequestError, "context_length_exceeded",
               lambda: client.chat.completions.create(
                   model=CHAT, messages=[{"role": "user", "content": long_prompt}], max_tokens=16))
    check("context window" in e.message, f"message: {e.message}")
    expect(openai.BadRequestError, "context_length_exceeded",
           lambda: client.chat.completions.create(
               model=CHAT, messages=[{"role": "user", "content": long_prompt}], max_tokens=16,
               stream=True))
    expect(openai.BadRequestError, "empty_messages",
           lambda: client.chat.completions.create(model=CHAT, messages=[]))
    expect(openai.BadRequestError, "model_not_supported",
           lambda: client.embeddings.create(model=CHAT, input="x"))
    expect(openai.BadRequestError, "unsupported_response_format",
           lambda: client.audio.speech.create(model=SPEECH, voice="alloy", input="hi",
                                              response_format="flac"))
    expect(openai.BadRequestError, "unsupported_file_type",
           lambda: client.audio.transcriptions.create(
               model=TRANSCRIPTION, file=("notes.wav", b"these are not sounds " * 20)))
    print("errors ok")


def main():
    print(f"openai {openai.__version__} against {client.base_url}")
    models()
    chat()
    embeddings()
    speech_and_transcription()
    errors()
    print("all checks passed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
