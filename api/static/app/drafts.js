// An unsent clip (a recording or a chosen file, with its title, description and download limit)
// kept in IndexedDB so that it survives a trip to /signin (the token expired mid-upload, or the
// person recorded before signing in) or a reload while a recording is being uploaded (its
// interrupted upload then carries on). One draft at a time; it is deleted once uploaded or
// discarded. IndexedDB stores Blobs as they are, so nothing is re-encoded.

const DB = "voicebin";
const STORE = "drafts";
const KEY = "upload";

function open() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function run(mode, fn) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = fn(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

/** Keeps `draft` ({ blob, name, recorded, key (its upload's resume key), title, description,
 *  downloadLimit, expiresIn, and `uploading` or `cancelled` when it was kept for those). */
export function saveDraft(draft) {
  return run("readwrite", (store) => store.put({ ...draft, savedAt: Date.now() }, KEY));
}

/** The kept draft, or null. */
export async function loadDraft() {
  try {
    return (await run("readonly", (store) => store.get(KEY))) || null;
  } catch {
    // No IndexedDB (a private window in some browsers): nothing was kept.
    return null;
  }
}

export async function clearDraft() {
  try {
    await run("readwrite", (store) => store.delete(KEY));
  } catch {
    // Nothing to forget.
  }
}
