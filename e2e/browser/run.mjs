// The browser half of TestBrowserGallery (browser_test.go): a host made of
// the official ext-apps AppBridge in Chromium, with this process as its MCP
// client of the real server. It drives one scenario, given as JSON in
// GALLERY_SCENARIO, and writes what it saw to the report file; the Go test
// asserts on the report. Exits non-zero only when it could not run.
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const sc = JSON.parse(process.env.GALLERY_SCENARIO);
const UI = "io.modelcontextprotocol/ui";
const report = { scenario: sc.name, protocol: sc.protocol, calls: [], reads: [], events: [], console: [], errors: [], marks: {}, checks: {}, fetched: [] };
const t0 = Date.now();
const now = () => Date.now() - t0;
const mark = (k) => { report.marks[k] = now(); };

// --- a small MCP client over streamable HTTP, on either protocol era ---
const caps = { extensions: { [UI]: { mimeTypes: ["text/html;profile=mcp-app"] } } };
let session = "";
let nextId = 1;
async function mcp(method, params = {}) {
  const modern = sc.protocol === "2026-07-28";
  const headers = { "Content-Type": "application/json", Accept: "application/json, text/event-stream" };
  if (modern) {
    params = { ...params, _meta: { ...(params._meta || {}), "io.modelcontextprotocol/protocolVersion": sc.protocol, "io.modelcontextprotocol/clientCapabilities": caps, "io.modelcontextprotocol/clientInfo": { name: "aipaint-browser-test", version: "1.0.0" } } };
    headers["Mcp-Protocol-Version"] = sc.protocol;
    headers["Mcp-Method"] = method;
    if (typeof params.name === "string") headers["Mcp-Name"] = params.name;
    else if (typeof params.uri === "string") headers["Mcp-Name"] = params.uri;
  } else if (session) {
    headers["Mcp-Session-Id"] = session;
    headers["Mcp-Protocol-Version"] = sc.protocol;
  }
  const id = nextId++;
  const res = await fetch(sc.mcpURL, { method: "POST", headers, body: JSON.stringify({ jsonrpc: "2.0", id, method, params }) });
  if (res.headers.get("mcp-session-id")) session = res.headers.get("mcp-session-id");
  let body = await res.text();
  if ((res.headers.get("content-type") || "").startsWith("text/event-stream")) {
    const line = body.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).find((l) => { try { return JSON.parse(l).id === id; } catch { return false; } });
    body = line || "{}";
  }
  const msg = JSON.parse(body);
  if (msg.error) throw new Error(`${method}: ${msg.error.message}`);
  return msg.result;
}

async function main() {
  if (sc.protocol === "2026-07-28") await mcp("server/discover");
  else {
    await mcp("initialize", { protocolVersion: sc.protocol, capabilities: caps, clientInfo: { name: "aipaint-browser-test", version: "1.0.0" } });
    await fetch(sc.mcpURL, { method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream", "Mcp-Session-Id": session, "Mcp-Protocol-Version": sc.protocol }, body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) });
  }
  // As a host does: the tool names its view, resources/read gives it.
  const { tools } = await mcp("tools/list");
  const gen = tools.find((t) => t.name === "generate_image");
  report.checks.toolNames = tools.map((t) => t.name).sort();
  report.checks.resourceUri = gen?._meta?.ui?.resourceUri;
  report.checks.appOnly = tools.find((t) => t.name === "gallery_image")?._meta?.ui?.visibility;
  const read = await mcp("resources/read", { uri: report.checks.resourceUri });
  const view = read.contents[0];
  report.checks.viewMime = view.mimeType;
  report.checks.viewMeta = view._meta;
  report.checks.viewBytes = Buffer.byteLength(view.text);

  const bundle = await build({ entryPoints: [join(here, "host.js")], bundle: true, format: "iife", write: false, platform: "browser", logLevel: "silent" });
  const hostPage = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>host</title></head><body style="margin:0;background:${sc.theme === "dark" ? "#111" : "#fff"}"><script>${bundle.outputFiles[0].text}</script></body></html>`;

  const browser = await chromium.launch({
    executablePath: sc.chromium,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 900, height: 1000 }, locale: sc.locale, colorScheme: sc.theme });
    const page = await context.newPage();
    page.on("console", (m) => report.console.push({ type: m.type(), text: m.text(), at: now() }));
    page.on("pageerror", (e) => report.errors.push(String(e)));
    await page.exposeFunction("hostCallTool", async (params) => {
      const call = { name: params.name, arguments: params.arguments, at: now() };
      report.calls.push(call);
      const r = await mcp("tools/call", { name: params.name, arguments: params.arguments });
      call.done = now();
      call.status = r.structuredContent?.status;
      call.taskId = r.structuredContent?.task_id;
      if (params.name === "check_task" && call.status === "done" && !report.checks.taskImages) report.checks.taskImages = r.structuredContent.images;
      if (params.name === "gallery_image") {
        const img = (r.content || []).find((c) => c.type === "image");
        report.fetched.push({ via: "tool", size: params.arguments.size, bytes: img ? Buffer.from(img.data, "base64").length : 0, message: img ? 0 : Buffer.byteLength(JSON.stringify(r)) });
      }
      return r;
    });
    await page.exposeFunction("hostReadResource", async (params) => {
      report.reads.push({ uri: params.uri, at: now() });
      const r = await mcp("resources/read", { uri: params.uri });
      const c = r.contents?.[0];
      report.fetched.push({ via: "resource", size: new URL(params.uri.replace("aipaint://", "http://x/")).searchParams.get("size"), bytes: c?.blob ? Buffer.from(c.blob, "base64").length : 0 });
      return r;
    });
    await page.exposeFunction("hostEvent", (kind, params) => { report.events.push({ kind, params, at: now() }); });
    await page.route("http://host.test/", (route) => route.fulfill({ contentType: "text/html", body: hostPage }));
    await page.goto("http://host.test/");

    const hostContext = {
      theme: sc.theme, locale: sc.locale, platform: "web", displayMode: "inline", availableDisplayModes: ["inline"],
      containerDimensions: { maxWidth: sc.width },
      styles: { variables: sc.styles || {} },
    };
    mark("hostStart");
    await page.evaluate((a) => window.startHost(a), { html: view.text, width: sc.width, hostCapabilities: sc.hostCapabilities, hostContext });
    mark("initialized");
    const frame = page.frames().find((f) => f !== page.mainFrame());
    report.checks.viewOrigin = await frame.evaluate(() => String(window.origin));

    // The model's call, made by the host, then the two notifications.
    const args = sc.args;
    await page.evaluate((a) => window.bridge.sendToolInput({ arguments: a }), args);
    const first = await mcp("tools/call", { name: "generate_image", arguments: args });
    report.checks.firstStatus = first.structuredContent.status;
    report.checks.firstTask = first.structuredContent.task_id;
    report.checks.firstContentTypes = first.content.map((c) => c.type);
    await page.evaluate((r) => window.bridge.sendToolResult(r), first);
    mark("toolResult");

    const shot = async (name) => {
      if (!sc.shotsDir) return;
      mkdirSync(sc.shotsDir, { recursive: true });
      await page.waitForTimeout(400); // the last size change applied
      // JPEG: the sandbox's noisy gradients make PNGs of 100-300 KB each.
      await page.locator("#view").screenshot({ path: join(sc.shotsDir, `${name}.jpg`), type: "jpeg", quality: 85 });
    };
    const thumbsShown = () => frame.evaluate(() => [...document.querySelectorAll(".cell img")].filter((i) => !i.hidden && i.complete && i.naturalWidth > 0).length);

    if (first.structuredContent.status === "pending") {
      await frame.waitForSelector("#status .spin", { timeout: 5000 });
      report.checks.pendingText = await frame.textContent("#status");
      await shot(`${sc.shotPrefix}-pending`);
    }
    await frame.waitForFunction(() => [...document.querySelectorAll(".cell img")].some((i) => !i.hidden && i.complete && i.naturalWidth > 0), null, { timeout: 30000, polling: 20 });
    mark("firstThumb");
    const doneCall = report.calls.find((c) => c.name === "check_task" && c.status === "done");
    report.checks.doneAt = doneCall ? doneCall.done : report.marks.toolResult;
    await frame.waitForFunction((n) => [...document.querySelectorAll(".cell img")].filter((i) => !i.hidden && i.complete && i.naturalWidth > 0).length === n, args.num, { timeout: 30000 });
    mark("allThumbs");
    report.checks.thumbs = await frame.evaluate(() => [...document.querySelectorAll(".cell img")].map((i) => ({ w: i.naturalWidth, h: i.naturalHeight, src: i.src.slice(0, 23) })));
    report.checks.usageText = await frame.textContent("#usage");
    report.checks.promptText = await frame.textContent("#prompt");
    report.checks.metaText = await frame.textContent("#meta");
    report.checks.againText = await frame.textContent("#again");
    report.checks.restyleText = await frame.textContent("#restyle");
    report.checks.styleOptions = await frame.evaluate(() => document.querySelectorAll("#style option").length);
    report.checks.bodyBackground = await frame.evaluate(() => getComputedStyle(document.body).backgroundColor);
    report.checks.bodyFont = await frame.evaluate(() => getComputedStyle(document.body).fontFamily);
    report.checks.callsBeforeClick = report.calls.map((c) => c.name);
    await shot(`${sc.shotPrefix}-done`);

    // One large, then open full size.
    await frame.click(".cell");
    await frame.waitForFunction(() => { const b = document.getElementById("big"); return b.complete && Math.max(b.naturalWidth, b.naturalHeight) >= 1000; }, null, { timeout: 20000 });
    report.checks.large = await frame.evaluate(() => ({ w: document.getElementById("big").naturalWidth, h: document.getElementById("big").naturalHeight, path: document.getElementById("path").textContent }));
    if (await frame.isVisible("#open")) {
      await frame.click("#open");
      for (let i = 0; i < 50 && !report.events.some((e) => e.kind === "openlink"); i++) await page.waitForTimeout(50);
    }
    await frame.click("#back");

    // A narrow host: the view follows, without sideways scrolling.
    await page.evaluate(() => window.setViewWidth(320));
    await page.waitForTimeout(300);
    report.checks.narrow = await frame.evaluate(() => ({ inner: window.innerWidth, scroll: document.documentElement.scrollWidth }));
    await shot(`${sc.shotPrefix}-narrow`);
    await page.evaluate((w) => window.setViewWidth(w), sc.width);
    await page.waitForTimeout(200);

    // The billed buttons: one click, one generate_image.
    const gens = () => report.calls.filter((c) => c.name === "generate_image");
    if (sc.restyle) await frame.selectOption("#style", sc.restyle);
    await frame.click(sc.restyle ? "#restyle" : "#again");
    for (let i = 0; i < 100 && gens().length === 0; i++) await page.waitForTimeout(50);
    await page.waitForTimeout(300);
    report.checks.clickCalls = gens().map((c) => ({ arguments: c.arguments, taskId: c.taskId, status: c.status }));
    const second = gens()[0]?.taskId;
    if (second) {
      await frame.waitForFunction((id) => document.getElementById("grid").dataset.task === id || !!document.querySelector("#status .spin"), second, { timeout: 10000 });
      if (gens()[0].status === "pending") {
        await frame.waitForSelector("#status .spin", { timeout: 5000 });
      }
      await frame.waitForFunction(({ id, n }) => document.getElementById("grid").dataset.task === id && [...document.querySelectorAll(".cell img")].filter((i) => !i.hidden && i.naturalWidth > 0).length === n, { id: second, n: args.num }, { timeout: 40000 });
      report.checks.secondShown = true;
      report.checks.secondMeta = await frame.textContent("#meta");
      report.checks.secondUsage = await frame.textContent("#usage");
    }
    await page.waitForTimeout(300);
    report.checks.generateCalls = gens().length;

    // The console detects CSP violations: an image from a host the CSP does not allow is refused.
    report.checks.cspBefore = report.console.filter((m) => /Content Security Policy/i.test(m.text)).length;
    await frame.evaluate(() => { const i = new Image(); i.src = "http://127.0.0.1:9/probe.png"; document.body.appendChild(i); });
    for (let i = 0; i < 40 && !report.console.some((m) => /probe\.png/.test(m.text)); i++) await page.waitForTimeout(50);
    report.checks.cspProbe = report.console.some((m) => /probe\.png/.test(m.text) && /Content Security Policy/i.test(m.text));
    report.checks.frameHeight = await page.evaluate(() => document.getElementById("view").getBoundingClientRect().height);
    report.checks.openShown = await frame.evaluate(() => !document.getElementById("open").hidden);

    // The host flips theme and locale (ui/notifications/host-context-changed, a partial context).
    const flipped = { theme: sc.theme === "dark" ? "light" : "dark", locale: sc.locale === "zh-CN" ? "en-US" : "zh-CN" };
    await page.evaluate((c) => window.bridge.sendHostContextChange(c), flipped);
    await page.waitForTimeout(300);
    report.checks.changed = await frame.evaluate(() => ({
      background: getComputedStyle(document.body).backgroundColor,
      lang: document.documentElement.lang,
      again: document.getElementById("again").textContent,
      cell: document.querySelector(".cell")?.getAttribute("aria-label"),
      styleLabel: document.getElementById("style").getAttribute("aria-label"),
    }));

    // Teardown: the view must answer ui/resource-teardown.
    report.checks.teardown = await page.evaluate(() => Promise.race([
      window.bridge.teardownResource({}).then(() => "answered", (e) => "error: " + e),
      new Promise((r) => setTimeout(() => r("no answer in 3 s"), 3000)),
    ]));
  } finally {
    await browser.close();
  }
}

main().then(() => {
  writeFileSync(sc.reportPath, JSON.stringify(report, null, 2));
}, (e) => {
  report.fatal = String(e && e.stack || e);
  writeFileSync(sc.reportPath, JSON.stringify(report, null, 2));
  process.exitCode = 1;
});
