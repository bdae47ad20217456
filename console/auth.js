// Sign-in: the OIDC authorization code flow with PKCE (S256), as a public client.
// The tokens live in sessionStorage only (gone when the tab closes); the verifier and state
// of a sign-in in progress too. `state` is checked on the way back and `code` leaves the
// address bar before anything else runs.

const SESSION = "nico-keys.session";
const PENDING = "nico-keys.pending";
const CALLBACK = "/console/callback";

let discovered = null;

async function json(url, options) {
  const response = await fetch(url, { cache: "no-store", ...options });
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return response.json();
}

/** The console's settings and the issuer's endpoints. */
export async function settings() {
  if (discovered) return discovered;
  const config = await json("/console/config.json");
  if (!config.issuer || !config.client_id) {
    throw new Error("Sign-in is not configured on this server (issuer or client id missing).");
  }
  const issuer = config.issuer.replace(/\/$/, "");
  const metadata = await json(`${issuer}/.well-known/openid-configuration`);
  discovered = { ...config, metadata };
  return discovered;
}

function base64url(bytes) {
  let text = "";
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function random(length) {
  return base64url(crypto.getRandomValues(new Uint8Array(length)));
}

function redirectUri() {
  return `${location.origin}${CALLBACK}`;
}

/** Leaves for the issuer's sign-in page; comes back to `returnTo`. */
export async function signIn(returnTo) {
  const { client_id, metadata } = await settings();
  const verifier = random(48);
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const state = random(24);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, returnTo }));
  const url = new URL(metadata.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id,
    redirect_uri: redirectUri(),
    scope: "openid",
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  }).toString();
  location.assign(url.toString());
}

/** Finishes a sign-in on the callback page; answers where to go next. */
export async function finishSignIn() {
  const params = new URLSearchParams(location.search);
  // The code and state leave the address bar (and the history) at once.
  history.replaceState(null, "", CALLBACK);
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
  sessionStorage.removeItem(PENDING);
  if (params.get("error")) {
    throw new Error(`Sign-in failed: ${params.get("error_description") || params.get("error")}`);
  }
  if (!pending || !params.get("state") || params.get("state") !== pending.state) {
    throw new Error("Sign-in failed: the answer does not belong to a sign-in started here. Try again.");
  }
  const { client_id, metadata } = await settings();
  const body = new URLSearchParams({
    grant_type: "authorization_code",
    code: params.get("code") || "",
    redirect_uri: redirectUri(),
    client_id,
    code_verifier: pending.verifier,
  });
  const response = await fetch(metadata.token_endpoint, { method: "POST", body, cache: "no-store" });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok || !answer.access_token) {
    throw new Error(`Sign-in failed: ${answer.error_description || answer.error || response.status}`);
  }
  const expiresAt = Date.now() + 1000 * (Number(answer.expires_in) || 3600);
  sessionStorage.setItem(SESSION, JSON.stringify({ token: answer.access_token, expiresAt }));
  return pending.returnTo || "/console/bots";
}

/** The access token, or null when signed out or expired. */
export function token() {
  const session = JSON.parse(sessionStorage.getItem(SESSION) || "null");
  if (!session || session.expiresAt <= Date.now() + 5000) return null;
  return session.token;
}

export function hasSession() {
  return sessionStorage.getItem(SESSION) !== null;
}

export function signOut() {
  sessionStorage.removeItem(SESSION);
  sessionStorage.removeItem(PENDING);
}
