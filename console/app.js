// The console: one page per path under /console/, rendered from the management API.
import { finishSignIn, hasSession, settings, signIn, signOut } from "./auth.js";
import { ApiError, SessionExpired, all, api } from "./api.js";
import { announce, badge, dialog, errorBox, formatAbsolute, h, loading, table, when } from "./ui.js";

const main = document.getElementById("main");
const DAY = 86400000;
let me = null;
let catalog = null;

function go(path) {
  history.pushState(null, "", path);
  route();
}

function show(...children) {
  main.replaceChildren(...children);
}

function title(text) {
  document.title = `${text} · nico-keys console`;
  return h("h1", {}, text);
}

/** Turns a failure into its state: "sign in again" for an expired session, else the message. */
function failed(error, where = main) {
  if (error instanceof SessionExpired) {
    // Whatever was on screen (a shown key included) goes; the page itself is kept for after.
    for (const open of document.querySelectorAll("dialog")) open.remove();
    show(title("Session expired"),
      h("p", {}, "Your session has expired. Sign in again to continue on this page."),
      h("button", { type: "button", class: "primary", onclick: () => signIn(location.pathname + location.search) }, "Sign in again"));
    return;
  }
  where.replaceChildren(errorBox(error));
}

async function account() {
  if (!me) [me, catalog] = await Promise.all([api("GET", "/v1/me"), api("GET", "/v1/catalog")]);
  return me;
}

// ---------------------------------------------------------------------------------------------
// Signed out, callback, account

async function signedOut(message) {
  document.getElementById("nav").hidden = true;
  show(title("Sign in"),
    message ? h("p", { class: "error", role: "alert" }, message) : null,
    h("p", {}, "Manage the API keys of your bot users. Sign in with your organisation's account."),
    h("button", { type: "button", class: "primary", onclick: () => signIn(location.pathname === "/console/callback" ? "/console/bots" : location.pathname + location.search).catch((e) => failed(e)) }, "Sign in"));
}

async function accountPage() {
  const who = await account();
  const copy = async () => {
    await navigator.clipboard.writeText(who.sub);
    announce("Copied");
  };
  show(title("Account"),
    h("p", {}, "Give your account id to a team owner: they create bot users for it."),
    h("dl", {},
      h("dt", {}, "Account id"), h("dd", {}, h("code", { id: "account-id" }, who.sub), " ",
        h("button", { type: "button", onclick: copy, "aria-label": "Copy account id" }, "Copy")),
      h("dt", {}, "Name"), h("dd", {}, who.display_name || "—"),
      h("dt", {}, "Team"), h("dd", {}, who.team_id),
      h("dt", {}, "Role"), h("dd", {}, who.role || (who.is_owner ? "owner" : "member"))));
}

// ---------------------------------------------------------------------------------------------
// Bot users

function scopeBoxes(legend, scopes, checked) {
  const described = (scope) => catalog.scopes.find((s) => s.scope === scope)?.description;
  return h("fieldset", {}, h("legend", {}, legend),
    scopes.map((scope) => h("div", {},
      h("label", {}, h("input", { type: "checkbox", name: "scope", value: scope, checked: checked.includes(scope) }), " ", scope,
        described(scope) ? h("span", { class: "muted" }, ` — ${described(scope)}`) : null))));
}

function chosenScopes(form) {
  return [...form.querySelectorAll('input[name="scope"]:checked')].map((box) => box.value);
}

/** Shows a form's failure at its top (the API's message names the field). */
function formError(form) {
  return (error) => {
    if (error instanceof SessionExpired) return failed(error);
    let box = form.querySelector(".error");
    if (!box) {
      box = h("p", { class: "error", role: "alert" });
      form.prepend(box);
    }
    box.textContent = error.message;
  };
}

function botForm(bot, onDone) {
  const all = catalog.scopes.map((s) => s.scope);
  const form = h("form", {},
    h("div", { class: "field" }, h("label", { for: "bot-name" }, "Name"),
      h("input", { id: "bot-name", name: "name", required: true, maxlength: catalog.limits.name_max_chars, value: bot ? bot.name : "" })),
    h("div", { class: "field" }, h("label", { for: "bot-account" }, "Account id"),
      h("input", { id: "bot-account", name: "account", required: true, value: bot ? bot.account : "" })),
    bot ? h("div", {}, h("label", {}, h("input", { type: "checkbox", name: "revoke_keys", checked: true }),
      " If the account changes, revoke the bot user's working keys")) : null,
    scopeBoxes("Scopes (the most its keys may have)", all, bot ? bot.scopes : []),
    h("div", { class: "row" },
      h("button", { type: "submit", class: "primary" }, bot ? "Save" : "Create bot user"),
      h("button", { type: "button", value: "cancel", onclick: (e) => e.target.closest("dialog").close() }, "Cancel")));
  const showError = formError(form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: form.elements.name.value, account: form.elements.account.value.trim(), scopes: chosenScopes(form) };
    try {
      if (bot) {
        const changes = {};
        if (body.name !== bot.name) changes.name = body.name;
        if (body.account !== bot.account) {
          changes.account = body.account;
          changes.revoke_keys = form.elements.revoke_keys.checked;
        }
        if (body.scopes.join() !== bot.scopes.join()) changes.scopes = body.scopes;
        await api("PATCH", `/v1/bots/${encodeURIComponent(bot.id)}`, changes);
      } else {
        await api("POST", "/v1/bots", body);
      }
      form.closest("dialog").close();
      announce(bot ? "Bot user saved" : "Bot user created");
      onDone();
    } catch (error) {
      showError(error);
    }
  });
  return form;
}

async function botsPage() {
  const who = await account();
  const list = h("div", {}, loading());
  const reload = () => botsPage().catch((e) => failed(e));
  show(title("Bot users"),
    who.is_owner
      ? h("div", { class: "toolbar" }, h("button", { type: "button", class: "primary", onclick: () => dialog("Create bot user", botForm(null, reload)) }, "Create bot user"))
      : h("p", {}, "The bot users a team owner created for your account."),
    list);
  const bots = await all("/v1/bots");
  if (!bots.length) {
    list.replaceChildren(h("p", {}, who.is_owner ? "No bot users yet. Create one for a person's account." : "No bot users for your account yet. Give your account id (Account page) to a team owner."));
    return;
  }
  const rows = bots.map((bot) => h("tr", {},
    h("td", {}, h("a", { href: `/console/bots/${encodeURIComponent(bot.id)}`, "aria-label": `Security of ${bot.name}` }, bot.name)),
    h("td", {}, h("code", {}, bot.account)),
    h("td", {}, bot.scopes.join(", ")),
    h("td", {}, when(bot.created_at)),
    h("td", {}, h("div", { class: "row" },
      h("a", { href: `/console/bots/${encodeURIComponent(bot.id)}` }, "Security"),
      who.is_owner ? h("button", { type: "button", onclick: () => dialog(`Edit ${bot.name}`, botForm(bot, reload)) }, "Edit") : null,
      who.is_owner ? h("button", { type: "button", class: "danger", onclick: () => deleteBot(bot, reload) }, "Delete") : null))));
  list.replaceChildren(table("Bot users", ["Name", "Account", "Scopes", "Created", "Actions"], rows));
}

function deleteBot(bot, onDone) {
  const box = h("div", {});
  const confirm = dialog(`Delete ${bot.name}?`, [
    h("p", {}, `Deleting "${bot.name}" revokes all of its keys now. This cannot be undone.`), box,
    h("div", { class: "row" },
      h("button", { type: "button", class: "danger primary", onclick: async () => {
        try {
          await api("DELETE", `/v1/bots/${encodeURIComponent(bot.id)}`);
          confirm.close();
          announce("Bot user deleted");
          onDone();
        } catch (error) { failed(error, box); }
      } }, "Delete bot user"),
      h("button", { type: "button", onclick: () => confirm.close() }, "Cancel"))]);
}

// ---------------------------------------------------------------------------------------------
// Security page of a bot user

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

function createKeyForm(bot, onIssued) {
  const maxDays = catalog.limits.max_key_lifetime_days;
  const presets = [7, 30, 60, 90].filter((days) => days <= maxDays);
  const date = h("input", { id: "key-date", type: "date", min: isoDay(new Date(Date.now() + DAY)), max: isoDay(new Date(Date.now() + maxDays * DAY)), "aria-describedby": "key-expiry" });
  const dateField = h("div", { class: "field hidden" }, h("label", { for: "key-date" }, "Expiry date"), date);
  const expires = h("select", { id: "key-expires", name: "expires", "aria-describedby": "key-expiry" },
    presets.map((days) => h("option", { value: String(days), selected: days === 30 }, `${days} days`)),
    h("option", { value: "custom" }, "Custom date"));
  const shown = h("p", { id: "key-expiry", class: "muted" });
  const instant = () => {
    if (expires.value === "custom") {
      if (!date.value) return null;
      return new Date(`${date.value}T00:00:00.000Z`);
    }
    return new Date(Date.now() + Number(expires.value) * DAY);
  };
  const refresh = () => {
    dateField.classList.toggle("hidden", expires.value !== "custom");
    const at = instant();
    shown.textContent = at ? `Expires ${formatAbsolute(at.toISOString())}` : "Pick a date.";
  };
  expires.addEventListener("change", refresh);
  date.addEventListener("input", refresh);
  const form = h("form", {},
    h("div", { class: "field" }, h("label", { for: "key-name" }, "Name"),
      h("input", { id: "key-name", name: "name", required: true, autocomplete: "off", maxlength: catalog.limits.name_max_chars })),
    h("div", { class: "field" }, h("label", { for: "key-expires" }, "Expires"), expires), dateField, shown,
    scopeBoxes("Scopes", bot.scopes, bot.scopes.length === 1 ? bot.scopes : []),
    h("div", { class: "row" },
      h("button", { type: "submit", class: "primary" }, "Create key"),
      h("button", { type: "button", onclick: (e) => e.target.closest("dialog").close() }, "Cancel")));
  const showError = formError(form);
  refresh();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const at = instant();
    if (!at) return showError(new Error("Expires: pick a date."));
    if (!chosenScopes(form).length) return showError(new Error("Scopes: choose at least one."));
    try {
      const issued = await api("POST", `/v1/bots/${encodeURIComponent(bot.id)}/keys`,
        { name: form.elements.name.value, expires_at: at.toISOString(), scopes: chosenScopes(form) });
      form.closest("dialog").close();
      onIssued(issued);
    } catch (error) {
      showError(error);
    }
  });
  return form;
}

/**
 * The copy-once dialog. The key is held by this dialog's field only; "I have saved this key"
 * empties the field and removes the dialog, so nothing of it stays in the page.
 */
function showKey(issued, onSaved) {
  let secret = issued.token;
  issued.token = undefined;
  const field = h("input", { id: "new-key", class: "key", readonly: true, value: secret, "aria-describedby": "key-warning" });
  const exportLine = h("pre", {}, h("code", {}, `export NICO_API_KEY="${secret}"`));
  secret = null;
  const copy = async () => {
    await navigator.clipboard.writeText(field.value);
    announce("Copied");
  };
  const done = h("button", { type: "button", class: "primary", onclick: () => {
    field.value = "";
    exportLine.remove();
    box.close();
  } }, "I have saved this key");
  const box = dialog("Copy your new API key", [
    h("p", {}, `The key "${issued.key.name}" is shown only now. Copy it immediately.`),
    h("div", { class: "field" }, h("label", { for: "new-key" }, "API key"), h("div", { class: "row" }, field,
      h("button", { type: "button", onclick: copy }, "Copy"))),
    h("p", {}, "To use it in a shell:"), exportLine,
    h("p", { id: "key-warning", class: "warning" }, "Store it securely, for example in a password manager or a secret store. Never commit it to a repository."),
    h("div", { class: "row" }, done)], { dismissable: false, onClose: () => { field.value = ""; onSaved(); } });
  field.focus();
  field.select();
}

async function securityPage(botId) {
  await account();
  const bot = await api("GET", `/v1/bots/${encodeURIComponent(botId)}`);
  let showInactive = false;
  const list = h("div", {}, loading("Loading keys…"));
  const toggle = h("input", { id: "show-inactive", type: "checkbox", onchange: () => { showInactive = toggle.checked; render(); } });
  let keys = [];
  const reload = async () => {
    try {
      keys = await all(`/v1/bots/${encodeURIComponent(bot.id)}/keys`);
      render();
    } catch (error) { failed(error, list); }
  };
  const issuedThen = (issued) => showKey(issued, reload);
  const create = h("button", { type: "button", class: "primary", onclick: () => dialog("Create API Key", createKeyForm(bot, issuedThen)) }, "Create API Key");
  function render() {
    const order = { active: 0, expired: 1, revoked: 2 };
    const shown = keys.filter((key) => showInactive || key.status === "active")
      .sort((a, b) => order[a.status] - order[b.status] || b.created_at.localeCompare(a.created_at));
    if (!shown.length) {
      list.replaceChildren(h("p", {}, keys.length ? "No active keys. Show inactive to see the others." : "No keys yet. Create one with Create API Key."));
      return;
    }
    const hasLastUsed = keys.some((key) => "last_used_at" in key);
    const rows = shown.map((key) => h("tr", {},
      h("th", { scope: "row" }, key.name),
      h("td", {}, h("code", {}, key.hint)),
      h("td", {}, key.scopes.join(", ")),
      h("td", {}, when(key.created_at), h("br"), h("span", { class: "muted" }, `by ${key.created_by}`)),
      hasLastUsed ? h("td", {}, key.last_used_at ? when(key.last_used_at) : "Never") : null,
      h("td", {}, when(key.expires_at)),
      h("td", {}, badge(key.status)),
      h("td", {}, key.status === "active" ? h("div", { class: "row" },
        h("button", { type: "button", onclick: () => rotateKey(bot, key, issuedThen) }, "Rotate"),
        h("button", { type: "button", class: "danger", onclick: () => revokeKey(bot, key, reload) }, "Revoke")) : null)));
    const headers = ["Name", "Hint", "Scopes", "Created", ...(hasLastUsed ? ["Last used"] : []), "Expires", "Status", "Actions"];
    list.replaceChildren(table(`Keys of ${bot.name}`, headers, rows));
  }
  show(h("p", {}, h("a", { href: "/console/bots" }, "Bot users")), title(`Security: ${bot.name}`),
    h("p", { class: "muted" }, `Scopes its keys may have: ${bot.scopes.join(", ")}`),
    h("div", { class: "toolbar" }, create, h("label", {}, toggle, " Show inactive")), list);
  await reload();
}

function revokeKey(bot, key, onDone) {
  const box = h("div", {});
  const confirm = dialog(`Revoke ${key.name}?`, [
    h("p", {}, `Revoking "${key.name}" (${key.hint}) is immediate and irreversible. The CLI and any integration using this key will get authentication errors.`), box,
    h("div", { class: "row" },
      h("button", { type: "button", class: "danger primary", onclick: async () => {
        try {
          await api("POST", `/v1/bots/${encodeURIComponent(bot.id)}/keys/${encodeURIComponent(key.id)}/revoke`);
          confirm.close();
          announce(`${key.name} revoked`);
          onDone();
        } catch (error) { failed(error, box); }
      } }, "Revoke key"),
      h("button", { type: "button", onclick: () => confirm.close() }, "Cancel"))]);
}

function rotateKey(bot, key, onIssued) {
  const box = h("div", {});
  const grace = Math.round(catalog.limits.rotation_grace_seconds / 3600);
  const confirm = dialog(`Rotate ${key.name}?`, [
    h("p", {}, `A new key replaces "${key.name}"; the old one keeps working for up to ${grace} hours, then stops.`), box,
    h("div", { class: "row" },
      h("button", { type: "button", class: "primary", onclick: async () => {
        try {
          const issued = await api("POST", `/v1/bots/${encodeURIComponent(bot.id)}/keys/${encodeURIComponent(key.id)}/rotate`, {});
          confirm.close();
          onIssued(issued);
        } catch (error) { failed(error, box); }
      } }, "Rotate key"),
      h("button", { type: "button", onclick: () => confirm.close() }, "Cancel"))]);
}

// ---------------------------------------------------------------------------------------------
// My keys, audit

function filterSelect(id, label, options, value) {
  return h("div", { class: "field" }, h("label", { for: id }, label),
    h("select", { id, name: id }, options.map(([v, text]) => h("option", { value: v, selected: v === value }, text))));
}

function unavailable(error, what) {
  return error instanceof ApiError && error.status === 404
    ? h("p", {}, `${what} is not available on this server yet.`)
    : errorBox(error);
}

async function myKeysPage() {
  await account();
  const params = new URLSearchParams(location.search);
  const form = h("form", { class: "toolbar" },
    filterSelect("status", "Status", [["", "Any"], ["active", "Active"], ["expired", "Expired"], ["revoked", "Revoked"]], params.get("status") || ""),
    filterSelect("expiring_within", "Expiring within", [["", "Any time"], ["7d", "7 days"], ["30d", "30 days"]], params.get("expiring_within") || ""),
    filterSelect("unused_for", "Unused for", [["", "Any"], ["30d", "30 days"], ["90d", "90 days"]], params.get("unused_for") || ""),
    h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    for (const name of ["status", "expiring_within", "unused_for"]) if (form.elements[name].value) query.set(name, form.elements[name].value);
    go(`/console/keys${query.toString() ? `?${query}` : ""}`);
  });
  const list = h("div", {}, loading("Loading keys…"));
  show(title("My keys"), form, list);
  const query = new URLSearchParams();
  for (const name of ["status", "expiring_within", "unused_for"]) if (params.get(name)) query.set(name, params.get(name));
  let keys;
  try {
    keys = await all(`/v1/keys?${query}`);
  } catch (error) {
    if (error instanceof SessionExpired) throw error;
    list.replaceChildren(unavailable(error, "The list of all your keys"));
    return;
  }
  if (!keys.length) {
    list.replaceChildren(h("p", {}, "No keys match."));
    return;
  }
  const rows = keys.map((key) => h("tr", {},
    h("th", { scope: "row" }, key.name),
    h("td", {}, h("a", { href: `/console/bots/${encodeURIComponent(key.bot_id)}` }, key.bot_name || key.bot_id)),
    h("td", {}, h("code", {}, key.hint)),
    h("td", {}, key.scopes.join(", ")),
    h("td", {}, key.last_used_at ? when(key.last_used_at) : "Never"),
    h("td", {}, when(key.expires_at)),
    h("td", {}, badge(key.status))));
  list.replaceChildren(table("My keys", ["Name", "Bot user", "Hint", "Scopes", "Last used", "Expires", "Status"], rows));
}

async function auditPage() {
  await account();
  const params = new URLSearchParams(location.search);
  const since = params.get("since") || "7d";
  const form = h("form", { class: "toolbar" },
    filterSelect("since", "Since", [["1d", "1 day"], ["7d", "7 days"], ["30d", "30 days"], ["90d", "90 days"]], since),
    h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    go(`/console/audit?since=${encodeURIComponent(form.elements.since.value)}`);
  });
  const list = h("div", {}, loading("Loading events…"));
  show(title("Audit"), form, list);
  let events;
  try {
    events = await all(`/v1/audit?since=${encodeURIComponent(since)}`);
  } catch (error) {
    if (error instanceof SessionExpired) throw error;
    list.replaceChildren(unavailable(error, "The audit trail"));
    return;
  }
  if (!events.length) {
    list.replaceChildren(h("p", {}, "No events in this period."));
    return;
  }
  const rows = events.map((event) => h("tr", {},
    h("td", {}, when(event.at)), h("td", {}, event.action), h("td", {}, event.actor),
    h("td", {}, event.bot_name || event.bot_id), h("td", {}, event.key_name || "—"),
    h("td", {}, event.reason || "—"), h("td", {}, event.source_ip || "—")));
  list.replaceChildren(table("Audit events", ["When", "Action", "Actor", "Bot user", "Key", "Reason", "Source IP"], rows));
}

// ---------------------------------------------------------------------------------------------
// Routing

async function route() {
  const path = location.pathname.replace(/\/+$/, "") || "/console";
  for (const open of document.querySelectorAll("dialog")) open.remove();
  try {
    if (path === "/console/callback") {
      const next = await finishSignIn();
      history.replaceState(null, "", next);
      return route();
    }
    if (!hasSession()) return signedOut();
    document.getElementById("nav").hidden = false;
    for (const link of document.querySelectorAll("nav a")) {
      if (path.startsWith(link.getAttribute("href"))) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    show(loading());
    const bot = path.match(/^\/console\/bots\/([^/]+)$/);
    if (bot) await securityPage(decodeURIComponent(bot[1]));
    else if (path === "/console/keys") await myKeysPage();
    else if (path === "/console/audit") await auditPage();
    else if (path === "/console/account") await accountPage();
    else if (path === "/console" || path === "/console/bots") {
      if (path === "/console") history.replaceState(null, "", "/console/bots");
      await botsPage();
      document.querySelector('nav a[href="/console/bots"]').setAttribute("aria-current", "page");
    } else show(title("Not found"), h("p", {}, "This page does not exist. "), h("a", { href: "/console/bots" }, "Bot users"));
    main.focus({ preventScroll: true });
  } catch (error) {
    if (path === "/console/callback") return signedOut(error.message);
    failed(error);
  }
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[href^='/console/']");
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  go(link.getAttribute("href"));
});
window.addEventListener("popstate", route);
document.getElementById("sign-out").addEventListener("click", () => {
  signOut();
  me = null;
  catalog = null;
  history.pushState(null, "", "/console/bots");
  signedOut();
});
settings().catch(() => {});
route();
