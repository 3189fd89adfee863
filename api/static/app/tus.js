// The tus client for resumable uploads: the vendored browser build of tus-js-client
// (`/static/vendor/tus/tus.min.js`, npm `tus-js-client` 4.3.1, MIT; refreshed by
// scripts/vendor-tus). It is a UMD bundle, which an ES module cannot import: a classic script
// element from this site (allowed by `script-src 'self'`) makes it `window.tus`. Loaded once,
// when a signed-in upload first needs it, so pages that never upload do not fetch it.
import { path, Problem } from "./session.js";

let loading = null;

/** Resolves to tus-js-client (`window.tus`); rejects with a Problem when it cannot be loaded
 *  (the next call tries again). */
export function loadTus() {
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = path("/static/vendor/tus/tus.min.js");
      const fail = () => {
        loading = null;
        script.remove();
        reject(new Problem(0, { title: "Network error", detail: "the uploader could not be loaded; check your connection and try again." }));
      };
      script.addEventListener("load", () => (globalThis.tus && globalThis.tus.isSupported ? resolve(globalThis.tus) : fail()));
      script.addEventListener("error", fail);
      document.head.append(script);
    });
  }
  return loading;
}
