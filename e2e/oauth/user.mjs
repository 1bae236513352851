// The person at the browser, for the node clients of the OAuth end-to-end
// test: follows an authorization URL through provider.mjs's development
// login and consent pages, signing in as `login`, and returns the URL the
// provider finally redirects to (the client's redirect URI with the code).
// Cookies are kept by name, which is all the provider's pages need; nothing
// here prints a code or a token.

const maxSteps = 20;

export async function signIn(authorizationUrl, login) {
  const start = new URL(authorizationUrl);
  const jar = new Map();
  let url = start;
  let init = { method: 'GET' };
  for (let step = 0; step < maxSteps; step++) {
    const headers = { ...(init.headers ?? {}) };
    if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair.indexOf('=');
      jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    if (res.status >= 300 && res.status < 400) {
      await res.arrayBuffer();
      const next = new URL(res.headers.get('location'), url);
      if (next.origin !== start.origin) return next.href; // back to the client
      url = next;
      init = { method: 'GET' };
      continue;
    }
    const body = await res.text();
    if (res.status !== 200) {
      throw new Error(`sign-in: ${init.method} ${url.pathname}: HTTP ${res.status}: ${errorOf(body)}`);
    }
    const form = formOf(body);
    if (!form) throw new Error(`sign-in: ${url.pathname}: no form on the page`);
    const fields = new URLSearchParams(form.hidden);
    if (fields.get('prompt') === 'login') {
      fields.set('login', login);
      fields.set('password', 'any');
    }
    url = new URL(form.action, url);
    init = {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: fields.toString(),
    };
  }
  throw new Error(`sign-in: more than ${maxSteps} steps`);
}

// formOf reads the first form of a provider page: its action and hidden
// inputs (the pages are oidc-provider's own, with double-quoted attributes).
function formOf(html) {
  const form = html.match(/<form\b[^>]*\baction="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i);
  if (!form) return null;
  const hidden = [];
  for (const input of form[2].matchAll(/<input\b[^>]*>/gi)) {
    const tag = input[0];
    if (!/\btype="hidden"/i.test(tag)) continue;
    const name = tag.match(/\bname="([^"]*)"/i);
    const value = tag.match(/\bvalue="([^"]*)"/i);
    if (name) hidden.push([htmlUnescape(name[1]), htmlUnescape(value ? value[1] : '')]);
  }
  return { action: htmlUnescape(form[1]), hidden };
}

function htmlUnescape(s) {
  return s.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');
}

function errorOf(html) {
  const m = html.match(/<pre>([\s\S]*?)<\/pre>/) ?? html.match(/<p>([\s\S]*?)<\/p>/);
  return m ? m[1].trim().slice(0, 300) : html.slice(0, 300);
}
