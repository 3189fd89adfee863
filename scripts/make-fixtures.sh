#!/usr/bin/env bash
# Generate the audio test fixtures in tests/fixtures/audio/ (relative to the repo root).
#
# Every good file is the same short spoken sentence (espeak-ng, ~3.6 s), normalised with sox and
# encoded with ffmpeg into the containers a browser or phone is likely to upload. Bad files are
# named like audio so that only their bytes tell the truth. facts.json records what ffprobe says
# about each good file and what each bad file really is.
#
# Usage: scripts/make-fixtures.sh        (works from any cwd; installs espeak-ng, sox and ffmpeg
#                                          with apt-get when they are missing)
#
# The output is as deterministic as the tools allow: espeak-ng and sox are deterministic, ffmpeg
# runs with -fflags +bitexact / -flags:a +bitexact and -map_metadata -1 so no encoder version
# strings, timestamps or random Ogg serial numbers end up in the files. A different ffmpeg or
# libmp3lame/libopus/libvorbis version may still encode slightly different bytes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/tests/fixtures/audio"
SENTENCE="Hello from voicebin. This is a short test clip."

# --- tools -----------------------------------------------------------------------------------
install_missing() {
    local missing=()
    command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
    command -v sox >/dev/null 2>&1 || missing+=(sox)
    if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
        missing+=(ffmpeg)
    fi
    if [ "${#missing[@]}" -eq 0 ]; then
        return
    fi
    echo "make-fixtures: installing ${missing[*]}" >&2
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -q
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends \
        "${missing[@]}"
}
install_missing

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

mkdir -p "$OUT"
# Start from a clean directory so removed fixtures do not linger.
rm -f "$OUT"/*.wav "$OUT"/*.mp3 "$OUT"/*.ogg "$OUT"/*.opus "$OUT"/*.flac "$OUT"/*.m4a \
    "$OUT"/*.webm "$OUT"/*.aiff "$OUT"/*.caf "$OUT"/facts.json

# ffmpeg with everything that would make output differ between runs switched off.
ff() {
    ffmpeg -nostdin -hide_banner -loglevel error -y "$@"
}
BITEXACT=(-map_metadata -1 -map_chapters -1 -fflags +bitexact -flags:a +bitexact)

# --- the sentence ------------------------------------------------------------------------------
espeak-ng -v en-us -s 160 -w "$WORK/speech.wav" "$SENTENCE"
# Normalise to -1 dBFS, trim leading silence, keep 22050 Hz mono s16. -D: no dither (sox dithers
# with random noise by default, which would make every run differ).
sox -D "$WORK/speech.wav" -r 22050 -c 1 -b 16 -e signed-integer "$WORK/base.wav" \
    silence 1 0.01 0.1% norm -1
SRC="$WORK/base.wav"

# --- good files --------------------------------------------------------------------------------
ff -i "$SRC" "${BITEXACT[@]}" -c:a pcm_s16le -ar 22050 -ac 1 "$OUT/hello.wav"
ff -i "$SRC" "${BITEXACT[@]}" -c:a libmp3lame -b:a 64k -id3v2_version 0 -write_id3v1 0 \
    "$OUT/hello.mp3"
ff -i "$SRC" "${BITEXACT[@]}" -c:a libvorbis -q:a 3 "$OUT/hello.ogg"
ff -i "$SRC" "${BITEXACT[@]}" -c:a libopus -b:a 32k -ar 48000 "$OUT/hello.opus"
ff -i "$SRC" "${BITEXACT[@]}" -c:a flac "$OUT/hello.flac"
ff -i "$SRC" "${BITEXACT[@]}" -c:a aac -b:a 64k "$OUT/hello.m4a"
# Opus in WebM, the format Chrome's and Firefox's MediaRecorder produce.
ff -i "$SRC" "${BITEXACT[@]}" -c:a libopus -b:a 32k -ar 48000 -f webm "$OUT/hello.webm"
# The same as MediaRecorder really writes it: a "live" WebM with unknown-size segment and
# clusters, no Duration element and no Cues, so nothing but the packets tells how long it is.
ff -i "$SRC" "${BITEXACT[@]}" -c:a libopus -b:a 32k -ar 48000 -f webm -live 1 \
    "$OUT/hello-live.webm"
ff -i "$SRC" "${BITEXACT[@]}" -c:a alac "$OUT/hello-alac.m4a"
ff -i "$SRC" "${BITEXACT[@]}" -c:a pcm_s16be -f aiff "$OUT/hello.aiff"
ff -i "$SRC" "${BITEXACT[@]}" -c:a pcm_s16le -f caf "$OUT/hello.caf"
# Stereo 44.1 kHz s16 is 176 kB/s: keep only the first second ("Hello from...") so that the file
# stays under 200 kB. The right channel is quieter so the two channels differ.
ff -i "$SRC" "${BITEXACT[@]}" -af "pan=stereo|c0=c0|c1=0.5*c0,atrim=0:1" -ar 44100 \
    -c:a pcm_s16le "$OUT/hello-stereo-44k.wav"
# MP3 with an ID3v2.4 tag (UTF-8 text frames) holding non-ASCII, CJK and an emoji.
ff -i "$SRC" -map_metadata -1 -fflags +bitexact -flags:a +bitexact -c:a libmp3lame -b:a 64k \
    -id3v2_version 4 -write_id3v1 0 \
    -metadata title="Grüße — 测试 🎤" -metadata artist="Zoë" "$OUT/unicode-tags.mp3"

GOOD=(hello.wav hello.mp3 hello.ogg hello.opus hello.flac hello.m4a hello.webm hello-live.webm
    hello-alac.m4a hello.aiff hello.caf hello-stereo-44k.wav unicode-tags.mp3)

# --- bad files, each named like audio ------------------------------------------------------------
# An 8x8 PNG image.
ff -f lavfi -i "color=c=red:s=8x8" -frames:v 1 -fflags +bitexact -flags +bitexact -c:v png \
    -f image2 "$WORK/img.png"
cp "$WORK/img.png" "$OUT/not-audio.mp3"
# A Linux executable.
for elf in /usr/bin/true /bin/true; do
    if [ -f "$elf" ]; then
        cp "$elf" "$OUT/elf-binary.mp3"
        chmod 0644 "$OUT/elf-binary.mp3"
        break
    fi
done
[ -f "$OUT/elf-binary.mp3" ] || { echo "make-fixtures: no /usr/bin/true to copy" >&2; exit 1; }
# An HTML page with a script.
printf '<!DOCTYPE html>\n<html><body><script>alert("pwned")</script></body></html>\n' \
    >"$OUT/html-disguised.mp3"
# The first 300 bytes of hello.mp3 (a header and a frame or so).
head -c 300 "$OUT/hello.mp3" >"$OUT/truncated.mp3"
# Nothing at all.
: >"$OUT/empty.wav"

BAD=(not-audio.mp3 elf-binary.mp3 html-disguised.mp3 truncated.mp3 empty.wav)
declare -A WHAT=(
    [not-audio.mp3]="an 8x8 PNG image"
    [elf-binary.mp3]="a Linux ELF executable (a copy of /usr/bin/true)"
    [html-disguised.mp3]="an HTML page with a script"
    [truncated.mp3]="the first 300 bytes of hello.mp3"
    [empty.wav]="zero bytes"
)

# --- facts.json ----------------------------------------------------------------------------------
# Normalise ffprobe's demuxer name to the short container names the probe reports.
container_of() {
    case "$1" in
    wav) echo wav ;;
    mp3) echo mp3 ;;
    ogg) echo ogg ;;
    flac) echo flac ;;
    mov,mp4,*) echo mp4 ;;
    matroska,webm) echo webm ;;
    aiff) echo aiff ;;
    caf) echo caf ;;
    *) echo "$1" ;;
    esac
}

# One ffprobe value (first audio stream, or the format section).
probe_value() {
    local file="$1" section="$2" key="$3"
    if [ "$section" = stream ]; then
        ffprobe -v error -select_streams a:0 -show_entries "stream=$key" \
            -of default=noprint_wrappers=1:nokey=1 "$file"
    else
        ffprobe -v error -show_entries "format=$key" -of default=noprint_wrappers=1:nokey=1 "$file"
    fi
}

json_escape() {
    local s="$1"
    s="${s//\\/\\\\}"
    s="${s//\"/\\\"}"
    printf '%s' "$s"
}

{
    echo "["
    first=1
    for f in "${GOOD[@]}"; do
        path="$OUT/$f"
        container="$(container_of "$(probe_value "$path" format format_name)")"
        codec="$(probe_value "$path" stream codec_name)"
        rate="$(probe_value "$path" stream sample_rate)"
        channels="$(probe_value "$path" stream channels)"
        dur="$(probe_value "$path" stream duration)"
        if [ -z "$dur" ] || [ "$dur" = "N/A" ]; then
            dur="$(probe_value "$path" format duration)"
        fi
        if [ -z "$dur" ] || [ "$dur" = "N/A" ]; then
            # No duration in the headers (live WebM): end of the last audio packet.
            dur="$(ffprobe -v error -select_streams a:0 -show_entries packet=pts_time,duration_time \
                -of csv=p=0 "$path" |
                awk -F, '$1 != "" { e = $1 + $2; if (e > end) end = e } END { printf "%.6f", end }')"
        fi
        dur_ms="$(awk -v d="$dur" 'BEGIN { printf "%d", d * 1000 + 0.5 }')"
        [ "$first" -eq 1 ] || echo ","
        first=0
        printf '  {"file": "%s", "container": "%s", "codec": "%s", "sample_rate": %s, "channels": %s, "duration_ms": %s}' \
            "$f" "$container" "$codec" "$rate" "$channels" "$dur_ms"
    done
    for f in "${BAD[@]}"; do
        echo ","
        printf '  {"file": "%s", "bad": true, "what": "%s"}' "$f" "$(json_escape "${WHAT[$f]}")"
    done
    echo
    echo "]"
} >"$OUT/facts.json"

# --- sanity ------------------------------------------------------------------------------------
for f in "${GOOD[@]}" "${BAD[@]}"; do
    size="$(stat -c %s "$OUT/$f")"
    if [ "$size" -ge 204800 ]; then
        echo "make-fixtures: $f is $size bytes, over the 200 KB budget" >&2
        exit 1
    fi
done

echo "make-fixtures: wrote ${#GOOD[@]} good and ${#BAD[@]} bad fixtures and facts.json to $OUT" >&2
