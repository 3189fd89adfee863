// End-to-end check of a clip's view page in a real browser: Debian's chromium driven by
// playwright-core, or Debian's firefox-esr driven by puppeteer-core (tests/browser/drivers.mjs;
// `scripts/services/browser.sh` installs all four).
//
//   node tests/browser/view.mjs <page-url> <screenshot-path> [chromium|firefox]
//
// Asserts that the waveform is drawn, that the player plays, seeks to the middle and keeps
// playing, that a click on the waveform at 75% of its width seeks to 75% of the clip, and that
// the page logs no console error and triggers no Content-Security-Policy violation. Takes a
// full-page screenshot. Prints what it observed as JSON on stdout; exits non-zero on failure.
// The browser defaults to chromium.

import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { BROWSERS, launch } from "./drivers.mjs";

const [pageUrl, screenshotPath, browserName = "chromium"] = process.argv.slice(2);
if (!pageUrl || !screenshotPath || !BROWSERS.includes(browserName)) {
  console.error(
    `usage: node tests/browser/view.mjs <page-url> <screenshot-path> [${BROWSERS.join("|")}]`,
  );
  process.exit(2);
}

const SETUP_HINT = "run scripts/test (or `source scripts/services/browser.sh && ensure_browser`)";
const STEP_TIMEOUT_MS = 15_000;
const OVERALL_TIMEOUT_MS = 90_000;

const observed = {
  browser: browserName,
  url: pageUrl,
  steps: [],
  consoleErrors: [],
  pageErrors: [],
  cspViolations: [],
  failedRequests: [],
};
const failures = [];

function check(ok, message, details) {
  observed.steps.push({ check: message, ok, ...(details === undefined ? {} : { details }) });
  if (!ok) failures.push(details === undefined ? message : `${message}: ${JSON.stringify(details)}`);
  return ok;
}

const userDataDir = mkdtempSync(path.join(tmpdir(), `voicebin-${browserName}-`));
// A last resort against a hung browser: report what was seen so far and fail.
const watchdog = setTimeout(() => {
  observed.failures = [...failures, `no result after ${OVERALL_TIMEOUT_MS} ms`];
  console.log(JSON.stringify(observed, null, 2));
  console.error(`view page check FAILED: no result after ${OVERALL_TIMEOUT_MS} ms`);
  rmSync(userDataDir, { recursive: true, force: true });
  process.exit(1);
}, OVERALL_TIMEOUT_MS);

let browser;
const started = Date.now();

try {
  browser = await launch(browserName, {
    userDataDir,
    viewport: { width: 1000, height: 700 },
    launchTimeout: 60_000,
    stepTimeout: STEP_TIMEOUT_MS,
    setupHint: SETUP_HINT,
  });
  observed.executablePath = browser.executablePath;

  // Registered before any page script runs; injected by the browser, so the page's CSP does not
  // block it.
  await browser.addInitScript(() => {
    window.__voicebinCsp = [];
    // The player's media events in order, for the report (media events do not bubble, but a
    // capturing listener on the document sees them).
    window.__voicebinMedia = [];
    const t0 = performance.now();
    for (const name of ["loadstart", "loadedmetadata", "canplay", "suspend", "stalled", "play",
      "playing", "seeking", "seeked", "durationchange", "pause", "ended", "error"]) {
      document.addEventListener(
        name,
        (e) => {
          if (e.target.id !== "player") return;
          const log = window.__voicebinMedia;
          const last = log[log.length - 1];
          // durationchange can fire dozens of times in a row; keep the first and last.
          if (name === "durationchange" && last && last.event === name && log.length > 1 &&
            log[log.length - 2].event === name) log.pop();
          log.push({
            event: name,
            at: Math.round(performance.now() - t0),
            currentTime: e.target.currentTime,
            duration: e.target.duration,
          });
        },
        true,
      );
    }
    document.addEventListener(
      "securitypolicyviolation",
      (e) => {
        window.__voicebinCsp.push({
          directive: e.violatedDirective,
          blocked: e.blockedURI,
          source: e.sourceFile,
          line: e.lineNumber,
          sample: e.sample,
        });
      },
      true,
    );
  });

  observed.ignoredConsoleErrors = [];
  browser.onConsole(({ type, text, location }) => {
    if (type !== "error") return;
    const entry = { text, location };
    // The browser fetches /favicon.ico by itself; the page links none and the app serves none.
    // That 404 says nothing about the page, so it is recorded but does not fail the check.
    const url = (entry.location && entry.location.url) || "";
    if (url.endsWith("/favicon.ico") && entry.text.includes("404")) {
      observed.ignoredConsoleErrors.push(entry);
    } else {
      observed.consoleErrors.push(entry);
    }
  });
  browser.onPageError((err) => observed.pageErrors.push(err));
  observed.responses = [];
  browser.onResponse((res) => observed.responses.push(res));
  browser.onRequestFailed((req) => observed.failedRequests.push(req));

  const { status, csp } = await browser.goto(pageUrl);
  observed.status = status;
  observed.csp = csp;
  check(observed.status === 200, "the page answers 200", observed.status);
  observed.title = await browser.title();

  // The waveform.
  const ready = await browser.waitForSelector('#waveform[data-ready="true"]', STEP_TIMEOUT_MS);
  check(ready, 'the canvas gets data-ready="true"');
  // Informational: with preload="none" (or when the browser defers preload) nothing is known
  // about the audio, not even its duration, until playback is asked for.
  observed.beforePlay = await playerState(browser);
  observed.visibility = await browser.evaluate(() => document.visibilityState);
  const waveform = await browser.evaluate(() => {
    const canvas = document.getElementById("waveform");
    const peaks = JSON.parse(canvas.getAttribute("data-peaks") || "[]");
    const ctx = canvas.getContext("2d");
    const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
    let painted = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) painted++;
    return {
      peaks: peaks.length,
      width: canvas.width,
      height: canvas.height,
      cssWidth: canvas.clientWidth,
      cssHeight: canvas.clientHeight,
      painted,
      total: data.length / 4,
    };
  });
  observed.waveform = waveform;
  check(waveform.peaks > 0, "data-peaks holds peaks", { peaks: waveform.peaks });
  check(waveform.painted > 0, "the canvas has non-transparent pixels (the waveform was drawn)", {
    painted: waveform.painted,
    of: waveform.total,
  });

  // Playback.
  const play = await browser.evaluate(async (timeout) => {
    const audio = document.getElementById("player");
    audio.muted = true;
    try {
      // play() can stay pending forever (no source, stalled fetch); give it a deadline.
      await Promise.race([
        audio.play(),
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error(`play() still pending after ${timeout} ms`)), timeout),
        ),
      ]);
      return { ok: true, duration: audio.duration };
    } catch (e) {
      return { ok: false, error: String(e), duration: audio.duration };
    }
  }, STEP_TIMEOUT_MS);
  observed.play = play;
  const duration = play.duration;
  if (check(play.ok, "audio.play() resolves", play)) {
    check(Number.isFinite(duration) && duration > 1, "the audio has a finite duration", duration);
    const advanced = await browser.waitForFunction(
      () => document.getElementById("player").currentTime > 0.2,
      null,
      STEP_TIMEOUT_MS,
    );
    observed.afterPlay = await playerState(browser);
    check(advanced, "currentTime advances past 0.2 s", observed.afterPlay);
  }

  // Seek to the middle; playback carries on from there.
  if (failures.length === 0) {
    observed.afterSeek = await browser.evaluate(async (timeout) => {
      const audio = document.getElementById("player");
      const target = audio.duration / 2;
      const seeked = new Promise((resolve, reject) => {
        audio.addEventListener("seeked", resolve, { once: true });
        setTimeout(() => reject(new Error("no seeked event")), timeout);
      });
      audio.currentTime = target;
      try {
        await seeked;
      } catch (e) {
        return { error: String(e), currentTime: audio.currentTime, target };
      }
      return { target, currentTime: audio.currentTime, paused: audio.paused };
    }, STEP_TIMEOUT_MS);
    const s = observed.afterSeek;
    check(!s.error && s.currentTime >= s.target - 0.25, "seeking to the middle lands there", s);
    const from = s.currentTime;
    const kept = await browser.waitForFunction(
      (from) => {
        const a = document.getElementById("player");
        return !a.paused && a.currentTime > from + 0.2;
      },
      from,
      STEP_TIMEOUT_MS,
    );
    observed.afterSeekPlaying = await playerState(browser);
    check(kept, "playback continues after the seek", observed.afterSeekPlaying);
  }

  // A click on the waveform at 75% of its width seeks to 75% of the clip. Paused at 0 first, so
  // the position after the click can only come from the click.
  if (failures.length === 0) {
    await browser.evaluate(async (timeout) => {
      const audio = document.getElementById("player");
      audio.pause();
      const seeked = new Promise((resolve) => {
        audio.addEventListener("seeked", resolve, { once: true });
        setTimeout(resolve, timeout);
      });
      audio.currentTime = 0;
      await seeked;
      window.__voicebinSeeks = 0;
      audio.addEventListener("seeked", () => window.__voicebinSeeks++);
    }, STEP_TIMEOUT_MS);
    const box = await browser.boundingBox("#waveform");
    await browser.clickAt("#waveform", box.width * 0.75, box.height / 2);
    const seekedByClick = await browser.waitForFunction(
      () => window.__voicebinSeeks > 0,
      null,
      STEP_TIMEOUT_MS,
    );
    const state = await playerState(browser);
    observed.afterClick = { ...state, expected: state.duration * 0.75, box };
    check(
      seekedByClick && Math.abs(state.currentTime - state.duration * 0.75) <= 0.5,
      "clicking the waveform at 75% seeks to ~75% of the clip (±0.5 s)",
      observed.afterClick,
    );
    // The redraw after the seek colours the played part differently (informational).
    observed.afterClick.colours = await browser.evaluate(() => {
      const canvas = document.getElementById("waveform");
      const ctx = canvas.getContext("2d");
      const column = (fraction) => {
        const x = Math.floor(canvas.width * fraction);
        const { data } = ctx.getImageData(x, 0, 1, canvas.height);
        for (let i = 0; i < data.length; i += 4) {
          if (data[i + 3] !== 0) return `rgb(${data[i]}, ${data[i + 1]}, ${data[i + 2]})`;
        }
        return null;
      };
      return { at25: column(0.25), at90: column(0.9) };
    });
  }

  // Let late errors (media decode, CSP reports) arrive before judging.
  await new Promise((resolve) => setTimeout(resolve, 200));
  observed.cspViolations = await browser.evaluate(() => window.__voicebinCsp || []);
  observed.mediaEvents = await browser.evaluate(() => window.__voicebinMedia || []);
  check(observed.consoleErrors.length === 0, "no console errors", observed.consoleErrors);
  check(observed.pageErrors.length === 0, "no uncaught page errors", observed.pageErrors);
  check(observed.cspViolations.length === 0, "no CSP violations", observed.cspViolations);

  mkdirSync(path.dirname(path.resolve(screenshotPath)), { recursive: true });
  await browser.screenshot(screenshotPath);
  observed.screenshot = path.resolve(screenshotPath);
} catch (e) {
  failures.push(`error: ${e && e.stack ? e.stack : e}`);
} finally {
  if (browser) await browser.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}

clearTimeout(watchdog);
observed.elapsedMs = Date.now() - started;
observed.failures = failures;
console.log(JSON.stringify(observed, null, 2));
if (failures.length) {
  console.error(`view page check FAILED in ${browserName}:\n  - ${failures.join("\n  - ")}`);
  process.exit(1);
}
console.error(`view page check passed in ${browserName} in ${observed.elapsedMs} ms`);

async function playerState(browser) {
  return browser.evaluate(() => {
    const a = document.getElementById("player");
    return {
      currentTime: a.currentTime,
      duration: a.duration,
      paused: a.paused,
      ended: a.ended,
      readyState: a.readyState,
      networkState: a.networkState,
      error: a.error && { code: a.error.code, message: a.error.message },
    };
  });
}
