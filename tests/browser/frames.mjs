// Which of the site's pages a browser lets another page frame (tests/browser/drivers.mjs drives
// chromium or firefox):
//
//   node tests/browser/frames.mjs <base-url> <clip-id> [chromium|firefox]
//
// Opens <base-url>/llms.txt (a page without a Content-Security-Policy of its own, so that only
// the framed page's policy decides), adds one iframe per page, and reads each frame's title:
// a page the browser refused to frame has none of its own. Asserts that /docs, /privacy,
// /abuse and the clip's view page are refused and its embed player is shown. Prints what it saw
// as JSON on stdout; exits non-zero on failure.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { BROWSERS, launch } from "./drivers.mjs";

const [base, id, browserName = "chromium"] = process.argv.slice(2);
if (!base || !id || !BROWSERS.includes(browserName)) {
  console.error(`usage: node tests/browser/frames.mjs <base-url> <clip-id> [${BROWSERS.join("|")}]`);
  process.exit(2);
}

const SETUP_HINT = "run scripts/test (or `source scripts/services/browser.sh && ensure_browser`)";
const FRAME_TIMEOUT_MS = 15_000;
// path -> whether the browser may frame it
const PAGES = {
  "/docs": false,
  "/privacy": false,
  "/abuse": false,
  [`/${id}`]: false,
  [`/${id}/embed`]: true,
};

const userDataDir = mkdtempSync(path.join(tmpdir(), `voicebin-frames-${browserName}-`));
const observed = { browser: browserName, frames: {} };
const failures = [];
let browser;
try {
  browser = await launch(browserName, {
    userDataDir,
    viewport: { width: 1000, height: 700 },
    launchTimeout: 60_000,
    stepTimeout: FRAME_TIMEOUT_MS,
    setupHint: SETUP_HINT,
  });
  await browser.goto(`${base}/llms.txt`);
  observed.frames = await browser.evaluate(
    ({ paths, timeout }) =>
      Promise.all(
        paths.map(
          (path) =>
            new Promise((resolve) => {
              const frame = document.createElement("iframe");
              let done = false;
              const finish = (how) => {
                if (done) return;
                done = true;
                let title = null;
                try {
                  title = frame.contentDocument ? frame.contentDocument.title : null;
                } catch (e) {
                  title = null;
                }
                resolve([path, { how, title }]);
              };
              frame.addEventListener("load", () => finish("load"));
              setTimeout(() => finish("timeout"), timeout);
              frame.src = path;
              document.body.appendChild(frame);
            }),
        ),
      ).then(Object.fromEntries),
    { paths: Object.keys(PAGES), timeout: FRAME_TIMEOUT_MS },
  );
  for (const [page, frameable] of Object.entries(PAGES)) {
    const seen = observed.frames[page];
    // Every page of the site has a title ending in "voicebin"; a refused frame shows none.
    const shown = Boolean(seen && seen.title && seen.title.includes("voicebin"));
    if (shown !== frameable) {
      failures.push(`${page} was ${shown ? "framed" : "not framed"}: ${JSON.stringify(seen)}`);
    }
  }
} catch (e) {
  failures.push(`error: ${e && e.stack ? e.stack : e}`);
} finally {
  if (browser) await browser.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}

observed.failures = failures;
console.log(JSON.stringify(observed, null, 2));
if (failures.length) {
  console.error(`frame check FAILED in ${browserName}:\n  - ${failures.join("\n  - ")}`);
  process.exit(1);
}
console.error(`frame check passed in ${browserName}`);
