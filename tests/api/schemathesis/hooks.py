"""Schemathesis hooks for the contract test (tests/api/contract.rs).

An upload's body is "binary" in the OpenAPI document, but only real audio is stored (anything
else is answered 415, as documented). Random bytes are never audio, so without help no upload
would succeed and the stateful phase could never follow the links from `POST /api/v1/audio`.
The first hook replaces the body (or the form's `file` part) of about half of the schema-valid
uploads with a short WAV clip; the other half, and every negative body, stay as generated. The
last one sends a form's `file` part after its fields, as the server requires.
"""

import io
import math
import wave

import schemathesis
from hypothesis import strategies as st
from schemathesis.core.parameters import ParameterLocation


def _wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(bytes(128 + int(100 * math.sin(i / 5)) for i in range(1600)))
    return out.getvalue()


WAV = _wav()


@schemathesis.hook("flatmap_case").apply_to(method="POST", path="/api/v1/audio")
def upload_some_audio(ctx, case):
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.BODY):
        return st.just(case)
    raw = case.media_type in ("application/octet-stream", "audio/*")
    form = case.media_type == "multipart/form-data" and isinstance(case.body, dict)
    if not (raw or form):
        return st.just(case)

    def with_audio(audio: bool):
        if audio and raw:
            case.body = WAV
        elif audio:
            case.body["file"] = WAV
        return case

    return st.booleans().map(with_audio)


@schemathesis.hook("before_call").apply_to(method="POST", path="/api/v1/audio")
def send_metadata_headers_as_utf8(ctx, case, kwargs):
    """The metadata headers (`x-title`, ...) carry UTF-8 text as raw bytes, the way clients send
    non-ASCII titles and filenames; the HTTP client would encode them as Latin-1 (and fail on
    anything beyond it). Hand it the UTF-8 bytes instead."""
    for name, value in list((case.headers or {}).items()):
        if name.lower().startswith("x-") and isinstance(value, str):
            case.headers[name] = value.encode("utf-8").decode("latin-1")


@schemathesis.hook("before_call").apply_to(method="POST", path="/api/v1/audio")
def send_the_file_part_last(ctx, case, kwargs):
    """A form's metadata fields come before its `file` part, and a part after the file is
    refused (the form's description says so; JSON Schema cannot order an object's properties).
    Send each generated form in that order."""
    if case.media_type == "multipart/form-data" and isinstance(case.body, dict):
        if "file" in case.body:
            case.body["file"] = case.body.pop("file")
