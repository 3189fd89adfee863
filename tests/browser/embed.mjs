// The embeddable player inside another site's iframe, in a real browser (the way oEmbed and
// Twitter player cards show it): the host page is on another site, so the iframe is a
// third-party context where cookies are blocked or partitioned.
//
//   node tests/browser/embed.mjs <host-page-url> [chromium|firefox]
//
// Plays the clip in the iframe, seeks to the middle and checks that playback goes on. Prints
// what it observed as JSON on stdout; exits non-zero on failure. The test that runs it checks
// that the whole playback counted as one download.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { BROWSERS, launch } from "./drivers.mjs";

const [hostUrl, browserName = "chromium"] = process.argv.slice(2);
if (!hostUrl || !BROWSERS.includes(browserName)) {
  console.error(`usage: node tests/browser/embed.mjs <host-page-url> [${BROWSERS.join("|")}]`);
  process.exit(2);
}

const SETUP_HINT = "run scripts/test (or `source scripts/services/browser.sh && ensure_browser`)";
const STEP_TIMEOUT_MS = 15_000;
const observed = { browser: browserName, url: hostUrl, responses: [] };
const failures = [];
const check = (ok, message, details) => {
  if (!ok) failures.push(`${message}: ${JSON.stringify(details)}`);
  return ok;
};

const userDataDir = mkdtempSync(path.join(tmpdir(), `voicebin-embed-${browserName}-`));
const watchdog = setTimeout(() => {
  console.log(JSON.stringify({ ...observed, failures: [...failures, "no result after 90 s"] }));
  rmSync(userDataDir, { recursive: true, force: true });
  process.exit(1);
}, 90_000);

/** Polls `fn(arg)` in the player's frame until it is truthy, or gives up after the timeout. */
async function until(browser, fn, arg) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (await browser.evaluateInFrame("/embed", fn, arg)) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

const state = () => {
  const a = document.getElementById("player");
  return { currentTime: a.currentTime, duration: a.duration, paused: a.paused, src: a.src };
};

let browser;
try {
  browser = await launch(browserName, {
    userDataDir,
    viewport: { width: 800, height: 400 },
    launchTimeout: 60_000,
    stepTimeout: STEP_TIMEOUT_MS,
    setupHint: SETUP_HINT,
  });
  browser.onResponse((res) => observed.responses.push(res));
  const { status } = await browser.goto(hostUrl);
  check(status === 200, "the host page answers 200", status);
  check(
    await until(browser, () => document.getElementById("player") !== null),
    "the iframe shows the player",
  );
  observed.play = await browser.evaluateInFrame("/embed", async (timeout) => {
    const audio = document.getElementById("player");
    audio.muted = true;
    try {
      await Promise.race([
        audio.play(),
        new Promise((_, reject) => setTimeout(() => reject(new Error("play() pending")), timeout)),
      ]);
      return { ok: true };
    } catch (e) {
      return { ok: false, error: String(e) };
    }
  }, STEP_TIMEOUT_MS);
  if (check(observed.play.ok, "audio.play() resolves in the iframe", observed.play)) {
    check(
      await until(browser, () => document.getElementById("player").currentTime > 0.2),
      "playback advances",
      await browser.evaluateInFrame("/embed", state),
    );
    const middle = await browser.evaluateInFrame("/embed", () => {
      const a = document.getElementById("player");
      a.currentTime = a.duration / 2;
      return a.duration / 2;
    });
    check(
      await until(
        browser,
        (from) => {
          const a = document.getElementById("player");
          return !a.paused && !a.seeking && a.currentTime > from + 0.2;
        },
        middle,
      ),
      "playback goes on after seeking to the middle",
      await browser.evaluateInFrame("/embed", state),
    );
  }
  observed.player = await browser.evaluateInFrame("/embed", state);
} catch (e) {
  failures.push(`error: ${e && e.stack ? e.stack : e}`);
} finally {
  if (browser) await browser.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
clearTimeout(watchdog);
observed.failures = failures;
console.log(JSON.stringify(observed, null, 2));
process.exit(failures.length ? 1 : 0);
