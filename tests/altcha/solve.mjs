// The reference ALTCHA client for the anonymous-upload tests: altcha-lib (installed by
// scripts/services/altcha.sh into $VOICEBIN_ALTCHA_DIR) solves a challenge as the widget does.
//
//   curl -s http://127.0.0.1:8080/api/v1/challenge | node tests/altcha/solve.mjs
//
// Reads a challenge ({"parameters": …, "signature": …}, as GET /api/v1/challenge serves it) on
// stdin and prints the `x-altcha` value: base64 of {"challenge": …, "solution": …}.

import { createRequire } from "node:module";
import path from "node:path";

const dir = process.env.VOICEBIN_ALTCHA_DIR;
if (!dir) throw new Error("VOICEBIN_ALTCHA_DIR is not set: source scripts/services/altcha.sh and run ensure_altcha");
// Resolved from that directory (NODE_PATH does not apply to ESM imports), through the
// package's own exports map.
const require = createRequire(path.join(path.resolve(dir), "package.json"));
const { solveChallenge } = require("altcha-lib");
const { deriveKey: pbkdf2 } = require("altcha-lib/algorithms/pbkdf2");

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { parameters, signature } = JSON.parse(input);
const solution = await solveChallenge({ challenge: { parameters }, deriveKey: pbkdf2 });
if (!solution) {
  console.error("altcha-lib found no solution");
  process.exit(1);
}
console.log(btoa(JSON.stringify({ challenge: { parameters, signature }, solution })));
