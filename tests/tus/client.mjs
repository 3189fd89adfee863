// The reference tus client for the resumable-upload tests: tus-js-client from npm (installed by
// scripts/services/tus.sh into $VOICEBIN_TUS_DIR), uploading one file to voicebin as a user's
// program would, through network trouble the test asks for.
//
//   node tests/tus/client.mjs '{"endpoint": "http://127.0.0.1:8080/api/v1/uploads", "token": "…", "file": "a.wav"}'
//
// Options (JSON, the first argument):
//   endpoint, token, file   where, as whom, what
//   chunkSize               bytes per PATCH (default: the whole rest in one)
//   metadata                Upload-Metadata (default: the file's name)
//   withUpload              send the first chunk with the POST (creation-with-upload)
//   abortAfter              abort the upload once this many bytes are accepted, then resume it
//                           with a new Upload of the same URL (as after a Ctrl-C)
//   cutAfter, cuts          send through a proxy that cuts the connection after this many
//                           bytes, `cuts` times: the client must retry by itself
//   checksum                "sha1" or "bad": send Upload-Checksum with every PATCH
// Prints one JSON line: {url, requests, status, offset, contentLocation, error}.

import { createRequire } from "node:module";
import { createHash } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";

const dir = process.env.VOICEBIN_TUS_DIR;
if (!dir) throw new Error("VOICEBIN_TUS_DIR is not set: source scripts/services/tus.sh and run ensure_tus");
const require = createRequire(path.join(path.resolve(dir), "package.json"));
const tus = require("tus-js-client");

const opts = JSON.parse(process.argv[2]);
const data = fs.readFileSync(opts.file);
const requests = [];

// A TCP proxy that cuts the client's connection after `after` bytes, `cuts` times.
function cuttingProxy(target, after, cuts) {
  let cut = 0;
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.hostname);
    let sent = 0;
    client.on("data", (buf) => {
      if (cut < cuts && sent + buf.length > after) {
        upstream.write(buf.subarray(0, Math.max(0, after - sent)));
        cut++;
        client.destroy();
        upstream.end();
        return;
      }
      sent += buf.length;
      upstream.write(buf);
    });
    upstream.on("data", (b) => client.write(b));
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.end());
    upstream.on("close", () => client.destroy());
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

let endpoint = opts.endpoint;
let proxy = null;
if (opts.cutAfter) {
  const target = new URL(opts.endpoint);
  proxy = await cuttingProxy(target, opts.cutAfter, opts.cuts ?? 1);
  endpoint = `http://127.0.0.1:${proxy.address().port}${target.pathname}`;
}

function options(extra) {
  return {
    endpoint,
    headers: { Authorization: `Bearer ${opts.token}` },
    metadata: opts.metadata ?? { filename: path.basename(opts.file) },
    chunkSize: opts.chunkSize ?? Infinity,
    uploadDataDuringCreation: !!opts.withUpload,
    retryDelays: [0, 200, 500, 1000, 2000],
    onBeforeRequest(req) {
      if (!opts.checksum || req.getMethod() !== "PATCH") return;
      const offset = Number(req.getHeader("Upload-Offset"));
      const end = Math.min(offset + (opts.chunkSize ?? Infinity), data.length);
      const digest = opts.checksum === "bad"
        ? createHash("sha1").update("not these bytes").digest("base64")
        : createHash("sha1").update(data.subarray(offset, end)).digest("base64");
      req.setHeader("Upload-Checksum", `sha1 ${digest}`);
    },
    onAfterResponse(req, res) {
      const sent = req.getHeader("Upload-Offset");
      requests.push(`${req.getMethod()}${sent === undefined ? "" : " " + sent} -> ${res.getStatus()} ${res.getHeader("Upload-Offset") ?? ""}`.trim());
    },
    ...extra,
  };
}

function run(extra) {
  return new Promise((resolve) => {
    const upload = new tus.Upload(data, options({
      onError: (error) => resolve({ upload, error }),
      onSuccess: ({ lastResponse }) => resolve({ upload, lastResponse }),
      ...extra(() => upload),
    }));
    upload.start();
  });
}

async function abortedThenResumed() {
  let url;
  await new Promise((resolve) => {
    const upload = new tus.Upload(data, options({
      onError: (error) => { console.log(JSON.stringify({ requests, error: String(error) })); process.exit(0); },
      onSuccess: () => resolve(),
      onChunkComplete: (_size, accepted) => {
        if (accepted >= opts.abortAfter && !url) {
          url = upload.url;
          upload.abort().then(resolve);
        }
      },
    }));
    upload.start();
  });
  requests.push("-- aborted --");
  return run(() => ({ uploadUrl: url }));
}

const result = opts.abortAfter ? await abortedThenResumed() : await run(() => ({}));

proxy?.close();
const { upload, lastResponse, error } = result;
console.log(JSON.stringify({
  url: upload.url,
  requests,
  status: lastResponse?.getStatus() ?? error?.originalResponse?.getStatus() ?? null,
  offset: lastResponse?.getHeader("Upload-Offset") ?? null,
  contentLocation: lastResponse?.getHeader("Content-Location") ?? null,
  error: error ? String(error) : null,
}));
process.exit(0);
