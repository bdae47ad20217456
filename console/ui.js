// Small DOM helpers: elements are built with text nodes only (never innerHTML), so nothing the
// API returns can become markup.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

const announcer = () => document.getElementById("announce");

/** Says `text` through the polite live region. */
export function announce(text) {
  const region = announcer();
  region.textContent = "";
  setTimeout(() => { region.textContent = text; }, 50);
}

const relative = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
const absolute = new Intl.DateTimeFormat("en", { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" });

export function formatAbsolute(iso) {
  return `${absolute.format(new Date(iso))} UTC`;
}

export function formatRelative(iso, now = Date.now()) {
  const seconds = (new Date(iso).getTime() - now) / 1000;
  const units = [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600], ["minute", 60]];
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size) return relative.format(Math.round(seconds / size), unit);
  }
  return relative.format(Math.round(seconds), "second");
}

/** A time shown as "in 30 days" with the absolute date beside it. */
export function when(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  return h("time", { datetime: iso, title: formatAbsolute(iso) },
    formatRelative(iso), h("br"), h("span", { class: "muted" }, formatAbsolute(iso)));
}

export function badge(status) {
  return h("span", { class: `badge ${status}` }, status);
}

export function loading(text = "Loading…") {
  return h("p", { role: "status", "aria-busy": "true" }, text);
}

export function errorBox(error) {
  return h("p", { class: "error", role: "alert" }, error.message || String(error));
}

export function table(caption, headers, rows) {
  // Each cell names its column, for the stacked layout of narrow screens (app.css).
  for (const row of rows) [...row.children].forEach((cell, i) => cell.setAttribute("data-label", headers[i]));
  return h("div", { class: "table-wrap" },
    h("table", {},
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, headers.map((name) => h("th", { scope: "col" }, name)))),
      h("tbody", {}, rows)));
}

/**
 * A modal dialog. `dismissable: false` ignores Escape (and a modal <dialog> never closes on an
 * outside click): the copy-once dialog closes only through its own button.
 */
export function dialog(title, body, { dismissable = true, onClose } = {}) {
  const id = `dialog-${Math.random().toString(36).slice(2)}`;
  const element = h("dialog", { "aria-labelledby": id }, h("h2", { id }, title), body);
  const opener = document.activeElement;
  element.addEventListener("cancel", (event) => {
    if (!dismissable) event.preventDefault();
  });
  element.addEventListener("close", () => {
    element.remove();
    if (onClose) onClose();
    if (opener && opener.isConnected) opener.focus();
  });
  document.body.append(element);
  element.showModal();
  return element;
}
