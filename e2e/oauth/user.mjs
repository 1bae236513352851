// The person at the browser, for the node clients of the OAuth end-to-end
// test: follows an authorization URL through provider.mjs's development
// login and consent pages, signing in as `login`, and returns the URL the
// provider finally redirects to (the client's redirect URI with the code).
// Forms are read with parse5; cookies are kept by name, which is all the
// provider's pages need. Nothing here prints a code or a token.

import { parse } from 'parse5';

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

// formOf reads the first form of a page: its action and hidden inputs.
function formOf(html) {
  let form = null;
  const hidden = [];
  const walk = (node) => {
    if (node.tagName === 'form' && !form) form = node;
    if (form && node.tagName === 'input' && attr(node, 'type') === 'hidden' && attr(node, 'name')) {
      hidden.push([attr(node, 'name'), attr(node, 'value') ?? '']);
    }
    for (const child of node.childNodes ?? []) walk(child);
  };
  walk(parse(html));
  return form ? { action: attr(form, 'action') ?? '', hidden } : null;
}

function attr(node, name) {
  return node.attrs?.find((a) => a.name === name)?.value;
}

function errorOf(html) {
  const text = [];
  const walk = (node) => {
    if (node.nodeName === '#text') text.push(node.value);
    if (node.tagName === 'script' || node.tagName === 'style') return;
    for (const child of node.childNodes ?? []) walk(child);
  };
  walk(parse(html));
  return text.join(' ').replace(/\s+/g, ' ').trim().slice(0, 300);
}
