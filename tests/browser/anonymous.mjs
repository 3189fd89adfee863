// Anonymous uploads in a real browser: Debian's chromium (playwright-core) or firefox-esr
// (puppeteer-core over WebDriver BiDi), see drivers.mjs.
//
//   node tests/browser/anonymous.mjs <config-json> [chromium|firefox]
//
// config: { base, good (an audio file), artifacts (a directory), lifetimeWords (how the page
// words the anonymous lifetime, e.g. "1 day") }.
//
// Nobody is signed in. The upload page offers an anonymous upload: its notice says how long the
// clip lives, the vendored ALTCHA widget is on the page (its PBKDF2 worker from this site, no
// blob: worker, nothing from another site, under the page's strict CSP), the expiry menu offers
// nothing past the anonymous lifetime. The file is chosen, the widget solves the server's
// challenge in a worker when the person uploads, the upload carries `x-altcha`, the page shows
// the management link once and watches the scan become clean. Then the management link opens
// the clip's own page, which shows it as its owner would and deletes it after asking. Each state
// is audited by harness.mjs `audit` (axe, Tab, 360 px, screenshots in
// <artifacts>/anonymous-<browser>/). Prints what it observed as JSON; exits non-zero on failure.

import path from "node:path";

import { BROWSERS } from "./drivers.mjs";
import { audit, narrate, run } from "./harness.mjs";

const [configJson, browserName = "chromium"] = process.argv.slice(2);
if (!configJson || !BROWSERS.includes(browserName)) {
  console.error(`usage: node tests/browser/anonymous.mjs <config-json> [${BROWSERS.join("|")}]`);
  process.exit(2);
}
const config = JSON.parse(configJson);
const STEP_TIMEOUT_MS = 20_000;
const SCAN_TIMEOUT_MS = 40_000;
const shots = path.join(config.artifacts, `anonymous-${browserName}`);

await run("anonymous upload", browserName, new URL(config.base).origin, { timeoutMs: 150_000 }, async ({ browser, check, observed }) => {
  const { log, must } = narrate(check);
  const click = (selector) =>
    browser.evaluate((s) => {
      const node = document.querySelector(s);
      if (!node) throw new Error(`no ${s}`);
      node.click();
    }, selector);
  const text = (selector) =>
    browser.evaluate((s) => {
      const node = document.querySelector(s);
      return node ? node.textContent : null;
    }, selector);

  const requests = [];
  browser.onRequest((req) => requests.push(req));
  observed.uploads = [];
  browser.onResponse((res) => {
    if (res.url.includes("/api/v1/audio")) observed.uploads.push(res);
  });

  // --- the upload page, signed out ------------------------------------------------------------
  const { status } = await browser.goto(`${config.base}/`);
  log(status === 200, "/ answers 200", status);
  must(
    await browser.waitForFunction(() => document.getElementById("send").textContent === "Upload anonymously", null, STEP_TIMEOUT_MS),
    "signed out, the button offers an anonymous upload",
    await text("#send"),
  );
  const notice = await browser.evaluate(() => {
    const n = document.getElementById("signed-out-anonymous");
    return { hidden: n.hidden, text: n.textContent, signInNotice: !document.getElementById("signed-out").hidden };
  });
  log(!notice.hidden && !notice.signInNotice, "the anonymous notice shows, not the sign-in one", notice);
  log(notice.text.includes(config.lifetimeWords), `the notice says the clip lives ${config.lifetimeWords} at most`, notice.text);
  must(
    await browser.waitForFunction(() => customElements.get("altcha-widget") !== undefined && !document.getElementById("anonymous").hidden, null, STEP_TIMEOUT_MS),
    "the vendored ALTCHA widget is defined and shown",
  );
  const menu = await browser.evaluate(() =>
    [...document.getElementById("expires-in").options].map((o) => ({ value: o.value, disabled: o.disabled })),
  );
  log(
    menu.find((o) => o.value === "P7D").disabled && !menu.find((o) => o.value === "PT1H").disabled,
    "the expiry menu offers nothing past the anonymous lifetime",
    menu,
  );

  await browser.setInputFiles("#file", config.good);
  must(
    await browser.waitForFunction(() => !document.getElementById("send").disabled, null, STEP_TIMEOUT_MS),
    "the chosen file is ready to upload",
  );
  await browser.evaluate(() => {
    document.getElementById("title").value = "Anonymous from the browser";
  });
  await audit(browser, log, "ready", shots);

  await click("#send");
  const done = await browser.waitForFunction(() => !document.getElementById("done").hidden, null, 60_000);
  must(done, "the upload is done (the widget solved the challenge first)", await text("#refusal"));
  const manage = await browser.evaluate(() => ({
    hidden: document.getElementById("manage").hidden,
    href: document.getElementById("manage-link").href,
    share: document.getElementById("share-link").href,
  }));
  observed.manage = manage;
  log(!manage.hidden && /\/[A-Za-z0-9_-]{16}\/manage#[A-Za-z0-9_-]{43}$/.test(manage.href), "the management link is shown", manage);
  log(
    await browser.evaluate(() => globalThis.$altcha.algorithms.has("PBKDF2/SHA-256")),
    "the widget solves PBKDF2/SHA-256 with the worker this site registered",
  );
  log(requests.some((r) => r.url.includes("/api/v1/challenge")), "the widget fetched the server's challenge");
  const scanned = await browser.waitForFunction(
    () => {
      const scan = document.getElementById("scan");
      return scan && scan.dataset.scanState && scan.dataset.scanState !== "pending";
    },
    null,
    SCAN_TIMEOUT_MS,
  );
  const scan = await browser.evaluate(() => document.getElementById("scan").dataset.scanState);
  log(scanned && scan === "clean", "the page watches the scan become clean with the management token", scan);
  await audit(browser, log, "uploaded", shots);

  // --- the management page ---------------------------------------------------------------------
  await browser.goto(manage.href);
  must(
    await browser.waitForFunction(() => !document.getElementById("manage-clip").hidden, null, STEP_TIMEOUT_MS),
    "the management page shows the clip",
    await text("#manage-status"),
  );
  const page = await browser.evaluate(() => ({
    title: document.getElementById("manage-title").textContent,
    scan: document.querySelector('[data-fact="scan-clean"]') !== null,
    expires: document.querySelector('[data-fact="expires"]').textContent,
  }));
  observed.managePage = page;
  log(page.title === "Anonymous from the browser" && page.scan, "as its owner would see it: title and a clean scan", page);
  log(page.expires !== "Never", "with its expiry", page.expires);
  await audit(browser, log, "manage", shots);
  await browser.evaluate(() => {
    [...document.querySelectorAll("#manage-delete button")].find((b) => b.textContent === "Delete").click();
  });
  await browser.evaluate(() => {
    [...document.querySelectorAll("#manage-delete button")].find((b) => b.textContent === "Yes, delete it").click();
  });
  const deleted = await browser.waitForFunction(
    () => document.getElementById("manage-status").textContent.startsWith("Deleted"),
    null,
    STEP_TIMEOUT_MS,
  );
  log(deleted, "the management page deletes the clip", await text("#manage-status"));
});
