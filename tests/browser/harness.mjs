// What every app-page browser check shares (tests/browser/pages.mjs and the scenario scripts):
//   - run(name, browserName, body): launches the browser, installs the observers, runs
//     body({ browser, check, observed, origin... }), prints what was observed as JSON and exits
//     non-zero when a check failed, the page logged an error, a CSP violation happened, or a
//     request went to another site;
//   - signIn(browser, session): puts a session into the tab's sessionStorage as session.js
//     keeps it (once per browser session, so signing out sticks);
//   - audit(browser, check, label, dir): axe-core (no serious or critical violation), no
//     horizontal scrolling at 360 px, every visible control reachable with Tab, and full-page
//     screenshots at desktop (1280 px) and phone (360 px) width in `dir`;
//   - microphoneOptions(speech) and fakeMicrophone(browser, browserName, speech): a microphone
//     that says what the WAV file `speech` says, for the pages that record.
// axe-core comes from npm with the drivers (scripts/services/browser.sh).

import { readFileSync, mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";

import { launch } from "./drivers.mjs";

export const SETUP_HINT =
  "run scripts/test (or `source scripts/services/browser.sh && ensure_browser`)";
export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = { width: 360, height: 740 };

/** axe-core's browser build, from the drivers' node_modules. */
function axeSource() {
  const require = createRequire(import.meta.url);
  const paths = [
    process.env.VOICEBIN_BROWSER_NODE_PATH,
    ...(process.env.NODE_PATH || "").split(path.delimiter),
  ].filter(Boolean);
  let file;
  try {
    file = require.resolve("axe-core/axe.min.js", { paths });
  } catch (e) {
    throw new Error(`axe-core not found (searched ${JSON.stringify(paths)}): ${e.message}\n${SETUP_HINT}`);
  }
  return readFileSync(file, "utf8");
}

/**
 * `log(ok, message, details)`: a check (see `run`) that also says on stderr, with the seconds
 * since the script began, whether it held, so a run killed from outside still tells where it
 * was. `must(...)`: a check the rest depends on, which stops the script at its failure rather
 * than letting it time out step by step.
 */
export function narrate(check) {
  const t0 = Date.now();
  const log = (ok, message, details) => {
    const said = details === undefined ? "" : ` ${JSON.stringify(details)}`.slice(0, 400);
    console.error(`[${((Date.now() - t0) / 1000).toFixed(1)} s] ${ok ? "ok" : "FAILED"}: ${message}${said}`);
    return check(ok, message, details);
  };
  const must = (ok, message, details) => {
    if (!log(ok, message, details)) throw new Error(`cannot go on: ${message}`);
  };
  return { log, must };
}

/**
 * Runs a browser check. `origin` is the app's origin: a request anywhere else (other than data:
 * and blob: URLs) is a failure, as is a console error, a page error or a CSP violation.
 * `options`: { viewport, launchArgs, firefoxPrefs, timeoutMs, allowConsoleErrors: [regex] }.
 */
export async function run(name, browserName, origin, options, body) {
  const timeoutMs = options.timeoutMs || 100_000;
  const observed = {
    check: name,
    browser: browserName,
    steps: [],
    consoleErrors: [],
    pageErrors: [],
    cspViolations: [],
    otherSites: [],
  };
  const failures = [];
  const check = (ok, message, details) => {
    observed.steps.push({ check: message, ok: Boolean(ok), ...(details === undefined ? {} : { details }) });
    if (!ok) failures.push(details === undefined ? message : `${message}: ${JSON.stringify(details)}`);
    return Boolean(ok);
  };
  const userDataDir = mkdtempSync(path.join(tmpdir(), `voicebin-${browserName}-`));
  const finish = (extra) => {
    if (extra) failures.push(extra);
    observed.failures = failures;
    console.log(JSON.stringify(observed, null, 2));
    rmSync(userDataDir, { recursive: true, force: true });
    if (failures.length) console.error(`${name} FAILED in ${browserName}:\n- ${failures.join("\n- ")}`);
    process.exit(failures.length ? 1 : 0);
  };
  const watchdog = setTimeout(() => finish(`no result after ${timeoutMs} ms`), timeoutMs);
  let browser;
  try {
    browser = await launch(browserName, {
      userDataDir,
      viewport: options.viewport || DESKTOP,
      launchTimeout: 60_000,
      stepTimeout: 20_000,
      setupHint: SETUP_HINT,
      args: options.launchArgs,
      prefs: options.firefoxPrefs,
    });
    await browser.addInitScript(() => {
      window.__voicebinCsp = [];
      document.addEventListener("securitypolicyviolation", (e) => {
        window.__voicebinCsp.push({ directive: e.violatedDirective, blocked: e.blockedURI, line: e.lineNumber });
      });
    });
    const allowed = options.allowConsoleErrors || [];
    browser.onConsole((msg) => {
      if (msg.type === "error" && !allowed.some((re) => re.test(msg.text))) observed.consoleErrors.push(msg);
    });
    browser.onPageError((err) => observed.pageErrors.push(err));
    browser.onRequest((req) => {
      if (/^(data|blob|about):/.test(req.url)) return;
      if (new URL(req.url).origin !== origin && !(options.allowOrigins || []).includes(new URL(req.url).origin)) {
        observed.otherSites.push(req.url);
      }
    });
    await body({ browser, check, observed });
    const csp = await browser.evaluate(() => window.__voicebinCsp || []).catch(() => []);
    observed.cspViolations.push(...csp);
    check(observed.cspViolations.length === 0, "no Content-Security-Policy violation", observed.cspViolations);
    check(observed.consoleErrors.length === 0, "no console error", observed.consoleErrors);
    check(observed.pageErrors.length === 0, "no uncaught page error", observed.pageErrors);
    check(observed.otherSites.length === 0, "nothing fetched from another site", observed.otherSites);
  } catch (e) {
    failures.push(`threw: ${e && e.stack ? e.stack : e}`);
  } finally {
    clearTimeout(watchdog);
    if (browser) await browser.close().catch(() => {});
  }
  finish();
}

/** Signs the browser's tab in with `session` (as session.js stores it), before page scripts
 *  run, once: a later sign-out in the page is not undone on the next navigation. */
export async function signIn(browser, session) {
  await browser.addInitScript((value) => {
    try {
      if (!sessionStorage.getItem("voicebin.harness-signed-in")) {
        sessionStorage.setItem("voicebin.session", value);
        sessionStorage.setItem("voicebin.harness-signed-in", "1");
      }
    } catch {
      // about:blank and opaque origins have no storage.
    }
  }, JSON.stringify(session));
}

/** The serious and critical axe-core violations on the current page. */
export async function axe(browser) {
  const source = axeSource();
  // Evaluated by the driver (not a <script> the page's CSP would block).
  await browser.evaluate(source);
  const result = await browser.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
    }));
  });
  return {
    all: result,
    serious: result.filter((v) => v.impact === "serious" || v.impact === "critical"),
  };
}

/** Tabs through the page; returns the visible controls that Tab never reached. */
export async function unreachableByTab(browser, press) {
  await browser.evaluate(() => window.scrollTo(0, 0));
  const count = await browser.evaluate(() => {
    const selector = "a[href], button, input, select, textarea, audio[controls], [tabindex]";
    const visible = (el) => {
      const r = el.getBoundingClientRect();
      const style = getComputedStyle(el);
      return r.width > 0 && r.height > 0 && style.visibility !== "hidden" && style.display !== "none";
    };
    let n = 0;
    for (const el of document.querySelectorAll(selector)) {
      delete el.dataset.tabProbe;
      if (el.disabled || el.getAttribute("tabindex") === "-1" || el.closest("[inert]") || !visible(el)) continue;
      if (el.matches("input[type=hidden]")) continue;
      el.dataset.tabProbe = String(n++);
    }
    return n;
  });
  // A click on empty space at the top left gives the document focus (Firefox sends Tab to the
  // browser's own UI when nothing in the page has focus), so Tab starts from the top.
  await browser.clickAt("body", 1, 1);
  // The active element is read after each press: a headless Firefox window never has system
  // focus, so it fires no focus events, though Tab moves the focus as it does for a person.
  // Twice round: Tab starts wherever the click left the focus, and wraps through the browser.
  for (let i = 0; i < 2 * count + 6; i++) {
    await press("Tab");
    await browser.evaluate(() => {
      const el = document.activeElement;
      if (el && el.dataset) el.dataset.tabReached = "1";
    });
  }
  return browser.evaluate(() =>
    [...document.querySelectorAll("[data-tab-probe]")]
      .filter((el) => !el.dataset.tabReached && !(el.type === "radio" && !el.checked))
      .map((el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ""} ${(el.textContent || el.getAttribute("aria-label") || el.name || "").trim().slice(0, 40)}`),
  );
}

/**
 * The quality checks of one page state, named `label`: axe at desktop and phone width, no
 * sideways scrolling at 360 px, every control reachable by Tab, and screenshots
 * `<dir>/<label>-desktop.png` and `<dir>/<label>-phone.png`.
 */
export async function audit(browser, check, label, dir) {
  mkdirSync(dir, { recursive: true });
  await browser.setViewport(DESKTOP);
  const desktop = await axe(browser);
  check(desktop.serious.length === 0, `${label}: axe finds no serious or critical violation at 1280 px`, desktop.serious);
  const missed = await unreachableByTab(browser, (key) => browser.press(key));
  check(missed.length === 0, `${label}: every visible control is reachable with Tab`, missed);
  await browser.screenshot(path.join(dir, `${label}-desktop.png`));
  await browser.setViewport(PHONE);
  const phone = await axe(browser);
  check(phone.serious.length === 0, `${label}: axe finds no serious or critical violation at 360 px`, phone.serious);
  const overflow = await browser.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  }));
  check(overflow.scrollWidth <= overflow.innerWidth + 1, `${label}: no sideways scrolling at 360 px`, overflow);
  await browser.screenshot(path.join(dir, `${label}-phone.png`));
  await browser.setViewport(DESKTOP);
  return { desktop: desktop.all, phone: phone.all };
}

/**
 * The launch options of a browser whose microphone plays the WAV file `speech` (pass them to
 * `run`): chromium's own fake capture device, fed the file, with the permission prompt
 * auto-accepted; for firefox, no prompt and its fake streams (fakeMicrophone feeds the file).
 */
export function microphoneOptions(speech) {
  return {
    launchArgs: [
      "--use-fake-ui-for-media-stream",
      "--use-fake-device-for-media-stream",
      `--use-file-for-fake-audio-capture=${speech}`,
    ],
    firefoxPrefs: {
      "media.navigator.permission.disabled": true,
      "media.navigator.streams.fake": true,
    },
  };
}

/**
 * Firefox's half of a microphone that plays `speech`: firefox-esr has no switch to feed a file
 * to its fake device (media.navigator.streams.fake is a tone), so an init script replaces
 * getUserMedia for audio with a Web Audio graph that loops the decoded WAV into a
 * MediaStreamAudioDestinationNode; the page's MediaRecorder and AnalyserNode see a real
 * MediaStream either way. Does nothing for chromium (see microphoneOptions).
 */
export async function fakeMicrophone(browser, browserName, speech) {
  if (browserName !== "firefox") return;
  const wav = readFileSync(speech).toString("base64");
  await browser.addInitScript((b64) => {
    const devices = navigator.mediaDevices;
    if (!devices) return;
    const original = devices.getUserMedia.bind(devices);
    devices.getUserMedia = async (constraints) => {
      if (!constraints || !constraints.audio || constraints.video) return original(constraints);
      const context = new AudioContext();
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const buffer = await context.decodeAudioData(bytes.buffer);
      const source = context.createBufferSource();
      source.buffer = buffer;
      source.loop = true;
      const destination = context.createMediaStreamDestination();
      source.connect(destination);
      source.start();
      await context.resume();
      window.__fakeMicrophone = "web-audio";
      return destination.stream;
    };
  }, wav);
}
