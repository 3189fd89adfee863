// The two ways tests/browser/view.mjs drives a browser, behind one small interface:
//   - chromium: Debian's chromium through playwright-core;
//   - firefox: Debian's firefox-esr through puppeteer-core over WebDriver BiDi (playwright only
//     drives its own patched Firefox builds, which cannot be downloaded here).
// `scripts/services/browser.sh` installs all four.
//
// launch(name, { userDataDir, viewport, launchTimeout, stepTimeout, setupHint, args, prefs })
// resolves to a session with (`args`: extra chromium flags; `prefs`: extra Firefox prefs):
//   executablePath
//   addInitScript(fn, arg)               runs fn(arg) in every new document, before page scripts
//   onConsole(cb) / onPageError(cb) / onResponse(cb) / onRequestFailed(cb)
//                                        cb gets plain objects (see pageEvents), never driver
//                                        types
//   goto(url)                            -> { status, csp }
//   title()
//   evaluate(fn, arg)
//   waitForSelector(selector, timeout)   -> true, or false after the timeout
//   waitForFunction(fn, arg, timeout)    -> true once fn(arg) is truthy, or false
//   boundingBox(selector)                -> { x, y, width, height } in CSS pixels
//   clickAt(selector, x, y)              a real mouse click at (x, y) inside the element
//   evaluateInFrame(part, fn, arg)       evaluate in the first frame whose URL contains part
//                                        (cross-origin iframes included); throws if none
//   setInputFiles(selector, path)        chooses a file in an <input type="file">, as a person
//                                        would in the file chooser
//   screenshot(path)                     full page
//   setViewport({ width, height })       resize the page's viewport (CSS pixels)
//   press(key)                           a real key press ("Tab", "Enter", "Shift+Tab")
//   onRequest(cb)                        cb({ url, method }) for every request the page makes
//   settle(timeout)                      waits until the page's network has been idle for
//                                        ~500 ms (or the timeout passes; never throws)
//   close()

import { createRequire } from "node:module";
import path from "node:path";

export const BROWSERS = ["chromium", "firefox"];

/** A driver package from VOICEBIN_BROWSER_NODE_PATH or NODE_PATH (ESM ignores NODE_PATH). */
function loadPackage(name, setupHint) {
  const require = createRequire(import.meta.url);
  const paths = [
    process.env.VOICEBIN_BROWSER_NODE_PATH,
    ...(process.env.NODE_PATH || "").split(path.delimiter),
  ].filter(Boolean);
  try {
    return require(require.resolve(name, { paths }));
  } catch (e) {
    throw new Error(
      `${name} not found (searched ${JSON.stringify(paths)} and the default ` +
        `locations): ${e.message}\n${setupHint}`,
    );
  }
}

/**
 * onConsole/onPageError/onResponse/onRequestFailed for a playwright or a puppeteer page: their
 * page events and the accessors used here have the same names and meanings.
 */
function pageEvents(page) {
  return {
    onConsole: (cb) =>
      page.on("console", (msg) =>
        cb({ type: msg.type(), text: msg.text(), location: msg.location() }),
      ),
    onPageError: (cb) =>
      page.on("pageerror", (err) => cb(String(err && err.stack ? err.stack : err))),
    onResponse: (cb) =>
      page.on("response", (res) =>
        cb({
          url: res.url(),
          status: res.status(),
          range: res.request().headers().range,
          contentType: res.headers()["content-type"],
        }),
      ),
    onRequestFailed: (cb) =>
      page.on("requestfailed", (req) =>
        cb({
          url: req.url(),
          type: req.resourceType(),
          error: req.failure() && req.failure().errorText,
        }),
      ),
  };
}

/** The first frame of a playwright or puppeteer page whose URL contains `part`. */
function frameOf(page, part) {
  const frame = page.frames().find((f) => f.url().includes(part));
  if (!frame) {
    throw new Error(`no frame's URL contains ${part}: ${page.frames().map((f) => f.url())}`);
  }
  return frame;
}

export async function launch(name, options) {
  switch (name) {
    case "chromium":
      return launchChromium(options);
    case "firefox":
      return launchFirefox(options);
    default:
      throw new Error(`unknown browser ${JSON.stringify(name)}; expected one of ${BROWSERS}`);
  }
}

async function launchChromium(options) {
  const { userDataDir, viewport, launchTimeout, stepTimeout, setupHint } = options;
  const { chromium } = loadPackage("playwright-core", setupHint);
  const executablePath = process.env.VOICEBIN_CHROMIUM || "/usr/bin/chromium";
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      viewport,
      timeout: launchTimeout,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",
        ...(options.args || []),
      ],
    });
  } catch (e) {
    throw new Error(`could not launch ${executablePath}: ${e.message}\n${setupHint}`);
  }
  context.setDefaultTimeout(stepTimeout);
  const page = context.pages()[0] || (await context.newPage());
  return {
    executablePath,
    // Init scripts are injected by the browser, so the page's CSP does not block them.
    addInitScript: (fn, arg) => context.addInitScript(fn, arg),
    ...pageEvents(page),
    goto: async (url) => {
      const response = await page.goto(url, { waitUntil: "load" });
      return {
        status: response && response.status(),
        csp: response && (await response.headerValue("content-security-policy")),
      };
    },
    title: () => page.title(),
    evaluate: (fn, arg) => page.evaluate(fn, arg),
    waitForSelector: (selector, timeout) =>
      page
        .waitForSelector(selector, { timeout })
        .then(() => true)
        .catch(() => false),
    waitForFunction: (fn, arg, timeout) =>
      page
        .waitForFunction(fn, arg, { timeout })
        .then(() => true)
        .catch(() => false),
    boundingBox: (selector) => page.locator(selector).boundingBox(),
    clickAt: (selector, x, y) => page.locator(selector).click({ position: { x, y } }),
    evaluateInFrame: (part, fn, arg) => frameOf(page, part).evaluate(fn, arg),
    setInputFiles: (selector, file) => page.setInputFiles(selector, file),
    screenshot: (file) => page.screenshot({ path: file, fullPage: true }),
    setViewport: (size) => page.setViewportSize(size),
    press: (key) => page.keyboard.press(key),
    onRequest: (cb) => page.on("request", (req) => cb({ url: req.url(), method: req.method() })),
    settle: (timeout) => page.waitForLoadState("networkidle", { timeout }).catch(() => {}),
    close: () => context.close(),
  };
}

async function launchFirefox(options) {
  const { userDataDir, viewport, launchTimeout, stepTimeout, setupHint } = options;
  const puppeteerModule = loadPackage("puppeteer-core", setupHint);
  const puppeteer = puppeteerModule.default || puppeteerModule;
  const executablePath = process.env.VOICEBIN_FIREFOX || "/usr/bin/firefox-esr";
  let browser;
  try {
    browser = await puppeteer.launch({
      browser: "firefox",
      executablePath,
      headless: true,
      userDataDir,
      defaultViewport: viewport,
      timeout: launchTimeout,
      // puppeteer writes these into the fresh profile's user.js, on top of its own automation
      // prefs (no updates, no first-run pages, no telemetry).
      extraPrefsFirefox: {
        // Allow play() without a user gesture (the test mutes the player too, which the default
        // policy would allow already).
        "media.autoplay.default": 0,
        "media.autoplay.blocking_policy": 0,
        ...(options.prefs || {}),
      },
    });
  } catch (e) {
    throw new Error(`could not launch ${executablePath}: ${e.message}\n${setupHint}`);
  }
  try {
    const page = (await browser.pages())[0] || (await browser.newPage());
    page.setDefaultTimeout(stepTimeout);
    // defaultViewport only applies to pages puppeteer opens; this one came with the browser.
    await page.setViewport(viewport);
    const handle = async (selector) => {
      const element = await page.$(selector);
      if (!element) throw new Error(`no element matches ${selector}`);
      return element;
    };
    return {
      executablePath,
      // A WebDriver BiDi preload script, run before the page's own scripts and not subject to
      // the page's CSP.
      // puppeteer refuses an argument (even `undefined`) with a script given as a string.
      addInitScript: (fn, arg) =>
        arg === undefined ? page.evaluateOnNewDocument(fn) : page.evaluateOnNewDocument(fn, arg),
      ...pageEvents(page),
      goto: async (url) => {
        const response = await page.goto(url, { waitUntil: "load" });
        return {
          status: response && response.status(),
          csp: response && (response.headers()["content-security-policy"] ?? null),
        };
      },
      title: () => page.title(),
      evaluate: (fn, arg) => page.evaluate(fn, arg),
      waitForSelector: (selector, timeout) =>
        page
          .waitForSelector(selector, { timeout })
          .then(() => true)
          .catch(() => false),
      // Polled on a timer rather than on requestAnimationFrame, which a headless page may
      // throttle.
      waitForFunction: (fn, arg, timeout) =>
        page
          .waitForFunction(fn, { timeout, polling: 100 }, arg)
          .then(() => true)
          .catch(() => false),
      boundingBox: async (selector) => (await handle(selector)).boundingBox(),
      clickAt: async (selector, x, y) => (await handle(selector)).click({ offset: { x, y } }),
      evaluateInFrame: (part, fn, arg) => frameOf(page, part).evaluate(fn, arg),
      setInputFiles: async (selector, file) => (await handle(selector)).uploadFile(file),
      screenshot: (file) => page.screenshot({ path: file, fullPage: true }),
      setViewport: (size) => page.setViewport(size),
      press: async (key) => {
        // puppeteer presses a chord as down/press/up of its parts.
        const parts = key.split("+");
        const last = parts.pop();
        for (const modifier of parts) await page.keyboard.down(modifier);
        await page.keyboard.press(last);
        for (const modifier of parts.reverse()) await page.keyboard.up(modifier);
      },
      onRequest: (cb) => page.on("request", (req) => cb({ url: req.url(), method: req.method() })),
      settle: (timeout) => page.waitForNetworkIdle({ idleTime: 500, timeout }).catch(() => {}),
      close: () => browser.close(),
    };
  } catch (e) {
    await browser.close().catch(() => {});
    throw e;
  }
}
