// The web app against hostile text, in a real browser (tests/browser/drivers.mjs):
//
//   node tests/browser/hostile.mjs <config.json> [chromium|firefox]
//
// config.json (written by tests/api/webapp_hostile.rs): { base, sessions: { alice, evil, mod },
// clips: { markup, url, long, emoji, evil }, texts (the markup strings), longTitle, link (a
// sign-in link for the account "linked"), upload (an audio file), artifacts }. Alice owns the
// first four clips, whose titles, descriptions and file names carry markup, a `javascript:`
// URL, 200- to 5000-character unbroken words, emoji and newlines; "evil" is an account named
// with markup, owning the last clip, which a moderator blocked with a hostile reason; the
// reports carry hostile notes.
//
// On My clips (every edit form and delete question open), Moderation (every history open),
// each clip's view page (as its owner, with the owner panel's form and question open, and
// signed out), its embed page, /docs, /privacy and /abuse?clip=<markup>, and the upload page
// after uploading with a hostile title: the markup shows as text, and no element, handler or
// script of it exists, no dialog opens (alert and friends are watched), no CSP violation
// happens, and nothing makes the page wider than the window. After signing in, a crafted
// return-to path never leaves the site; a sign-in link opened in a tab already on /signin
// (only the fragment changes) signs it in.
//
// `?as=<name>` in a page's address signs the tab in as that session first (`?as=nobody`: signed
// out); without it the tab keeps whatever session it has. Runs under tests/browser/harness.mjs
// (console errors, page errors, CSP violations and other sites fail it). Prints what it
// observed as JSON; exits non-zero on failure.

import { readFileSync } from "node:fs";
import path from "node:path";

import { BROWSERS } from "./drivers.mjs";
import { run } from "./harness.mjs";

const [configPath, browserName = "chromium"] = process.argv.slice(2);
if (!configPath || !BROWSERS.includes(browserName)) {
  console.error(`usage: node tests/browser/hostile.mjs <config.json> [${BROWSERS.join("|")}]`);
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, "utf8"));
const { base, clips } = config;
const STEP_TIMEOUT_MS = 15_000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const options = {
  timeoutMs: 110_000,
  // The signed-out view and embed pages of a blocked clip answer 404, which Chromium logs.
  allowConsoleErrors: [/status of 404 \(Not Found\)/],
};

await run("hostile text", browserName, new URL(base).origin, options, async ({ browser, check, observed }) => {
  const t0 = Date.now();
  const log = (ok, message, details) => {
    const said = details === undefined ? "" : ` ${JSON.stringify(details)}`.slice(0, 300);
    console.error(`[${((Date.now() - t0) / 1000).toFixed(1)} s] ${ok ? "ok" : "FAILED"}: ${message}${ok ? "" : said}`);
    return check(ok, message, details);
  };
  const must = (ok, message, details) => {
    if (!log(ok, message, details)) throw new Error(`cannot go on: ${message}`);
  };
  const waitFor = (fn, arg) => browser.waitForFunction(fn, arg, STEP_TIMEOUT_MS);
  /** Polls `fn(arg)` until it is truthy, across navigations (a wait the driver ends when the
   *  page it waits in goes away); its value, or false after the timeout. */
  const across = async (fn, arg) => {
    const end = Date.now() + STEP_TIMEOUT_MS;
    while (Date.now() < end) {
      try {
        const value = await browser.evaluate(fn, arg);
        if (value) return value;
      } catch {
        // A navigation in progress.
      }
      await sleep(150);
    }
    return false;
  };

  await browser.addInitScript(
    `(${(sessions) => {
      if (!location.protocol.startsWith("http")) return;
      const as = new URLSearchParams(location.search).get("as");
      if (as === "nobody") sessionStorage.removeItem("voicebin.session");
      else if (as) sessionStorage.setItem("voicebin.session", JSON.stringify(sessions[as]));
      // Anything that manages to run calls one of these, in the page's own realm.
      window.__dialogs = [];
      for (const name of ["alert", "confirm", "prompt", "print"]) {
        window[name] = (...args) => {
          window.__dialogs.push(`${name}(${args.map(String).join(", ")})`);
        };
      }
    }})(${JSON.stringify(config.sessions)});`,
  );

  /** The page as it is: anything hostile text could have made, and its width. */
  async function inspect(where) {
    await browser.settle(3000);
    const found = await browser.evaluate(() => {
      const drawn = [...document.querySelectorAll("img, svg, iframe, object, embed, frame, base, meta[http-equiv]")]
        .map((n) => n.outerHTML.slice(0, 100));
      const scripts = [...document.querySelectorAll("script")]
        .filter((s) => !s.src || new URL(s.src).pathname.indexOf("/static/") < 0)
        .map((s) => s.outerHTML.slice(0, 100));
      const handlers = [...document.querySelectorAll("*")].flatMap((n) =>
        [...n.attributes].filter((a) => /^on/i.test(a.name)).map((a) => `${n.tagName.toLowerCase()}[${a.name}]`),
      );
      const urls = [...document.querySelectorAll("[href], [src], [action]")]
        .map((n) => n.getAttribute("href") || n.getAttribute("src") || n.getAttribute("action"))
        .filter((u) => /^\s*javascript:/i.test(u));
      const wide = [...document.querySelectorAll("body *")]
        .filter((n) => n.getClientRects().length && n.scrollWidth > n.clientWidth + 1 && n.clientWidth > 0 && getComputedStyle(n).overflowX === "visible")
        .map((n) => `${n.tagName.toLowerCase()}${n.id ? `#${n.id}` : ""}${n.className ? `.${String(n.className).split(" ")[0]}` : ""}`)
        .slice(-3);
      return {
        drawn,
        scripts,
        handlers,
        urls,
        dialogs: window.__dialogs || [],
        // The harness's init script records this document's violations here.
        csp: window.__voicebinCsp || [],
        width: { page: document.documentElement.scrollWidth, window: window.innerWidth, wide },
      };
    });
    log(
      found.drawn.length + found.scripts.length + found.handlers.length + found.urls.length === 0,
      `${where}: no element, script, handler or javascript: URL made of hostile text`,
      found,
    );
    log(found.dialogs.length === 0, `${where}: no dialog`, found.dialogs);
    log(found.csp.length === 0, `${where}: no CSP violation`, found.csp);
    log(found.width.page <= found.width.window + 1, `${where}: nothing is wider than the window`, found.width);
    return found;
  }

  const shot = (name) => browser.screenshot(path.join(config.artifacts, `hostile-${name}-${browserName}.png`));
  const cardCount = (list) => browser.evaluate((l) => document.querySelectorAll(`${l} li.clip`).length, list);

  // --- My clips, every form and question open --------------------------------------------
  let res = await browser.goto(`${base}/clips?as=alice`);
  must(res.status === 200, "/clips answers 200", res.status);
  must(await waitFor(() => document.querySelectorAll("#clip-list li.clip").length === 4), "My clips lists the four", await cardCount("#clip-list"));
  const titles = await browser.evaluate(() => [...document.querySelectorAll("#clip-list li.clip h3")].map((h) => h.textContent));
  for (const text of [config.texts[0], config.texts[3], config.longTitle]) {
    log(titles.includes(text), `My clips shows the title ${JSON.stringify(text.slice(0, 40))} as text`, titles);
  }
  await browser.evaluate(() => {
    for (const card of document.querySelectorAll("#clip-list li.clip")) {
      [...card.querySelectorAll("button")].find((b) => b.textContent === "Edit").click();
      card.querySelector(".delete > button").click();
    }
  });
  await inspect("My clips");
  await shot("clips");

  res = await browser.goto(`${base}/clips?as=evil`);
  must(await waitFor(() => document.querySelectorAll("#clip-list li.clip").length === 1), "the markup-named account's clip is listed", await cardCount("#clip-list"));
  const evilPage = await browser.evaluate(() => ({
    name: document.getElementById("account-name").textContent,
    moderation: document.querySelector('#clip-list [data-fact^="moderation"]').textContent,
  }));
  log(evilPage.name === `Signed in as ${config.texts[4]}`, "the account name shows as text", evilPage.name);
  log(evilPage.moderation.includes(config.texts[0]), "the moderator's reason shows as text", evilPage.moderation);
  await inspect("My clips of the markup-named account");

  // --- Moderation, every history open ----------------------------------------------------
  res = await browser.goto(`${base}/moderation?as=mod`);
  must(await waitFor(() => !document.getElementById("queue").hidden), "Moderation shows the queue");
  await browser.evaluate(() => {
    document.getElementById("queue-state").value = "all";
    document.getElementById("queue-filter").requestSubmit();
  });
  must(await waitFor(() => document.querySelectorAll("#queue-list li.clip").length === 3), "all three reported clips are listed", await cardCount("#queue-list"));
  await browser.evaluate(() => {
    for (const b of document.querySelectorAll("#queue-list button[aria-controls^=history]")) b.click();
  });
  log(
    await waitFor(() => [...document.querySelectorAll("#queue-list .history")].every((h) => h.querySelector("ol"))),
    "every history loads",
  );
  const queue = await browser.evaluate(() => document.getElementById("queue-list").textContent);
  // The notes (markup), the reporter named with markup, the reason; not the unreported title.
  for (const text of config.texts.filter((t) => t !== config.texts[3])) {
    log(queue.includes(text), `Moderation shows ${JSON.stringify(text)} as text`);
  }
  await inspect("Moderation");
  await shot("moderation");

  // --- Each clip's view page (owner, signed out), embed page --------------------------------
  for (const [name, id] of Object.entries(clips)) {
    if (name === "evil") continue;
    res = await browser.goto(`${base}/${id}?as=alice`);
    log(res.status === 200, `${name}: the view page answers 200`, res.status);
    must(await waitFor(() => document.getElementById("owner-panel").dataset.ready === "true"), `${name}: the owner panel shows`);
    await browser.evaluate(() => {
      document.getElementById("owner-edit").click();
      document.querySelector("#owner-panel .delete > button").click();
    });
    const title = await browser.evaluate(() => ({ h1: document.getElementById("title").textContent, title: document.title }));
    const words = (t) => t.replace(/\s+/g, " ").trim();
    log(words(title.title).startsWith(words(title.h1)) && title.h1.trim() !== "", `${name}: the title shows as text`, title);
    await inspect(`${name}: view page with its owner panel`);
    if (name === "long") await shot("view-long");
    await browser.goto(`${base}/${id}?as=nobody`);
    await inspect(`${name}: view page signed out`);
    res = await browser.goto(`${base}/${id}/embed`);
    log(res.status === 200, `${name}: the embed page answers 200`, res.status);
    await inspect(`${name}: embed page`);
  }
  // A blocked clip's pages are not there for anyone without a token.
  res = await browser.goto(`${base}/${clips.evil}?as=nobody`);
  log(res.status === 404, "the blocked clip's view page is 404 signed out", res.status);
  await inspect("the blocked clip's view page");

  // --- Text pages -------------------------------------------------------------------------
  for (const page of ["/docs", "/privacy", `/abuse?clip=${encodeURIComponent(config.texts[1])}`]) {
    res = await browser.goto(`${base}${page}`);
    log(res.status === 200, `${page} answers 200`, res.status);
    await inspect(page);
  }
  log(
    (await browser.evaluate(() => document.getElementById("clip").value)) === config.texts[1],
    "/abuse?clip= prefills the form with the text as given",
  );

  // --- The return-to path after signing in stays on this site ------------------------------
  const crafted = [
    "//evil.example/",
    "/\\evil.example/",
    "/.//evil.example/",
    "/./\\evil.example/",
    "/%2e%2e//evil.example/",
    "/..//evil.example/",
    "javascript:alert(5)",
    "https://evil.example/",
    " //evil.example/",
    "/clips?q=x#y",
  ];
  res = await browser.goto(`${base}/signin?as=nobody`);
  const resolved = await browser.evaluate(async (paths) => {
    const session = await import(`${document.body.dataset.base}/static/app/session.js`);
    return paths.map((p) => {
      sessionStorage.setItem("voicebin.return-to", p);
      const to = session.takeReturnTo();
      return { stored: p, to, origin: new URL(to, location.href).origin };
    });
  }, crafted);
  const origin = new URL(base).origin;
  log(resolved.every((r) => r.origin === origin), "every crafted return-to resolves to this site", resolved);
  log(resolved[resolved.length - 1].to === "/clips?q=x#y", "a page of this site is returned to as stored", resolved[resolved.length - 1]);
  // And the whole way: the key form, then where the page goes.
  await browser.evaluate((key) => {
    sessionStorage.setItem("voicebin.return-to", "/.//evil.example/");
    document.getElementById("api-key").value = key;
    document.getElementById("key-form").requestSubmit();
  }, config.sessions.alice.token);
  const landed = await across(() => location.pathname === "/" && document.getElementById("account-name").textContent);
  log(landed, "signing in with a crafted return-to lands on this site's home page", await browser.evaluate(() => location.href));

  // --- A link opened in a tab already on /signin ------------------------------------------
  await browser.goto(`${base}/signin?as=nobody`);
  await browser.goto(`${base}/signin`);
  await browser.goto(config.link);
  const linked = await across(
    () => location.pathname === "/" && document.getElementById("account-name").textContent === "Signed in as linked",
  );
  log(linked, "a link opened in a tab on /signin (only the fragment changes) signs it in", await browser.evaluate(() => ({
    href: location.href,
    name: document.getElementById("account-name").textContent,
    error: document.getElementById("link-error") && document.getElementById("link-error").textContent,
  })));

  // --- The upload page's share link, after a hostile title --------------------------------
  await browser.setInputFiles("#file", config.upload);
  must(await waitFor(() => !document.getElementById("send").disabled), "the file is ready to upload");
  await browser.evaluate((title) => {
    document.getElementById("title").value = title;
    document.getElementById("send").click();
  }, `${config.texts[1]}${config.texts[0]}`);
  must(
    await browser.waitForFunction(() => document.getElementById("scan").dataset.scanState === "clean", null, 30_000),
    "the upload scans clean",
  );
  const share = await browser.evaluate(() => {
    const a = document.getElementById("share-link");
    return { href: a.getAttribute("href"), text: a.textContent };
  });
  log(share.href === share.text && new URL(share.href).origin === origin && /^\/[A-Za-z0-9_-]{16}$/.test(new URL(share.href).pathname), "the share link is the clip's view page, as text", share);
  await inspect("the upload page after uploading");
  observed.share = share;
});
