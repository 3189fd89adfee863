// What the upload page refuses before sending a byte: the server's magic-number sniff
// (domain/src/sniff.rs), ported rule for rule, and the server's words for its refusals
// (api/src/error/convert.rs). tests/api/webapp_upload.rs runs this module against the same
// bytes as the Rust sniff (the fixtures and crafted edge cases) and checks the words match what
// the API answers, so the two cannot drift apart silently. The API still decides: it sniffs
// at least the first 64 KiB (whole chunks as they arrive), so for a file whose ID3 tags end
// right at the 64 KiB mark the two can judge differently.

/** How many leading bytes the server sniffs (SNIFF_LEN). */
export const SNIFF_LEN = 64 * 1024;

/** The API's problem for each refusal the page can foresee: { title, detail }. */
export const REFUSALS = {
  empty: { title: "Not a supported audio file", detail: "the body is empty" },
  notAudio: {
    title: "Not a supported audio file",
    detail:
      "the body is not a supported audio format (WAV, MP3, Ogg, Opus, FLAC, MP4/M4A, WebM, AIFF, CAF)",
  },
  tooLarge: (max) => ({
    title: "The request is too large",
    detail: `uploads are limited to ${max} bytes`,
  }),
};

const MAX_ID3_TAGS = 4;

const ascii = (bytes, from, to) => String.fromCharCode(...bytes.subarray(from, to));
const startsWith = (bytes, text) => bytes.length >= text.length && ascii(bytes, 0, text.length) === text;

/** The audio media type `prefix` (a Uint8Array) announces, or null: the server's sniff_audio. */
export function sniffAudio(prefix) {
  let pos = 0;
  let tags = 0;
  for (;;) {
    const rest = prefix.subarray(pos);
    const len = id3v2Len(rest);
    if (len === null) break;
    tags += 1;
    if (tags > MAX_ID3_TAGS) return null;
    // A tag running past the prefix: by convention MP3; the scan verifies the rest.
    if (len >= rest.length) return "audio/mpeg";
    pos += len;
    // Some taggers leave zero padding after the declared tag size.
    let zeros = 0;
    while (zeros < 4096 && pos + zeros < prefix.length && prefix[pos + zeros] === 0) zeros += 1;
    pos += zeros;
    if (pos >= prefix.length) return "audio/mpeg";
  }
  const data = prefix.subarray(pos);
  if (tags > 0) {
    if (startsWith(data, "fLaC")) return "audio/flac";
    if (isMpegAudio(data)) return "audio/mpeg";
    return null;
  }
  if (data.length >= 12 && ascii(data, 0, 4) === "RIFF" && ascii(data, 8, 12) === "WAVE") return "audio/wav";
  if (data.length >= 5 && ascii(data, 0, 4) === "OggS" && data[4] === 0) return "audio/ogg";
  if (startsWith(data, "fLaC")) return "audio/flac";
  if (data.length >= 12 && ascii(data, 0, 4) === "FORM" && ["AIFF", "AIFC"].includes(ascii(data, 8, 12))) {
    return "audio/aiff";
  }
  if (data.length >= 8 && ascii(data, 0, 4) === "caff" && data[4] === 0 && data[5] === 1) return "audio/x-caf";
  if (data.length >= 4 && data[0] === 0x1a && data[1] === 0x45 && data[2] === 0xdf && data[3] === 0xa3) {
    return "audio/webm";
  }
  if (isAudioFtyp(data)) return "audio/mp4";
  if (isMpegAudio(data)) return "audio/mpeg";
  return null;
}

function id3v2Len(buf) {
  if (buf.length < 10 || ascii(buf, 0, 3) !== "ID3") return null;
  const [major, revision, flags] = [buf[3], buf[4], buf[5]];
  if (major < 2 || major > 4 || revision === 0xff) return null;
  // A 28-bit "syncsafe" size: the top bit of every byte is zero.
  for (let i = 6; i < 10; i++) if (buf[i] & 0x80) return null;
  const size = (buf[6] << 21) | (buf[7] << 14) | (buf[8] << 7) | buf[9];
  const footer = major === 4 && flags & 0x10 ? 10 : 0;
  return 10 + size + footer;
}

// Bitrates in kbit/s: MPEG-1 layers I, II, III, then MPEG-2/2.5 layer I, layers II and III.
const BITRATES_KBPS = [
  [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448, 0],
  [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 0],
  [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0],
  [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256, 0],
  [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0],
];

function parseMpegHeader(h) {
  if (h.length < 4 || h[0] !== 0xff || (h[1] & 0xe0) !== 0xe0) return null;
  const version = { 0: 25, 2: 2, 3: 1 }[(h[1] >> 3) & 3];
  const layer = { 1: 3, 2: 2, 3: 1 }[(h[1] >> 1) & 3];
  if (version === undefined || layer === undefined) return null;
  const bitrateIndex = h[2] >> 4;
  if (bitrateIndex === 0 || bitrateIndex === 0xf) return null;
  const baseRate = [44100, 48000, 32000][(h[2] >> 2) & 3];
  if (baseRate === undefined) return null;
  if ((h[3] & 3) === 2) return null;
  const sampleRate = version === 1 ? baseRate : version === 2 ? baseRate / 2 : baseRate / 4;
  let table;
  if (version === 1) table = layer === 1 ? 0 : layer === 2 ? 1 : 2;
  else table = layer === 1 ? 3 : 4;
  const bitrate = BITRATES_KBPS[table][bitrateIndex] * 1000;
  const padding = (h[2] >> 1) & 1;
  let frameLen;
  if (layer === 1) frameLen = Math.floor((12 * bitrate) / sampleRate) * 4 + padding * 4;
  else if (version === 1 || layer === 2) frameLen = Math.floor((144 * bitrate) / sampleRate) + padding;
  else frameLen = Math.floor((72 * bitrate) / sampleRate) + padding;
  if (frameLen < 4) return null;
  return { version, layer, sampleRate, frameLen };
}

function isMpegAudio(data) {
  const first = parseMpegHeader(data);
  if (!first) return false;
  const next = data.subarray(Math.min(first.frameLen, data.length));
  if (next.length < 4) return true;
  const second = parseMpegHeader(next);
  return Boolean(
    second &&
      second.version === first.version &&
      second.layer === first.layer &&
      second.sampleRate === first.sampleRate,
  );
}

const AUDIO_BRANDS = ["M4A ", "M4B ", "M4P ", "mp41", "mp42", "isom", "iso2", "iso3", "iso4",
  "iso5", "iso6", "iso7", "iso8", "iso9", "dash", "3gp4", "3gp5", "3gp6", "3gp7", "3g2a", "3g2b",
  "3g2c", "MSNV", "f4a ", "caqv"];
const IMAGE_BRANDS = ["mif1", "mif2", "msf1", "heic", "heix", "heim", "heis", "hevc", "hevx",
  "avif", "avis", "avio", "jpeg", "jpgs", "crx "];

function isAudioFtyp(data) {
  if (data.length < 16 || ascii(data, 4, 8) !== "ftyp") return false;
  const size = ((data[0] << 24) >>> 0) + (data[1] << 16) + (data[2] << 8) + data[3];
  if (size < 16 || size > 4096 || (size - 16) % 4 !== 0) return false;
  const end = Math.min(size, data.length);
  const brands = [ascii(data, 8, 12)];
  for (let i = 16; i + 4 <= end; i += 4) brands.push(ascii(data, i, i + 4));
  let audio = false;
  for (const brand of brands) {
    if (IMAGE_BRANDS.includes(brand)) return false;
    if (AUDIO_BRANDS.includes(brand)) audio = true;
  }
  return audio;
}

/** Why the server would refuse `blob` (a File or Blob) before reading it all, as { title,
 *  detail }, or null if it would take it in. `max` is the upload limit in bytes. */
export async function refusalOf(blob, max) {
  if (blob.size > max) return REFUSALS.tooLarge(max);
  if (blob.size === 0) return REFUSALS.empty;
  const prefix = new Uint8Array(await blob.slice(0, SNIFF_LEN).arrayBuffer());
  return sniffAudio(prefix) ? null : REFUSALS.notAudio;
}
