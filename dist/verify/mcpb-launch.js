#!/usr/bin/env node
// Starts an unpacked MCP bundle's server the way its manifest says, as Claude
// Desktop does: mcp_config with the platform override for this OS,
// ${__dirname} and ${user_config.KEY} substituted, stdio passed through.
//
//   node mcpb-launch.js BUNDLE_DIR VALUES.json
//
// VALUES.json maps user_config keys to what the user typed. A key set to
// null is left out, so its ${user_config.KEY} stays as literal text (what
// Claude Desktop passes for a blank optional field, mcpb#250); a missing key
// takes the field's default.
"use strict";

const { spawn } = require("child_process");
const fs = require("fs");
const path = require("path");

const [dir, valuesFile] = process.argv.slice(2);
if (!dir || !valuesFile) {
  process.stderr.write("usage: mcpb-launch.js BUNDLE_DIR VALUES.json\n");
  process.exit(2);
}
const manifest = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8"));
const values = JSON.parse(fs.readFileSync(valuesFile, "utf8"));

const platform = process.platform;
const base = manifest.server.mcp_config;
const override = (base.platform_overrides || {})[platform] || {};
const cfg = { command: base.command, args: base.args || [], env: base.env || {}, ...override };

const userConfig = {};
for (const [key, field] of Object.entries(manifest.user_config || {})) {
  if (key in values) {
    if (values[key] !== null) userConfig[key] = values[key];
  } else if (field.default !== undefined) {
    userConfig[key] = field.default;
  }
}
const subst = (s) =>
  s
    .replace(/\$\{__dirname\}/g, path.resolve(dir))
    .replace(/\$\{user_config\.([A-Za-z0-9_]+)\}/g, (m, key) => (key in userConfig ? String(userConfig[key]) : m));

const command = subst(cfg.command);
const args = cfg.args.map(subst);
const env = { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR || "/tmp" };
for (const [k, v] of Object.entries(cfg.env)) env[k] = subst(v);
if (process.env.MCPB_LAUNCH_SHOW_ENV) {
  // Names and whether each is still a placeholder; never the values (secrets).
  const shown = Object.entries(env)
    .filter(([k]) => k.startsWith("AIPAINT_"))
    .map(([k, v]) => `${k}=${/\$\{user_config\./.test(v) ? "<placeholder>" : v === "" ? "<empty>" : "<set>"}`);
  process.stderr.write(`mcpb-launch: ${command} ${shown.join(" ")}\n`);
}

const child = spawn(command, args, { stdio: "inherit", env });
child.on("error", (err) => {
  process.stderr.write(`mcpb-launch: could not start ${command}: ${err.message}\n`);
  process.exit(1);
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig));
child.on("exit", (code, signal) => process.exit(signal ? 1 : code));
