// The upload page's sniff (api/static/app/sniff.js) run in node, for tests/api/webapp_upload.rs
// to compare with the server's.
//
//   node tests/browser/sniff.mjs <dir> <max-upload-bytes>
//
// Prints { types: { <file>: <media type>|null }, refusals: { empty, notAudio, tooLarge } }.

import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

import { REFUSALS, SNIFF_LEN, sniffAudio } from "../../api/static/app/sniff.js";

const [dir, max] = process.argv.slice(2);
const types = {};
for (const name of readdirSync(dir)) {
  const bytes = new Uint8Array(readFileSync(path.join(dir, name)));
  types[name] = sniffAudio(bytes.subarray(0, SNIFF_LEN));
}
const refusals = { ...REFUSALS, tooLarge: REFUSALS.tooLarge(Number(max)) };
console.log(JSON.stringify({ types, refusals }));
