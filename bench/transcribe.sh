#!/usr/bin/env bash
# Speech-to-text quality and speed of the transcription stage, exactly as voicebin runs it:
# `voicebin transcribe` (release build) decodes each file in the scan sandbox and hands 16 kHz
# PCM to the configured engine (default: faster-whisper with Whisper tiny.en from PyPI, installed
# by scripts/install-transcription).
#
# Quality: word error rate (WER, computed by the `jiwer` package from PyPI) against reference
# transcripts that come with the audio:
#   - read speech: the LibriVox utterances of Debian's `pocketsphinx-testdata` package (human
#     readers, references in its `transcription` file);
#   - generated speech: sentences from the Harvard sentence lists spoken by espeak-ng (Debian),
#     the voice the project's own fixtures use.
# Both texts are normalised the same way before scoring (lowercase, punctuation removed,
# hyphens and "mr." spelled as the references spell them).
# Speed: real-time factor of a long clip (the LibriVox utterances joined, repeated to
# $LONG_SECONDS seconds, default 300), i.e. audio seconds per wall-clock second, on this
# machine's cores; per-file figures for the short ones include the model's load (~0.5 s).
#
# Targets (issue 14): WER <= 15 % on clean read speech; >= 5x real time on 2 cores.
# Environment: LONG_SECONDS, VOICEBIN_BIN (a voicebin binary to use instead of building one), and the VOICEBIN_TRANSCRIBE_* settings (README) to try other
# engines, models, threads or beam widths.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
need=()
[ -d /usr/share/pocketsphinx/test/data/librivox ] || need+=(pocketsphinx-testdata)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v sox >/dev/null || need+=(sox)
command -v bc >/dev/null || need+=(bc)
if [ ${#need[@]} -gt 0 ]; then
  as_root apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need[@]}" >/dev/null
fi
source scripts/services/stt.sh
ensure_stt
cache="${VOICEBIN_CACHE_DIR:-$HOME/.cache/voicebin}"
if [ ! -x "$cache/bench-venv/bin/python" ]; then
  python3 -m venv "$cache/bench-venv"
  "$cache/bench-venv/bin/pip" install --quiet --disable-pip-version-check jiwer==4.0.0
fi
py="$cache/bench-venv/bin/python"

bin=${VOICEBIN_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release --quiet --bin voicebin
  bin=${CARGO_TARGET_DIR:-target}/release/voicebin
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export VOICEBIN_TRANSCRIPTION=on

librivox=/usr/share/pocketsphinx/test/data/librivox
: >"$work/read.ref"; : >"$work/read.hyp"
audio_s=0; wall_s=0
for id in $(cat "$librivox/fileids"); do
  ref=$(grep "($id)" "$librivox/transcription" | sed -e 's/<s>//; s/<\/s>//; s/([^)]*)$//')
  start=$(date +%s.%N)
  hyp=$("$bin" transcribe "$librivox/$id.wav" 2>/dev/null)
  end=$(date +%s.%N)
  echo "$ref" >>"$work/read.ref"; echo "$hyp" >>"$work/read.hyp"
  audio_s=$(echo "$audio_s + $(soxi -D "$librivox/$id.wav")" | bc -l)
  wall_s=$(echo "$wall_s + $end - $start" | bc -l)
done
read_short_rtf=$(echo "$audio_s / $wall_s" | bc -l)

# Harvard sentences (list 1 and 2), public domain (IEEE 1969).
cat >"$work/harvard.txt" <<'TEXT'
The birch canoe slid on the smooth planks.
Glue the sheet to the dark blue background.
It's easy to tell the depth of a well.
These days a chicken leg is a rare dish.
Rice is often served in round bowls.
The juice of lemons makes fine punch.
The box was thrown beside the parked truck.
The hogs were fed chopped corn and garbage.
Four hours of steady work faced us.
A large size in stockings is hard to sell.
The boy was there when the sun rose.
A rod is used to catch pink salmon.
The source of the huge river is the clear spring.
Kick the ball straight and follow through.
Help the woman get back to her feet.
A pot of tea helps to pass the evening.
Smoky fires lack flame and heat.
The soft cushion broke the man's fall.
The salt breeze came across from the sea.
The girl at the booth sold fifty bonds.
TEXT
: >"$work/gen.ref"; : >"$work/gen.hyp"
n=0
while read -r sentence; do
  n=$((n + 1))
  espeak-ng -v en-us -s 160 -w "$work/gen$n.wav" "$sentence"
  echo "$sentence" >>"$work/gen.ref"
  "$bin" transcribe "$work/gen$n.wav" 2>/dev/null >>"$work/gen.hyp"
done <"$work/harvard.txt"

# One long clip: the read speech joined and repeated.
long=${LONG_SECONDS:-300}
sox $(for id in $(cat "$librivox/fileids"); do echo "$librivox/$id.wav"; done) "$work/joined.wav"
reps=$(echo "$long / $(soxi -D "$work/joined.wav") + 1" | bc)
sox "$work/joined.wav" "$work/long.wav" repeat "$((reps - 1))" trim 0 "$long"
start=$(date +%s.%N)
"$bin" transcribe "$work/long.wav" >/dev/null 2>&1
end=$(date +%s.%N)
long_rtf=$(echo "$(soxi -D "$work/long.wav") / ($end - $start)" | bc -l)

"$py" - "$work" "$read_short_rtf" "$long_rtf" "$long" <<'PY'
import re, sys, jiwer
work, short_rtf, long_rtf, long_s = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
def norm(line):
    t = line.lower().replace("mr.", "mister").replace("-", " ").replace("'", "")
    t = re.sub(r"[^a-z0-9 ]+", " ", t)
    return " ".join(t.split())
def wer(name):
    refs = [norm(l) for l in open(f"{work}/{name}.ref")]
    hyps = [norm(l) for l in open(f"{work}/{name}.hyp")]
    return jiwer.wer(refs, hyps), len(refs), sum(len(r.split()) for r in refs)
for name, label in (("read", "read speech (pocketsphinx-testdata LibriVox)"),
                    ("gen", "generated speech (espeak-ng, Harvard sentences)")):
    w, n, words = wer(name)
    print(f"WER {label}: {100 * w:.1f} % over {n} utterances, {words} words")
print(f"speed, short utterances (model load included): {short_rtf:.1f}x real time")
print(f"speed, one {long_s} s clip: {long_rtf:.1f}x real time")
PY
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
