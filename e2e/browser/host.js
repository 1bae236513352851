// The host page of the browser test: the official AppBridge of
// @modelcontextprotocol/ext-apps renders the gallery as an MCP App host
// does, in a sandbox="allow-scripts" iframe loaded by srcdoc under the
// spec's default CSP. run.mjs bundles this file with esbuild; the bridge's
// tool calls and resource reads go to functions that run.mjs exposes, which
// forward them to the real server.
import { AppBridge, PostMessageTransport } from "@modelcontextprotocol/ext-apps/app-bridge";

// The restrictive default of SEP-1865 ("Host Behavior"), for a view whose
// CSP metadata declares no domain.
const DEFAULT_CSP = [
  "default-src 'none'",
  "script-src 'self' 'unsafe-inline'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "media-src 'self' data:",
  "connect-src 'none'",
  "frame-src 'none'",
  "object-src 'none'",
  "base-uri 'self'",
].join("; ");

function withCSP(html) {
  const meta = `<meta http-equiv="Content-Security-Policy" content="${DEFAULT_CSP}">`;
  return html.replace(/<head[^>]*>/i, (m) => m + meta);
}

window.startHost = async ({ html, width, hostCapabilities, hostContext }) => {
  const iframe = document.createElement("iframe");
  iframe.id = "view";
  iframe.setAttribute("sandbox", "allow-scripts");
  iframe.style.cssText = `display:block;border:0;width:${width}px;height:120px`;
  document.body.appendChild(iframe);

  const bridge = new AppBridge(null, { name: "aipaint-browser-test", version: "1.0.0" }, hostCapabilities, { hostContext });
  bridge.oncalltool = (params) => window.hostCallTool(params);
  if (hostCapabilities.serverResources) bridge.onreadresource = (params) => window.hostReadResource(params);
  bridge.onopenlink = async (params) => {
    await window.hostEvent("openlink", params);
    return {};
  };
  bridge.onupdatemodelcontext = async (params) => {
    await window.hostEvent("modelcontext", params);
    return {};
  };
  bridge.onsizechange = ({ width: w, height: h }) => {
    window.hostEvent("size", { width: w, height: h });
    if (h != null) iframe.style.height = `${h}px`;
  };
  bridge.onloggingmessage = (params) => window.hostEvent("log", params);
  const initialized = new Promise((resolve) => {
    bridge.oninitialized = () => resolve();
  });
  // Connect first, then load the view: its ui/initialize must find the bridge listening.
  await bridge.connect(new PostMessageTransport(iframe.contentWindow, iframe.contentWindow));
  iframe.srcdoc = withCSP(html);
  await initialized;
  window.bridge = bridge;
  return { csp: DEFAULT_CSP };
};

window.setViewWidth = (w) => {
  document.getElementById("view").style.width = `${w}px`;
};
