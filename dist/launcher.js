#!/usr/bin/env node
// aipaint-mcp launcher: runs the binary from the platform package that npm
// (or Bun) installed beside this one. stdout belongs to the MCP protocol, so
// everything this file says goes to stderr.
"use strict";

const { spawn } = require("child_process");
const path = require("path");

const pkg = `aipaint-mcp-${process.platform}-${process.arch}`;
const exe = process.platform === "win32" ? "aipaint-mcp.exe" : "aipaint-mcp";

function fail(lines) {
  process.stderr.write(lines.map((l) => `aipaint-mcp: ${l}\n`).join(""));
  process.exit(1);
}

let bin;
try {
  bin = require.resolve(`${pkg}/bin/${exe}`);
} catch (err) {
  let known = [];
  let version = "";
  try {
    const own = require(path.join(__dirname, "..", "package.json"));
    known = Object.keys(own.optionalDependencies || {});
    version = own.version;
  } catch (_) {}
  if (known.length > 0 && !known.includes(pkg)) {
    fail([
      `there is no build for ${process.platform}-${process.arch}.`,
      `Builds exist for: ${known.map((k) => k.replace("aipaint-mcp-", "")).join(", ")}.`,
      "Build from source instead (see the README), or download an archive of the release.",
    ]);
  }
  fail([
    `the package ${pkg}${version ? "@" + version : ""} with the binary for this machine is not installed.`,
    "npm installs it as an optional dependency of aipaint-mcp; it is missing when optional dependencies",
    "were skipped (--omit=optional, --no-optional) or the package could not be fetched from the registry or mirror.",
    "Fix: with npx, remove npx's copy of aipaint-mcp (npm cache npx rm, npm 11 or later; or delete the _npx folder",
    "of npm's cache: ~/.npm/_npx, on Windows %LocalAppData%\\npm-cache\\_npx) and run npx -y aipaint-mcp again;",
    `installed with npm: npm install ${pkg}${version ? "@" + version : ""} next to it (or reinstall aipaint-mcp with optional dependencies).`,
  ]);
}

const child = spawn(bin, process.argv.slice(2), { stdio: "inherit", windowsHide: true });

// Pass signals on; the child decides how to stop.
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  try {
    process.on(sig, () => {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          child.kill(sig);
        } catch (_) {}
      }
    });
  } catch (_) {} // a signal this platform cannot listen for
}

child.on("error", (err) => fail([`could not start ${bin}: ${err.message}`]));

child.on("exit", (code, signal) => {
  if (signal) {
    // Die of the same signal, so the parent sees what the child saw.
    process.removeAllListeners(signal);
    try {
      process.kill(process.pid, signal);
    } catch (_) {}
    const n = (require("os").constants.signals || {})[signal] || 0;
    setTimeout(() => process.exit(128 + n), 500).unref();
    return;
  }
  process.exit(code === null ? 1 : code);
});
