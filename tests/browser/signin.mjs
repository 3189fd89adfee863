// Signing in from a browser, end to end, in a real browser (tests/browser/drivers.mjs):
//
//   node tests/browser/signin.mjs link  <site> <link-url> <artifacts-dir> [chromium|firefox]
//   node tests/browser/signin.mjs oauth <site> <login>    <artifacts-dir> [chromium|firefox]
//
// link:  `?reason=expired` on /signin tells the person their session ended; opening a one-time
//        link signs the browser in (the nav shows the account, on /clips too) and takes the
//        token off the address bar; signing out and opening the same link again is refused with
//        words on the page.
// oauth: /signin → "Sign in with your account" → the issuer's own login and consent pages
//        (oidc-provider's development interactions, filled in here as <login>) → back on
//        voicebin, signed in with a DPoP-bound token; then the page uploads a clip and lists its
//        clips through session.js's api() (a proof per call, nonce retry included), and
//        signing out deletes the DPoP key.
//
// Both fail on any console error, page error or CSP violation on voicebin's pages. Screenshots
// go to <artifacts-dir>/signin-<mode>-<browser>-*.png. Prints what it observed as JSON on
// stdout; exits non-zero on failure.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { BROWSERS, launch } from "./drivers.mjs";

const [mode, site, arg, artifacts, browserName = "chromium"] = process.argv.slice(2);
if (!["link", "oauth"].includes(mode) || !site || !arg || !artifacts || !BROWSERS.includes(browserName)) {
  console.error(
    `usage: node tests/browser/signin.mjs link|oauth <site> <link-url|login> <artifacts-dir> [${BROWSERS.join("|")}]`,
  );
  process.exit(2);
}

const SETUP_HINT = "run scripts/test (or `source scripts/services/browser.sh && ensure_browser`)";
const STEP_TIMEOUT_MS = 20_000;
const OVERALL_TIMEOUT_MS = 100_000;

const observed = { browser: browserName, mode, steps: [], consoleErrors: [], pageErrors: [], cspViolations: [] };
const failures = [];

function check(ok, message, details) {
  observed.steps.push({ check: message, ok, ...(details === undefined ? {} : { details }) });
  if (!ok) failures.push(details === undefined ? message : `${message}: ${JSON.stringify(details)}`);
  return ok;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const userDataDir = mkdtempSync(path.join(tmpdir(), `voicebin-signin-${browserName}-`));
const watchdog = setTimeout(() => {
  observed.failures = [...failures, `no result after ${OVERALL_TIMEOUT_MS} ms`];
  console.log(JSON.stringify(observed, null, 2));
  console.error(`sign-in check FAILED: no result after ${OVERALL_TIMEOUT_MS} ms`);
  rmSync(userDataDir, { recursive: true, force: true });
  process.exit(1);
}, OVERALL_TIMEOUT_MS);

let browser;

/** Polls `fn(arg)` in the page until it is truthy, across navigations; the value, or throws. */
async function waitFor(what, fn, arg, timeout = STEP_TIMEOUT_MS) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try {
      const value = await browser.evaluate(fn, arg);
      if (value) return value;
      last = value;
    } catch (e) {
      last = String(e.message || e); // a navigation in progress
    }
    await sleep(150);
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}

/** Clicks `selector` after this call returns (the click may navigate away). */
const clickSoon = (selector) =>
  browser.evaluate((s) => {
    setTimeout(() => document.querySelector(s).click(), 0);
  }, selector);

const shot = (name) => browser.screenshot(path.join(artifacts, `signin-${mode}-${browserName}-${name}.png`));

const here = () => browser.evaluate(() => ({ href: location.href, nav: document.querySelector("#account-name")?.textContent || "" }));

async function linkMode(linkUrl) {
  await browser.goto(`${site}/signin?reason=expired`);
  const notice = await waitFor("the expiry notice", () => {
    const n = document.querySelector("#signin-notice");
    return n && !n.hidden && n.textContent;
  });
  check(/session ended/.test(notice), "?reason=expired says the session ended", notice);

  await browser.goto(linkUrl);
  const signedIn = await waitFor("the link to sign in", () => {
    const name = document.querySelector("#account-name");
    return location.pathname !== "/signin" && name && !name.hidden && name.textContent;
  });
  check(/alice/.test(signedIn), "the nav shows the account after the link", signedIn);
  const stored = await browser.evaluate(() => JSON.parse(sessionStorage.getItem("voicebin.session")));
  check(stored && stored.via === "link" && stored.scheme === "Bearer" && stored.account === "alice",
    "the session is in sessionStorage", stored && { via: stored.via, account: stored.account });
  const cookies = await browser.evaluate(() => document.cookie);
  check(cookies === "", "no cookie holds the session", cookies);
  await shot("signed-in");

  await browser.goto(`${site}/clips`);
  const onClips = await waitFor("the nav on /clips", () => {
    const name = document.querySelector("#account-name");
    return name && !name.hidden && name.textContent;
  });
  check(/alice/.test(onClips), "/clips shows the account too", onClips);

  await clickSoon("#sign-out");
  await waitFor("sign-out", () => location.pathname === "/signin" && !sessionStorage.getItem("voicebin.session"));

  await browser.goto(linkUrl);
  const refusal = await waitFor("the second use to be refused", () => document.querySelector("#link-error")?.textContent);
  check(/already used/.test(refusal), "the same link a second time is refused in words", refusal);
  const after = await here();
  check(!after.href.includes("login="), "the token is off the address bar", after.href);
  check(!after.nav, "still signed out", after.nav);
  await shot("used-twice");
}

async function oauthMode(login) {
  await browser.goto(`${site}/signin`);
  await waitFor("the OAuth button", () => {
    const section = document.querySelector("#oauth");
    return section && !section.hidden;
  });
  await shot("start");
  await clickSoon("#oauth-start");

  // The issuer's development login page (another origin: its own markup, not voicebin's).
  await waitFor("the issuer's login page", (origin) =>
    !location.href.startsWith(origin) && Boolean(document.querySelector('input[name="login"]')), site);
  observed.issuerLogin = (await here()).href.replace(/\?.*/, "");
  await browser.evaluate((name) => {
    document.querySelector('input[name="login"]').value = name;
    document.querySelector('input[name="password"]').value = "any password";
    setTimeout(() => document.querySelector('button[type="submit"]').click(), 0);
  }, login);
  // Its consent page, unless it skipped it.
  const next = await waitFor("consent or voicebin", (origin) => {
    if (location.href.startsWith(origin)) return "back";
    const button = document.querySelector('button[type="submit"]');
    return button && /continue/i.test(button.textContent) ? "consent" : false;
  }, site);
  if (next === "consent") await clickSoon('button[type="submit"]');

  const signedIn = await waitFor("voicebin to sign in", (origin) => {
    const name = document.querySelector("#account-name");
    return location.href.startsWith(origin) && location.pathname !== "/signin" && name && !name.hidden && name.textContent;
  }, site, 30_000).catch(async (e) => {
    observed.stuckAt = await here().catch(() => null);
    observed.oauthError = await browser.evaluate(() => document.querySelector("#oauth-error")?.textContent).catch(() => null);
    await shot("stuck").catch(() => {});
    throw e;
  });
  check(signedIn.includes(login), "the nav shows the issuer's account", signedIn);
  const session = await browser.evaluate(() => JSON.parse(sessionStorage.getItem("voicebin.session")));
  check(session && session.scheme === "DPoP" && session.via === "oauth", "the token is DPoP-bound", session && { scheme: session.scheme, via: session.via });
  const claims = JSON.parse(Buffer.from(session.token.split(".")[1], "base64url").toString());
  check(claims.aud === site || (Array.isArray(claims.aud) && claims.aud.includes(site)), "its audience is voicebin", claims.aud);
  check(Boolean(claims.cnf && claims.cnf.jkt), "it names the browser's key (cnf.jkt)", claims.cnf);
  const leftovers = await browser.evaluate(() => ({ search: location.search, flow: sessionStorage.getItem("voicebin.oauth-flow") }));
  check(!leftovers.search.includes("code=") && leftovers.flow === null, "no code or verifier is left behind", leftovers);
  await shot("signed-in");

  // The page's own API client: an upload and a listing, each with a fresh proof.
  const result = await browser.evaluate(async (base) => {
    const m = await import(`${base}/static/app/session.js`);
    // Half a second of a 440 Hz tone, 8 kHz 16-bit mono PCM.
    const rate = 8000;
    const samples = rate / 2;
    const view = new DataView(new ArrayBuffer(44 + samples * 2));
    const text = (at, s) => [...s].forEach((c, i) => view.setUint8(at + i, c.charCodeAt(0)));
    text(0, "RIFF"); view.setUint32(4, 36 + samples * 2, true); text(8, "WAVEfmt ");
    view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
    view.setUint32(24, rate, true); view.setUint32(28, rate * 2, true); view.setUint16(32, 2, true);
    view.setUint16(34, 16, true); text(36, "data"); view.setUint32(40, samples * 2, true);
    for (let i = 0; i < samples; i += 1) view.setInt16(44 + i * 2, Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)), true);
    try {
      const item = await m.api("/api/v1/audio", {
        method: "POST",
        body: new Blob([view.buffer], { type: "audio/wav" }),
        headers: { "x-title": "Signed in with OAuth" },
      });
      const list = await m.api("/api/v1/account/items");
      return { id: item.id, titles: list.items.map((i) => i.title), scheme: m.current()?.scheme };
    } catch (e) {
      return { error: String(e.message || e), status: e.status };
    }
  }, site);
  check(!result.error && result.titles.includes("Signed in with OAuth") && result.scheme === "DPoP",
    "the page uploads and lists clips with the DPoP-bound token", result);

  await clickSoon("#sign-out");
  await waitFor("sign-out", () => location.pathname === "/signin" && !sessionStorage.getItem("voicebin.session"));
  const key = await browser.evaluate(async (base) => {
    const d = await import(`${base}/static/app/dpop.js`);
    return (await d.loadKey()) === null ? "gone" : "still there";
  }, site);
  check(key === "gone", "signing out deletes the DPoP key", key);
}

try {
  browser = await launch(browserName, {
    userDataDir,
    viewport: { width: 1000, height: 750 },
    launchTimeout: 60_000,
    stepTimeout: STEP_TIMEOUT_MS,
    setupHint: SETUP_HINT,
  });
  await browser.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  const onSite = (location) => !location || !location.url || location.url.startsWith(site);
  browser.onConsole((msg) => {
    // The issuer's pages are not ours (its development pages fetch web fonts from the internet).
    // The refusals this test provokes (a used link, a proof without the nonce) are answers, not
    // errors of the page; Chromium logs every non-2xx fetch.
    const expected = /Failed to load resource: the server responded with a status of (401|409)/;
    if (msg.type === "error" && onSite(msg.location) && !expected.test(msg.text)) observed.consoleErrors.push(msg);
  });
  browser.onPageError((err) => observed.pageErrors.push(err));

  if (mode === "link") await linkMode(arg);
  else await oauthMode(arg);
  check(observed.consoleErrors.length === 0, "no console errors on voicebin's pages", observed.consoleErrors);
  check(observed.pageErrors.length === 0, "no page errors", observed.pageErrors);
} catch (e) {
  failures.push(`the run stopped: ${e.stack || e}`);
  // Where it stopped, for the report.
  observed.stoppedAt = await browser
    ?.evaluate(() => ({ href: location.href, text: document.body?.innerText.slice(0, 600) }))
    .catch(() => null);
  await shot("stopped").catch(() => {});
} finally {
  clearTimeout(watchdog);
  if (browser) await browser.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}

observed.failures = failures;
console.log(JSON.stringify(observed, null, 2));
if (failures.length) {
  console.error(`sign-in check FAILED:\n${failures.join("\n")}`);
  process.exit(1);
}
