// Signing in from a browser, end to end, in a real browser (tests/browser/drivers.mjs):
//
//   node tests/browser/signin.mjs link  <site> "<link-url> <other-link-url>" <artifacts-dir> - [chromium|firefox]
//   node tests/browser/signin.mjs oauth <site> <login>    <artifacts-dir> <issuer> [chromium|firefox]
//
// link:  `?reason=expired` on /signin tells the person their session ended; opening a one-time
//        link signs the browser in (the nav shows the account, on /clips too) and takes the
//        token off the address bar; a link for another account opened in that signed-in tab is
//        not used until the person says so (staying does not spend it); signing out and opening
//        the first link again is refused with words on the page.
// oauth: /signin → "Sign in with your account" → the issuer's own login and consent pages
//        (oidc-provider's development interactions, filled in here as <login>) → back on
//        voicebin, signed in with a DPoP-bound token; then the page uploads a clip and lists its
//        clips through session.js's api() (a proof per call, nonce retry included), the upload
//        page sends a 6 MB clip resumably (tus: a proof per request), and signing out deletes
//        the DPoP key.
//
// Runs under tests/browser/harness.mjs: any console error, page error, CSP violation or request
// to a site other than voicebin (and, for oauth, the issuer) fails it; the pages in their
// interesting states (the expiry notice, a refused link, the OAuth offer) are audited (axe,
// Tab, 360 px) and screenshotted in <artifacts-dir>/signin-<mode>-<browser>/. Prints what it
// observed as JSON on stdout; exits non-zero on failure.

import path from "node:path";

import { BROWSERS } from "./drivers.mjs";
import { audit, run } from "./harness.mjs";

const [mode, site, arg, artifacts, issuerOrigin, browserName = "chromium"] = process.argv.slice(2);
if (!["link", "oauth"].includes(mode) || !site || !arg || !artifacts || !issuerOrigin || !BROWSERS.includes(browserName)) {
  console.error(
    `usage: node tests/browser/signin.mjs link|oauth <site> <link-url|login> <artifacts-dir> <issuer-origin|-> [${BROWSERS.join("|")}]`,
  );
  process.exit(2);
}

const STEP_TIMEOUT_MS = 20_000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
let browser;
let check;
let observed;

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

const dir = path.join(artifacts, `signin-${mode}-${browserName}`);
const shot = (name) => browser.screenshot(path.join(dir, `${name}.png`));
/** The harness's audit (axe, Tab, 360 px, screenshots) of the page as it is now. */
const audited = (label) => audit(browser, check, label, dir);

const here = () => browser.evaluate(() => ({ href: location.href, nav: document.querySelector("#account-name")?.textContent || "" }));

async function linkMode(links) {
  // Two links: the one this test signs in with (alice's), and one for another account.
  const [linkUrl, otherLink] = links.split(" ");
  if (!otherLink) throw new Error("link mode takes two links, alice's and another account's, separated by a space");
  await browser.goto(`${site}/signin?reason=expired`);
  const notice = await waitFor("the expiry notice", () => {
    const n = document.querySelector("#signin-notice");
    return n && !n.hidden && n.textContent;
  });
  check(/session ended/.test(notice), "?reason=expired says the session ended", notice);
  await audited("expired");

  // As session.js's goSignIn leaves it when a page's token expires: come back to /clips.
  await browser.evaluate(() => sessionStorage.setItem("voicebin.return-to", "/clips?q=notes"));
  await browser.goto(linkUrl);
  const signedIn = await waitFor("the link to sign in", () => {
    const name = document.querySelector("#account-name");
    return location.pathname !== "/signin" && name && !name.hidden && name.textContent;
  });
  check(/alice/.test(signedIn), "the nav shows the account after the link", signedIn);
  const back = await here();
  check(back.href === `${site}/clips?q=notes`, "back on the page the person came from", back.href);
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

  // A link for someone else, opened in this signed-in tab: the page asks first, and staying
  // does not spend the link.
  await browser.goto(otherLink);
  const asked = await waitFor("the question before switching accounts", () => {
    const question = document.querySelector("#link-switch");
    return question && !question.hidden && document.querySelector("#link-switch-text").textContent;
  });
  check(/signed in as alice/.test(asked) && /as mallory/.test(asked),
    "the page asks before signing alice's tab in as mallory", asked);
  const whileAsking = await browser.evaluate(() => JSON.parse(sessionStorage.getItem("voicebin.session"))?.account);
  check(whileAsking === "alice", "nothing changes while it asks", whileAsking);
  const offBar = await here();
  check(!offBar.href.includes("login="), "the other link's token is off the address bar", offBar.href);
  await audited("switch-question");
  await clickSoon("#link-switch-keep");
  const kept = await waitFor("staying signed in", () => document.querySelector("#link-status")?.textContent);
  check(/still signed in as alice/.test(kept), "staying keeps alice", kept);
  await browser.goto(otherLink);
  await waitFor("the question again", () => {
    const question = document.querySelector("#link-switch");
    return question && !question.hidden;
  });
  await clickSoon("#link-switch-use");
  // On the page signing in returns to: /signin shows the new name for a moment before it
  // goes there, and a click on its Sign out then would be lost in the navigation.
  const switched = await waitFor("the switch to mallory", () => {
    const name = document.querySelector("#account-name");
    return location.pathname !== "/signin" && name && !name.hidden && /mallory/.test(name.textContent) && name.textContent;
  });
  check(/mallory/.test(switched), "the unspent link, used, signs the tab in as mallory", switched);

  await clickSoon("#sign-out");
  await waitFor("sign-out", () => location.pathname === "/signin" && !sessionStorage.getItem("voicebin.session"));

  await browser.goto(linkUrl);
  const refusal = await waitFor("the second use to be refused", () => document.querySelector("#link-error")?.textContent);
  check(/already used/.test(refusal), "the same link a second time is refused in words", refusal);
  const after = await here();
  check(!after.href.includes("login="), "the token is off the address bar", after.href);
  check(!after.nav, "still signed out", after.nav);
  await audited("used-twice");
}

async function oauthMode(login) {
  await browser.goto(`${site}/signin`);
  await waitFor("the OAuth button", () => {
    const section = document.querySelector("#oauth");
    return section && !section.hidden;
  });
  await audited("with-oauth");
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

  // The upload page's resumable upload (tus-js-client): the creation and each of two 5 MiB
  // PATCHes to the same URL need a proof of their own (method, URL, a fresh jti) and the
  // latest nonce, taken from the answers tus-js-client receives.
  await browser.goto(`${site}/`);
  await waitFor("the upload page to see the session", () => document.getElementById("send")?.textContent === "Upload");
  await browser.evaluate(() => {
    // Six MB: 375 s of a 440 Hz tone, 8 kHz 16-bit mono PCM, dropped on the drop zone.
    const rate = 8000;
    const samples = rate * 375;
    const view = new DataView(new ArrayBuffer(44 + samples * 2));
    const text = (at, s) => [...s].forEach((c, i) => view.setUint8(at + i, c.charCodeAt(0)));
    text(0, "RIFF"); view.setUint32(4, 36 + samples * 2, true); text(8, "WAVEfmt ");
    view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
    view.setUint32(24, rate, true); view.setUint32(28, rate * 2, true); view.setUint16(32, 2, true);
    view.setUint16(34, 16, true); text(36, "data"); view.setUint32(40, samples * 2, true);
    for (let i = 0; i < samples; i += 1) view.setInt16(44 + i * 2, Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)), true);
    const data = new DataTransfer();
    data.items.add(new File([view.buffer], "tone.wav", { type: "audio/wav" }));
    document.getElementById("drop").dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
    document.getElementById("title").value = "Sent resumably with DPoP";
  });
  await waitFor("the dropped file to be ready", () => !document.getElementById("send").disabled);
  await browser.evaluate(() => document.getElementById("send").click());
  // A refused proof would end on /signin (the page takes a 401 for an expired session).
  const ended = () => {
    const done = document.getElementById("done");
    return {
      path: location.pathname,
      done: Boolean(done && !done.hidden),
      refusal: document.getElementById("refusal")?.textContent || "",
      share: document.getElementById("share-link")?.href || "",
    };
  };
  await waitFor("the page's upload to end", () => {
    const done = document.getElementById("done");
    return (done && !done.hidden) || document.getElementById("refusal")?.textContent || location.pathname !== "/";
  });
  const resumable = await browser.evaluate(ended);
  check(resumable.done && resumable.share.startsWith(site),
    "the upload page sends a clip through tus with the DPoP-bound token, a proof per request", resumable);

  check(typeof session.dpopKey === "string", "the session names its key", session.dpopKey);
  const keyThere = await browser.evaluate(async ({ base, id }) => {
    const d = await import(`${base}/static/app/dpop.js`);
    const keys = await d.loadKey(id);
    return keys && { extractable: keys.privateKey.extractable, alg: keys.privateKey.algorithm.namedCurve };
  }, { base: site, id: session.dpopKey });
  check(keyThere && keyThere.extractable === false && keyThere.alg === "P-256",
    "the DPoP key is a non-extractable P-256 key in IndexedDB", keyThere);
  await clickSoon("#sign-out");
  await waitFor("sign-out", () => location.pathname === "/signin" && !sessionStorage.getItem("voicebin.session"));
  const key = await browser.evaluate(async ({ base, id }) => {
    const d = await import(`${base}/static/app/dpop.js`);
    return (await d.loadKey(id)) === null ? "gone" : "still there";
  }, { base: site, id: session.dpopKey });
  check(key === "gone", "signing out deletes the DPoP key", key);
}

const options = {
  timeoutMs: 110_000,
  // The issuer's pages are its own (oidc-provider's development login and consent pages, which
  // ask Google for a web font and log its failure here, where nothing reaches the internet).
  allowOrigins: issuerOrigin === "-" ? [] : [issuerOrigin, "https://fonts.googleapis.com"],
  allowConsoleErrors: [
    // The refusals this test provokes (a used link, a proof without the nonce) are answers, not
    // errors of the page; Chromium logs every non-2xx fetch.
    /Failed to load resource: the server responded with a status of (401|409)/,
    /fonts\.googleapis\.com|ERR_NAME_NOT_RESOLVED|ERR_CONNECTION|downloadable font|font-face/i,
    // The issuer has no /favicon.ico, which Chromium asks for on its pages (voicebin's pages
    // name a data: icon, so this 404 is never ours; console messages carry no URL to tell).
    ...(issuerOrigin === "-" ? [] : [/the server responded with a status of 404/]),
  ],
};

await run(`signin-${mode}`, browserName, site, options, async (harness) => {
  ({ browser, check, observed } = harness);
  try {
    if (mode === "link") await linkMode(arg);
    else await oauthMode(arg);
  } catch (e) {
    // Where it stopped, for the report.
    observed.stoppedAt = await browser
      .evaluate(() => ({ href: location.href, text: document.body?.innerText.slice(0, 600) }))
      .catch(() => null);
    await shot("stopped").catch(() => {});
    throw e;
  }
});
