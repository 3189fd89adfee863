#!/usr/bin/env bash
# Uploads a generated 1 GiB WAV to a release build of voicebin in embedded mode and reports how
# much the server's resident memory grew (sampled from /proc every 100 ms, plus the kernel's
# high-water mark VmHWM). Target: growth < 64 MiB. Tools: bash, curl, python3, /proc.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB="${SIZE_MIB:-1024}"
PORT="${PORT:-18181}"
OUT="${OUT:-$(mktemp -d)}"
BIN="${CARGO_TARGET_DIR:-target}/release/voicebin"
URL="http://127.0.0.1:$PORT"

cargo build --release --quiet
mkdir -p "$OUT"
WAV="$OUT/big.wav"
python3 - "$WAV" "$SIZE_MIB" <<'PY'
import math, struct, sys
path, mib = sys.argv[1], int(sys.argv[2])
total = mib * 1024 * 1024
data = total - 44
rate, ch, bits = 48000, 2, 16
block = b"".join(struct.pack("<hh", int(8000 * math.sin(i / 20)), int(8000 * math.cos(i / 30))) for i in range(262144))
with open(path, "wb") as f:
    f.write(b"RIFF" + struct.pack("<I", 36 + data) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, ch, rate, rate * ch * bits // 8, ch * bits // 8, bits))
    f.write(b"data" + struct.pack("<I", data))
    left = data
    while left > 0:
        n = min(left, len(block))
        f.write(block[:n]); left -= n
PY

DATA="$OUT/data"
VOICEBIN_DATA_DIR="$DATA" VOICEBIN_MAX_UPLOAD_BYTES=$((2 * 1024 * 1024 * 1024)) RUST_LOG=warn \
  "$BIN" serve --listen "127.0.0.1:$PORT" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$OUT"' EXIT
for _ in $(seq 1 100); do curl -fs "$URL/readyz" >/dev/null && break; sleep 0.1; done
KEY=$(VOICEBIN_DATA_DIR="$DATA" "$BIN" keys mint --account bench --public-url "$URL")

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER/status"; }
# Warm up: one small upload so lazily allocated pools exist before the baseline.
head -c 2000000 "$WAV" > "$OUT/small.wav"
curl -fsS -o /dev/null -X POST -H "Authorization: Bearer $KEY" -T "$OUT/small.wav" "$URL/api/v1/audio"
sleep 1
BASE=$(rss_kib)
PEAK=$BASE
START=$(date +%s.%N)
curl -fsS -o "$OUT/resp.json" -X POST -H "Authorization: Bearer $KEY" -T "$WAV" "$URL/api/v1/audio" &
CURL=$!
while kill -0 $CURL 2>/dev/null; do
  now=$(rss_kib); [ "$now" -gt "$PEAK" ] && PEAK=$now; sleep 0.1
done
wait $CURL
END=$(date +%s.%N)
ID=$(grep -o '"id":"[^"]*"' "$OUT/resp.json" | cut -d'"' -f4)
# Keep sampling while the scan worker decodes the whole gigabyte.
for _ in $(seq 1 600); do
  now=$(rss_kib); [ "$now" -gt "$PEAK" ] && PEAK=$now
  STATE=$(curl -fsS -H "Authorization: Bearer $KEY" "$URL/api/v1/items/$ID" | grep -o '"scan_state":"[^"]*"' | cut -d'"' -f4)
  [ "$STATE" != pending ] && break
  sleep 0.1
done
HWM=$(awk '/^VmHWM:/ {print $2}' "/proc/$SERVER/status")
SECS=$(echo "$END - $START" | bc -l 2>/dev/null || python3 -c "print($END - $START)")
printf 'upload: %s MiB in %.1f s; scan_state=%s\n' "$SIZE_MIB" "$SECS" "$STATE"
printf 'rss baseline: %d KiB, peak: %d KiB, growth: %d KiB (%.1f MiB); VmHWM %d KiB\n' \
  "$BASE" "$PEAK" $((PEAK - BASE)) "$(python3 -c "print(($PEAK - $BASE) / 1024)")" "$HWM"
if [ $((PEAK - BASE)) -ge $((64 * 1024)) ]; then echo "FAIL: grew by 64 MiB or more"; exit 1; fi
echo "OK: growth under 64 MiB"
