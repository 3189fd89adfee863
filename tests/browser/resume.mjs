// The upload page resumes interrupted uploads, in a real browser (tests/browser/drivers.mjs):
//
//   node tests/browser/resume.mjs <config.json> [chromium|firefox]
//
// config.json (written by tests/api/webapp_resume.rs): { base (the app), token, account,
// scopes, speech (a WAV, the microphone's input), large and medium (two WAV files of a few MB),
// artifacts }.
//
// The browser reaches the app only through a TCP proxy run here, which can cut a connection
// once it has carried a number of bytes since the proxy was armed, and then stay down (every
// connection refused) until told otherwise. tus-js-client in the page sends a clip in 5 MiB
// PATCHes; every request it makes is logged in the page (method, Upload-Offset sent, status,
// Upload-Offset answered).
//
// (a) `large` through the file chooser, its connection cut twice mid-upload with the network
//     back at once: the page carries on by itself (HEAD, then PATCH from where the server
//     stands), one creation in all, and the clip uploads.
// (b) A three-second recording, its connection cut mid-upload and the network then down: the
//     page says the connection broke; the page is closed; with the network back, / offers the
//     recording again (kept as the draft while it was sent), and uploading it carries on from
//     where the server stood (HEAD then PATCH, no new creation).
// (c) `medium`, its connection cut mid-upload and the network down, and meanwhile the token
//     stops being accepted: back on the network, the page's next try is refused (401) and it
//     sends the person to sign in, keeping the file; after signing in, uploading it carries on
//     from where the server stood.
//
// The Rust test checks the server's side: three clips, each the bytes sent, each created once,
// and the bytes the server received. Runs under tests/browser/harness.mjs (console errors, page
// errors, CSP violations and requests to other sites fail it). Prints what it observed as JSON;
// exits non-zero on failure.

import { readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";

import { BROWSERS } from "./drivers.mjs";
import { audit, fakeMicrophone, microphoneOptions, narrate, run, signIn } from "./harness.mjs";

const [configPath, browserName = "chromium"] = process.argv.slice(2);
if (!configPath || !BROWSERS.includes(browserName)) {
  console.error(`usage: node tests/browser/resume.mjs <config.json> [${BROWSERS.join("|")}]`);
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, "utf8"));
const STEP_TIMEOUT_MS = 15_000;
const SCAN_TIMEOUT_MS = 30_000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const shots = path.join(config.artifacts, `resume-${browserName}`);

/**
 * A TCP proxy to `target` (a URL). `arm(after, { cuts, down })`: from now on, a connection that
 * has carried more than `after` bytes from the browser (counted from this call, or from the
 * last cut) is cut there, `cuts` times; with `down`, the proxy then refuses every connection
 * (and drops the open ones) until `up()`. `cuts()` is how many were made.
 */
/** PATCHes of resumable uploads the app refused (409 or 423), from its `/metrics`. */
async function refusedPatches() {
  const text = await (await fetch(new URL("/metrics", config.base))).text();
  return text
    .split("\n")
    .filter((l) => l.startsWith("voicebin_http_requests_total{") && l.includes('method="PATCH"'))
    .filter((l) => /status="(409|423)"/.test(l))
    .reduce((sum, l) => sum + Number(l.split(" ").at(-1)), 0);
}

async function cuttingProxy(target) {
  const open = new Set();
  let plan = null;
  let made = 0;
  let down = false;
  const drop = () => {
    for (const c of open) c.destroy();
  };
  const server = net.createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(target.port), target.hostname);
    const conn = { client, sent: 0, destroy: () => (client.destroy(), upstream.destroy()) };
    open.add(conn);
    client.on("data", (buf) => {
      if (plan && conn.sent + buf.length > plan.after) {
        // The server gets the bytes up to the cut, then the end of the connection.
        upstream.end(buf.subarray(0, Math.max(0, plan.after - conn.sent)));
        client.destroy();
        made += 1;
        plan.cuts -= 1;
        const { down: goDown } = plan;
        if (plan.cuts === 0) plan = null;
        for (const c of open) c.sent = 0;
        if (goDown) {
          down = true;
          drop();
        }
        return;
      }
      conn.sent += buf.length;
      upstream.write(buf);
    });
    upstream.on("data", (b) => client.write(b));
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.on("close", () => {
      open.delete(conn);
      upstream.end();
    });
    upstream.on("close", () => client.destroy());
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    arm: (after, { cuts = 1, down: goDown = false } = {}) => {
      plan = { after, cuts, down: goDown };
      for (const c of open) c.sent = 0;
    },
    up: () => {
      down = false;
    },
    cuts: () => made,
    close: () => {
      drop();
      server.close();
    },
  };
}

const proxy = await cuttingProxy(new URL(config.base));
const site = proxy.origin;
const home = `${site}/`;
const session = {
  token: config.token,
  scheme: "Bearer",
  account: config.account,
  scopes: config.scopes,
  expiresAt: null,
  via: "key",
};

const options = {
  timeoutMs: 110_000,
  allowConsoleErrors: [
    // Chromium logs the requests the proxy cut or refused, and the answers tus-js-client
    // retries or that (c) provokes: a busy upload (423), an offset the server has moved past
    // (409), the refused token (401).
    /net::ERR_/,
    /status of (401|409|423) /,
  ],
  ...microphoneOptions(config.speech),
};

await run("resuming uploads", browserName, site, options, async ({ browser, check, observed }) => {
  const { log, must } = narrate(check);
  const click = (selector) =>
    browser.evaluate((s) => {
      const node = document.querySelector(s);
      if (!node) throw new Error(`no ${s}`);
      node.click();
    }, selector);
  const text = (selector) => browser.evaluate((s) => document.querySelector(s)?.textContent ?? null, selector);
  /** What the page shows (on any page: /signin has none of it). */
  const page = () =>
    browser.evaluate(() => {
      const get = (id) => document.getElementById(id);
      return {
        done: Boolean(get("done") && !get("done").hidden),
        refusal: get("refusal")?.textContent ?? null,
        progress: get("progress-text")?.textContent ?? null,
        restored: get("restored") && !get("restored").hidden ? get("restored").textContent : null,
        path: location.pathname,
      };
    });
  /** The page's tus requests so far: { method, offset (sent), status, answer (Upload-Offset) }. */
  const requests = () => browser.evaluate(() => window.__tus.map(({ url, ...rest }) => rest));
  const scanOutcome = async () => {
    await browser.waitForFunction(
      () => {
        const scan = document.getElementById("scan");
        return scan && scan.dataset.scanState && scan.dataset.scanState !== "pending";
      },
      null,
      SCAN_TIMEOUT_MS,
    );
    return browser.evaluate(() => document.getElementById("scan").dataset.scanState || null);
  };
  const uploaded = async (what) => {
    const done = await browser.waitForFunction(
      () => !document.getElementById("done").hidden || document.getElementById("refusal").textContent,
      null,
      STEP_TIMEOUT_MS * 2,
    );
    const state = await page();
    must(done && state.done, `${what} uploads`, { ...state, requests: await requests() });
    const scan = await scanOutcome();
    log(scan === "clean", `${what}: its scan becomes clean`, scan);
    return state;
  };
  /** Waits until the proxy has made `n` cuts in all. */
  const cutsReach = async (n) => {
    const end = Date.now() + STEP_TIMEOUT_MS;
    while (proxy.cuts() < n && Date.now() < end) await sleep(20);
    return proxy.cuts() >= n;
  };
  /** The checks of an upload that was resumed after the page was closed: no new upload, a
   *  HEAD that found bytes there, and PATCHes from there on. */
  const resumedAfterReopening = (what, log_, size) => {
    const creations = log_.filter((r) => r.method === "POST");
    const head = log_.find((r) => r.method === "HEAD");
    const patches = log_.filter((r) => r.method === "PATCH" && r.status === 204);
    log(creations.length === 0, `${what}: no new upload is created`, log_);
    log(
      head && head.status === 204 && head.answer > 0 && head.answer < size,
      `${what}: the page asks where the upload stands, and the server holds part of it`,
      head,
    );
    log(
      patches.length > 0 && patches[0].offset === head?.answer && patches.at(-1).answer === size,
      `${what}: the page sends only the rest, from there`,
      patches,
    );
  };

  await signIn(browser, session);
  await fakeMicrophone(browser, browserName, config.speech);
  await browser.addInitScript(() => {
    // Every request to the uploads endpoint, as the page makes it and as it is answered.
    window.__tus = [];
    const open = XMLHttpRequest.prototype.open;
    const setRequestHeader = XMLHttpRequest.prototype.setRequestHeader;
    const send = XMLHttpRequest.prototype.send;
    XMLHttpRequest.prototype.open = function (method, url, ...rest) {
      this.__entry = { method, url: String(url), offset: null };
      return open.call(this, method, url, ...rest);
    };
    XMLHttpRequest.prototype.setRequestHeader = function (name, value) {
      if (this.__entry && name.toLowerCase() === "upload-offset") this.__entry.offset = Number(value);
      return setRequestHeader.call(this, name, value);
    };
    XMLHttpRequest.prototype.send = function (body) {
      const entry = this.__entry;
      if (entry && entry.url.includes("/api/v1/uploads")) {
        window.__tus.push(entry);
        this.addEventListener("loadend", () => {
          entry.status = this.status;
          const answer = this.getResponseHeader("Upload-Offset");
          entry.answer = answer === null ? null : Number(answer);
        });
      }
      return send.call(this, body);
    };
  });

  // --- (a) a chosen file, cut twice, carries on by itself -------------------------------------
  const large = readFileSync(config.large).length;
  await browser.goto(home);
  must(
    await browser.waitForFunction(() => document.getElementById("send").textContent === "Upload", null, STEP_TIMEOUT_MS),
    "the page sees the session",
    await text("#send"),
  );
  await browser.setInputFiles("#file", config.large);
  must(
    await browser.waitForFunction(() => !document.getElementById("send").disabled, null, STEP_TIMEOUT_MS),
    "(a) the file is ready to upload",
    await text("#refusal"),
  );
  await browser.evaluate(() => (document.getElementById("title").value = "Cut twice"));
  // Cut at a third of the file, then a third of the rest: both in the middle of a PATCH.
  proxy.arm(Math.floor(large / 3), { cuts: 2 });
  await click("#send");
  await uploaded("(a) the file cut twice");
  must(proxy.cuts() === 2, "(a) the proxy cut the upload twice", proxy.cuts());
  // What a cut looks like to the page differs: Firefox reports the broken request; Chromium
  // sends a request whose reused connection broke once more by itself, which the server then
  // refuses (423 while the broken one still holds the upload, or 409 once it moved past its
  // offset). Either way tus-js-client asks where the upload stands and carries on from there.
  const a = await requests();
  observed.a = a;
  const creations = a.filter((r) => r.method === "POST");
  const partial = a.filter((r) => r.method === "HEAD" && r.status === 204 && r.answer > 0 && r.answer < large);
  const last = a.filter((r) => r.method === "PATCH" && r.status === 204).at(-1);
  log(creations.length === 1 && creations[0].status === 201, "(a) the upload is created once", creations);
  // Chromium may also resend a request whose connection broke on a new connection by itself;
  // on a loaded machine the resend can reach the server before the broken request does, and is
  // simply answered: the page then sees no cut at all, and the server refuses the broken
  // request when it gets to it (423 or 409, counted in its metrics).
  const sawCut = a.some((r) => r.method === "PATCH" && r.status !== 204);
  const refusedByServer = sawCut ? 0 : await refusedPatches();
  log(
    sawCut || (browserName === "chromium" && refusedByServer > 0),
    "(a) a PATCH broke off or was refused",
    { requests: a, refusedByServer },
  );
  log(
    !sawCut || partial.length >= 1,
    "(a) the page asks where the upload stands, and the server holds part of it",
    a,
  );
  // Every PATCH starts where the server last said the upload stands (the creation's, a HEAD's
  // or the last PATCH's Upload-Offset): never back at the start once bytes are there.
  let stands = null;
  const astray = [];
  for (const r of a) {
    if (r.method === "PATCH" && r.offset !== stands) astray.push({ ...r, stands });
    if ((r.method === "POST" && r.status === 201) || r.status === 204) stands = r.answer;
  }
  log(astray.length === 0, "(a) and the page carries on from there each time", { astray, requests: a });
  log(last && last.answer === large, "(a) the last PATCH completes the upload", last);
  await audit(browser, log, "uploaded", shots);

  // --- (b) a recording, cut with the network down, carries on after the page is reopened ------
  await browser.goto(home);
  await click("#record");
  must(
    await browser.waitForFunction(() => !document.getElementById("stop").disabled, null, STEP_TIMEOUT_MS),
    "(b) recording starts",
    await text("#record-status"),
  );
  await sleep(3200);
  await click("#stop");
  must(
    await browser.waitForFunction(() => !document.getElementById("send").disabled, null, STEP_TIMEOUT_MS),
    "(b) the recording is ready to upload",
    await text("#refusal"),
  );
  await browser.evaluate(() => (document.getElementById("title").value = "Recorded, then cut"));
  // Its size, from the page's "name · size" line, to cut about halfway.
  const shown = await text("#chosen-name");
  const kb = Number((/· ([\d.]+) KB$/.exec(shown) || [])[1]);
  must(kb > 10, "(b) the recording has some size", shown);
  proxy.arm(Math.floor((kb * 1000) / 2), { down: true });
  await click("#send");
  must(await cutsReach(3), "(b) the proxy cut the recording's upload", proxy.cuts());
  const broke = await browser.waitForFunction(
    () => document.getElementById("progress-text").textContent.includes("connection broke"),
    null,
    STEP_TIMEOUT_MS,
  );
  log(broke, "(b) the page says the connection broke and that it carries on", await text("#progress-text"));
  await audit(browser, log, "connection-broke", shots);
  await browser.goto("about:blank");
  proxy.up();
  await browser.goto(home);
  must(
    await browser.waitForFunction(
      () => !document.getElementById("restored").hidden && !document.getElementById("send").disabled,
      null,
      STEP_TIMEOUT_MS,
    ),
    "(b) the reopened page offers the recording again",
    await page(),
  );
  const kept = await browser.evaluate(async () => {
    // The recording as the page kept it (drafts.js), to compare with what the server stores.
    const db = await new Promise((resolve, reject) => {
      const request = indexedDB.open("voicebin", 1);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    const draft = await new Promise((resolve, reject) => {
      const request = db.transaction("drafts").objectStore("drafts").get("upload");
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    db.close();
    const bytes = await draft.blob.arrayBuffer();
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    return {
      size: bytes.byteLength,
      sha256: Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join(""),
      title: document.getElementById("title").value,
      notice: document.getElementById("restored").textContent,
    };
  });
  observed.recording = kept;
  log(
    kept.title === "Recorded, then cut" && /being uploaded when the page closed/.test(kept.notice),
    "(b) with its title, and says its upload carries on",
    kept,
  );
  await audit(browser, log, "reopened", shots);
  await click("#send");
  await uploaded("(b) the recording, reopened");
  observed.b = await requests();
  resumedAfterReopening("(b)", observed.b, kept.size);

  // --- (c) cut with the network down, the token refused meanwhile: sign in, then carry on -----
  const medium = readFileSync(config.medium).length;
  await browser.goto(home);
  await browser.setInputFiles("#file", config.medium);
  must(
    await browser.waitForFunction(() => !document.getElementById("send").disabled, null, STEP_TIMEOUT_MS),
    "(c) the file is ready to upload",
    await text("#refusal"),
  );
  await browser.evaluate(() => (document.getElementById("title").value = "Signed in again"));
  proxy.arm(Math.floor(medium / 2), { down: true });
  await click("#send");
  must(await cutsReach(4), "(c) the proxy cut the file's upload", proxy.cuts());
  // The token stops being accepted while the network is down (it expired, or was revoked).
  await browser.evaluate(() => {
    const s = JSON.parse(sessionStorage.getItem("voicebin.session"));
    sessionStorage.setItem("voicebin.session", JSON.stringify({ ...s, token: "no-longer-valid" }));
  });
  proxy.up();
  const toSignIn = await browser.waitForFunction(() => location.pathname === "/signin", null, STEP_TIMEOUT_MS * 2);
  must(toSignIn, "(c) the refused retry sends the person to sign in", await page());
  await browser.evaluate((value) => sessionStorage.setItem("voicebin.session", value), JSON.stringify(session));
  await browser.goto(home);
  must(
    await browser.waitForFunction(
      () => !document.getElementById("restored").hidden && !document.getElementById("send").disabled,
      null,
      STEP_TIMEOUT_MS,
    ),
    "(c) after signing in, the page offers the file again",
    await page(),
  );
  log((await browser.evaluate(() => document.getElementById("title").value)) === "Signed in again", "(c) with its title");
  await click("#send");
  await uploaded("(c) the file, after signing in");
  observed.c = await requests();
  resumedAfterReopening("(c)", observed.c, medium);
  observed.cuts = proxy.cuts();
});
