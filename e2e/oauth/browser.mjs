#!/usr/bin/env node
// BROWSER for the MCP Inspector CLI in the OAuth end-to-end test: the
// Inspector opens the authorization URL with `$BROWSER <url>` (through
// xdg-open); this plays the person (OIDC_LOGIN) through the provider's login
// and consent pages, then delivers the redirect to the Inspector's loopback
// callback, as a browser would. Failures go to OIDC_BROWSER_LOG (the
// Inspector runs its browser with no stdio).
import { appendFileSync } from 'node:fs';

import { signIn } from './user.mjs';

function log(line) {
  if (process.env.OIDC_BROWSER_LOG) appendFileSync(process.env.OIDC_BROWSER_LOG, `${line}\n`);
}

try {
  const login = process.env.OIDC_LOGIN;
  if (!login) throw new Error('OIDC_LOGIN is not set');
  const callback = await signIn(process.argv[2], login);
  const res = await fetch(callback);
  await res.arrayBuffer();
  log(`browser: signed in as ${login}; callback HTTP ${res.status}`);
  process.exit(res.ok ? 0 : 1);
} catch (err) {
  log(`browser: ${err.message}`);
  process.exit(1);
}
