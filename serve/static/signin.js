// Sign-in: a user name and password for a short-lived access token, kept in this
// page's memory only (never localStorage), refreshed a minute before it expires.
// While signed in, every request of the page to its own API carries the access token,
// unless the request names a token itself (an API key pasted in the Token box).

const session = { user: "", role: "", access: "", refresh: "", timer: 0 };
const $ = (id) => document.getElementById(id);
const plainFetch = window.fetch.bind(window);

function sameOrigin(url) {
  return new URL(url instanceof Request ? url.url : url, location.href).origin === location.origin;
}

window.fetch = (url, options = {}) => {
  if (session.access && sameOrigin(url)) {
    const headers = new Headers(options.headers || {});
    if (!headers.has("Authorization")) headers.set("Authorization", `Bearer ${session.access}`);
    options = { ...options, headers };
  }
  return plainFetch(url, options);
};

// EventSource sets no headers: /stream takes the access token as ?token= instead
const PlainEventSource = window.EventSource;
window.EventSource = class extends PlainEventSource {
  constructor(url, init) {
    const u = new URL(url, location.href);
    if (session.access && u.origin === location.origin && !u.searchParams.has("token")) {
      u.searchParams.set("token", session.access);
    }
    super(u.toString(), init);
  }
};

async function tokenCall(path, body) {
  const r = await plainFetch(path, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await r.json().catch(() => ({}));
  return { ok: r.ok, answer };
}

function show() {
  $("signin-state").textContent = session.user ? `${session.user} (${session.role})` : "";
  $("signin-button").hidden = Boolean(session.user);
  $("signout-button").hidden = !session.user;
}

function keep(answer) {
  session.access = answer.access_token;
  session.refresh = answer.refresh_token;
  session.role = answer.role || session.role;
  clearTimeout(session.timer);
  const inMs = Math.max(5, answer.expires_in - 60) * 1000;
  session.timer = setTimeout(renew, inMs);
  show();
}

function forget() {
  clearTimeout(session.timer);
  Object.assign(session, { user: "", role: "", access: "", refresh: "", timer: 0 });
  show();
}

async function renew() {
  const { ok, answer } = await tokenCall("/auth/refresh", { refresh_token: session.refresh });
  if (ok) keep(answer);
  else forget();
}

async function signIn(event) {
  event.preventDefault();
  const username = $("signin-user").value.trim();
  $("signin-error").textContent = "";
  const { ok, answer } = await tokenCall("/auth/login", {
    username, password: $("signin-password").value,
  });
  $("signin-password").value = "";
  if (!ok) {
    $("signin-error").textContent = answer.error_description || answer.error || "refused";
    return;
  }
  session.user = username;
  keep(answer);
  $("signin-dialog").close();
}

async function signOut() {
  const refresh = session.refresh;
  forget();
  if (refresh) await tokenCall("/auth/logout", { refresh_token: refresh });
}

$("signin-button").addEventListener("click", () => $("signin-dialog").showModal());
$("signin-cancel").addEventListener("click", () => $("signin-dialog").close());
$("signin-form").addEventListener("submit", signIn);
$("signout-button").addEventListener("click", signOut);
show();
