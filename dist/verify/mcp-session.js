#!/usr/bin/env node
// A minimal MCP client over stdio (newline-delimited JSON-RPC), written by
// hand so the check depends on nothing but Node: it starts the command after
// "--", initializes, lists the tools and draws one sandbox image.
//
//   node mcp-session.js [--label L] [--out-dir DIR] [--no-generate] [--stop-with SIGTERM] -- COMMAND ARGS...
//
// It fails (exit 1) when stdout carries anything but JSON-RPC, when a tool is
// missing, or when generate_image does not finish with an image. It prints
// the time to the first answer (initialize) on stderr.
"use strict";

const { spawn } = require("child_process");
const fs = require("fs");

const argv = process.argv.slice(2);
const sep = argv.indexOf("--");
if (sep < 0 || sep === argv.length - 1) {
  console.error("usage: mcp-session.js [--label L] [--out-dir DIR] [--no-generate] -- COMMAND ARGS...");
  process.exit(2);
}
const opts = argv.slice(0, sep);
const [cmd, ...args] = argv.slice(sep + 1);
const label = opts.includes("--label") ? opts[opts.indexOf("--label") + 1] : cmd;
const outDir = opts.includes("--out-dir") ? opts[opts.indexOf("--out-dir") + 1] : "";
const generate = !opts.includes("--no-generate");
// --stop-with SIG: end with that signal instead of closing stdin; the server
// (through any launcher) must then exit with code 0 within 10 s.
const stopWith = opts.includes("--stop-with") ? opts[opts.indexOf("--stop-with") + 1] : "";
const timeoutMs = 120000;

const started = process.hrtime.bigint();
const ms = () => Number((process.hrtime.bigint() - started) / 1000000n);

const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
let stderrTail = "";
child.stderr.on("data", (d) => {
  stderrTail = (stderrTail + d.toString()).slice(-4000);
});

function die(msg) {
  console.error(`[${label}] FAIL: ${msg}`);
  if (stderrTail) console.error(`[${label}] server stderr (tail):\n${stderrTail}`);
  try {
    child.kill("SIGKILL");
  } catch (_) {}
  process.exit(1);
}

const timer = setTimeout(() => die(`no result within ${timeoutMs / 1000}s`), timeoutMs);
child.on("error", (err) => die(`could not start ${cmd}: ${err.message}`));
let finished = false;
child.on("exit", (code, signal) => {
  if (!finished) die(`server exited early (code ${code}, signal ${signal})`);
});

const pending = new Map();
let buf = "";
child.stdout.on("data", (d) => {
  buf += d.toString("utf8");
  let nl;
  while ((nl = buf.indexOf("\n")) >= 0) {
    const line = buf.slice(0, nl).trim();
    buf = buf.slice(nl + 1);
    if (!line) continue;
    let msg;
    try {
      msg = JSON.parse(line);
    } catch (_) {
      die(`stdout carried a line that is not JSON-RPC: ${JSON.stringify(line.slice(0, 200))}`);
    }
    if (msg.jsonrpc !== "2.0") die(`not JSON-RPC 2.0: ${line.slice(0, 200)}`);
    if (msg.id !== undefined && pending.has(msg.id) && msg.method === undefined) {
      const { resolve } = pending.get(msg.id);
      pending.delete(msg.id);
      resolve(msg);
    } else if (msg.method && msg.id !== undefined) {
      // A request from the server (ping, roots/list…): answer politely.
      send({ jsonrpc: "2.0", id: msg.id, result: {} });
    }
  }
});

function send(obj) {
  child.stdin.write(JSON.stringify(obj) + "\n");
}

let nextId = 1;
function request(method, params) {
  const id = nextId++;
  return new Promise((resolve) => {
    pending.set(id, { resolve });
    send({ jsonrpc: "2.0", id, method, params });
  }).then((msg) => {
    if (msg.error) die(`${method}: error ${JSON.stringify(msg.error)}`);
    return msg.result;
  });
}

(async () => {
  const init = await request("initialize", {
    protocolVersion: "2025-06-18",
    capabilities: {},
    clientInfo: { name: "aipaint-verify", version: "1.0.0" },
  });
  const firstAnswer = ms();
  if (!init.serverInfo || !init.protocolVersion) die(`initialize: unexpected ${JSON.stringify(init)}`);
  console.error(`[${label}] first answer (initialize) after ${firstAnswer} ms: ${init.serverInfo.name} ${init.serverInfo.version}`);
  send({ jsonrpc: "2.0", method: "notifications/initialized" });

  const list = await request("tools/list", {});
  const names = (list.tools || []).map((t) => t.name);
  for (const want of ["generate_image", "check_task", "list_styles"]) {
    if (!names.includes(want)) die(`tools/list lacks ${want}: ${names.join(", ")}`);
  }
  console.error(`[${label}] tools/list: ${names.join(", ")}`);

  if (generate) {
    const res = await request("tools/call", {
      name: "generate_image",
      arguments: { text: "竹林里的熊猫", style: "古风", num: 1 },
    });
    const sc = res.structuredContent || {};
    if (res.isError) die(`generate_image isError: ${JSON.stringify(res.content).slice(0, 500)}`);
    if (sc.status !== "done" || !Array.isArray(sc.images) || sc.images.length < 1 || !sc.images[0].url) {
      die(`generate_image did not finish with an image: ${JSON.stringify(sc).slice(0, 500)}`);
    }
    const img = sc.images[0];
    if (img.path && !fs.existsSync(img.path)) die(`the saved image ${img.path} does not exist`);
    if (outDir && !(img.path || "").startsWith(outDir)) die(`the image was not saved under ${outDir}: ${img.path}`);
    console.error(`[${label}] generate_image: ${sc.status}, task ${sc.task_id}, ${sc.images.length} image(s)${img.path ? ", saved" : ""}`);
  }
  finished = true;
  clearTimeout(timer);
  const exitedP = new Promise((resolve) => {
    const t = setTimeout(() => resolve(null), 10000);
    child.once("exit", (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal });
    });
  });
  const how = stopWith ? stopWith : "the end of its input";
  if (stopWith) child.kill(stopWith);
  else child.stdin.end(); // a stdio server stops at the end of its input
  const exited = await exitedP;
  if (!exited) die(`did not exit within 10 s of ${how}`);
  // The server stops cleanly (code 0) on SIGTERM too; a launcher that kept
  // the signal would die of it instead, leaving the server orphaned.
  if (exited.code !== 0) die(`exit code ${exited.code} (signal ${exited.signal}) after ${how}`);
  console.error(`[${label}] exited after ${how}: code ${exited.code}, signal ${exited.signal}`);
  console.error(`[${label}] ok in ${ms()} ms (first answer ${firstAnswer} ms)`);
  fs.writeSync(2, ""); // flush
  if (process.env.MCP_SESSION_TIMING) fs.appendFileSync(process.env.MCP_SESSION_TIMING, `${label}\t${firstAnswer}\t${ms()}\n`);
})().catch((err) => die(err.stack || String(err)));
