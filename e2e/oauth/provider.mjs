#!/usr/bin/env node
// A real OpenID provider for the OAuth end-to-end test (e2e/oauth_test.go):
// panva's oidc-provider on 127.0.0.1, with what the issue asks of a company's
// identity provider — dynamic client registration, PKCE (S256) required,
// resource indicators issuing JWT access tokens whose aud is the requested
// resource, a default resource for clients that send none (as Dify), and the
// development login and consent pages (any login name, any password).
//
//	OIDC_KEY_FILE=key.json OIDC_RESOURCES="http://127.0.0.1:8080/mcp ..." node provider.mjs [port]
//
// OIDC_KEY_FILE holds the private RSA signing key as a JWK (the test makes it,
// so it can mint tokens with the provider's own key). OIDC_RESOURCES lists the
// resources tokens may be issued for, the default first. The port (argument
// or OIDC_PORT) defaults to 0: any free one. When listening, the one line
// `issuer <URL>` goes to stdout; every request is logged to stderr as
// `request <METHOD> <path> <status>` (the test counts sign-in round trips
// from them), never with a query string, which carries codes.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider, { errors } from 'oidc-provider';

const keyFile = process.env.OIDC_KEY_FILE;
const resources = (process.env.OIDC_RESOURCES ?? '').split(/\s+/).filter(Boolean);
if (!keyFile || resources.length === 0) {
  console.error('provider.mjs: set OIDC_KEY_FILE (a private RSA JWK) and OIDC_RESOURCES (the default resource first)');
  process.exit(2);
}
const signingKey = JSON.parse(readFileSync(keyFile, 'utf8'));
const port = Number(process.argv[2] ?? process.env.OIDC_PORT ?? 0);
const scope = process.env.OIDC_SCOPE ?? 'aipaint';

// The people: anyone may sign in; the login name is the subject, and the
// mailbox <login>@example.com is theirs (verified).
function claimsOf(login) {
  return { sub: login, email: `${login}@example.com`, email_verified: true, preferred_username: login };
}

let handler = (_req, res) => { res.statusCode = 503; res.end(); };
const server = createServer((req, res) => {
  res.on('finish', () => {
    console.error(`request ${req.method} ${req.url.split('?')[0]} ${res.statusCode}`);
  });
  handler(req, res);
});

server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    clients: [],
    scopes: ['openid', 'offline_access', scope],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['preferred_username'] },
    async findAccount(_ctx, id) {
      return { accountId: id, async claims() { return claimsOf(id); } };
    },
    pkce: { required: () => true },
    ttl: {
      AccessToken: 3600, AuthorizationCode: 60, Grant: 3600, Interaction: 600, RefreshToken: 86400, Session: 3600,
    },
    features: {
      devInteractions: { enabled: true },
      registration: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // A client that names no resource gets the default one; at the
        // token endpoint, the one the grant was for.
        defaultResource: (_ctx, _client, oneOf) => (oneOf ? oneOf[0] : resources[0]),
        useGrantedResource: () => true,
        getResourceServerInfo(_ctx, indicator) {
          if (!resources.includes(indicator)) throw new errors.InvalidTarget();
          return {
            scope,
            audience: indicator,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    // The resource server matches people by their verified email too.
    async extraTokenClaims(_ctx, token) {
      if (token.kind !== 'AccessToken' || !token.accountId) return undefined;
      const { email, email_verified: verified } = claimsOf(token.accountId);
      return { email, email_verified: verified };
    },
  });
  handler = provider.callback();
  console.log(`issuer ${issuer}`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
