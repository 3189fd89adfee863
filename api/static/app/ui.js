// Small DOM helpers shared by the app's pages. Text always goes in as text (never as HTML).

export function $(selector, root = document) {
  return root.querySelector(selector);
}

/** el("button", { type: "button", class: "x", onclick: fn }, "Label", child...) */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      node.className = value;
    } else if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else if (value === true) {
      node.setAttribute(name, "");
    } else {
      node.setAttribute(name, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** Says `text` to screen readers through the page's polite live region. */
export function announce(text) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  // A fresh node after a tick, so the same words twice are announced twice.
  setTimeout(() => {
    region.textContent = text;
  }, 50);
}

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "";
  // Decimal units, as file managers show sizes and as the server words quotas ("500 MB").
  if (bytes < 1000) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatDuration(ms) {
  if (ms === null || ms === undefined) return "";
  const total = Math.round(ms / 1000);
  const minutes = Math.floor(total / 60);
  const seconds = String(total % 60).padStart(2, "0");
  return `${minutes}:${seconds}`;
}

/** A button that copies `text()` to the clipboard and says so. */
export function copyButton(label, text) {
  const button = el("button", { type: "button", class: "copy" }, label);
  button.addEventListener("click", async () => {
    const value = typeof text === "function" ? text() : text;
    try {
      await navigator.clipboard.writeText(value);
      announce("Copied to the clipboard");
      button.dataset.copied = "true";
    } catch {
      // No clipboard permission (or an insecure origin): select the text for a manual copy.
      window.prompt("Copy this:", value);
    }
  });
  return button;
}

/** The words for a Problem or other error, for a person. */
export function problemText(error) {
  if (error && error.problem) {
    const { title, detail } = error.problem;
    return detail ? `${title ? `${title}: ` : ""}${detail}` : title || error.message;
  }
  return (error && error.message) || String(error);
}
