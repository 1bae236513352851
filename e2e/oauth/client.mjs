#!/usr/bin/env node
// The official TypeScript SDK's client in the OAuth end-to-end test: finds
// the server's authorization server by itself (RFC 9728), registers
// dynamically, sends the person (the login argument) through the provider's
// pages (user.mjs), finishes with transport.finishAuth(code), reconnects,
// and calls list_styles and a sandbox generate_image.
//
//	node client.mjs <MCP URL> <login>
//
// Prints one JSON object on stdout (results only: never a code or a token).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

import { signIn } from './user.mjs';

const [mcpURL, login] = process.argv.slice(2);
if (!mcpURL || !login) {
  console.error('usage: node client.mjs <MCP URL> <login>');
  process.exit(2);
}

// An in-memory OAuthClientProvider whose "browser" is user.mjs: the
// redirect is followed at once, and the code kept for finishAuth.
class Provider {
  #client;
  #tokens;
  #verifier;
  code;
  get redirectUrl() { return 'http://127.0.0.1:9/callback'; } // never listened on: the redirect is caught
  get clientMetadata() {
    return {
      client_name: 'aipaint-e2e-typescript-sdk',
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  clientInformation() { return this.#client; }
  saveClientInformation(info) { this.#client = info; }
  tokens() { return this.#tokens; }
  saveTokens(tokens) { this.#tokens = tokens; }
  saveCodeVerifier(v) { this.#verifier = v; }
  codeVerifier() { return this.#verifier; }
  async redirectToAuthorization(url) {
    const back = new URL(await signIn(url.href, login));
    if (back.searchParams.get('error')) {
      throw new Error(`authorization refused: ${back.searchParams.get('error')}`);
    }
    this.code = back.searchParams.get('code');
  }
}

function textOf(result) {
  return (result.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
}

const provider = new Provider();
const connect = async () => {
  const client = new Client({ name: 'aipaint-e2e-typescript-sdk', version: '0.0.1' });
  const transport = new StreamableHTTPClientTransport(new URL(mcpURL), { authProvider: provider });
  await client.connect(transport);
  return { client, transport };
};

const started = performance.now();
let session;
try {
  session = await connect();
} catch (err) {
  if (!(err instanceof UnauthorizedError) || !provider.code) throw err;
  const transport = new StreamableHTTPClientTransport(new URL(mcpURL), { authProvider: provider });
  await transport.finishAuth(provider.code);
  session = await connect();
}
const signInMillis = performance.now() - started;
const { client } = session;

const out = { signInMillis };
const styles = await client.callTool({ name: 'list_styles', arguments: {} });
out.listStyles = { isError: !!styles.isError, text: textOf(styles) };
const gen = await client.callTool({ name: 'generate_image', arguments: { text: `${login} 的 TypeScript 熊猫`, wait_seconds: 20 } });
out.generate = { isError: !!gen.isError, text: textOf(gen), structured: gen.structuredContent ?? null };
await client.close();
console.log(JSON.stringify(out));
