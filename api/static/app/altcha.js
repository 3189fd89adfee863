// The ALTCHA widget for anonymous uploads: the vendored build for a strict CSP
// (`/static/vendor/altcha/`, npm `altcha` 3.2.2, MIT; refreshed by scripts/vendor-altcha), its
// stylesheet, and its PBKDF2 worker, registered from this site (the build makes no `blob:`
// workers). Loaded once, when a page first needs the widget.
import { path } from "./session.js";

let loading = null;

/** Loads the widget (defining `<altcha-widget>`); resolves once it can solve challenges. */
export function loadAltcha() {
  if (!loading) {
    loading = (async () => {
      const link = document.createElement("link");
      link.rel = "stylesheet";
      link.href = path("/static/vendor/altcha/altcha.css");
      document.head.append(link);
      await import(path("/static/vendor/altcha/altcha.min.js"));
      globalThis.$altcha.algorithms.set("PBKDF2/SHA-256", () => new Worker(path("/static/vendor/altcha/pbkdf2.js")));
    })();
  }
  return loading;
}

/** A new solution from `widget` (base64, for `x-altcha`). Throws when it cannot find one. */
export async function solve(widget) {
  await loadAltcha();
  await customElements.whenDefined("altcha-widget");
  let result = null;
  try {
    result = await widget.verify();
  } catch {
    result = null;
  }
  if (!result || !result.payload) {
    throw new Error("the anti-spam puzzle could not be solved in this browser; try again, or sign in to upload");
  }
  return result.payload;
}
