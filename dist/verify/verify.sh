#!/usr/bin/env bash
# Checks the release artifacts that go run ./dist wrote, the way a user
# without Go meets them: the unpacked archive, the container image (its
# index read with python3, then copied by Debian's skopeo), the .mcpb bundle (official
# mcpb CLI, then started as its manifest says), and npx / bun x from a real
# npm registry (verdaccio) on loopback. Go is taken off the PATH: only the
# built artifacts, Node, npm and bun run here.
#
#   dist/verify/verify.sh OUT_DIR
#
# TOOLS_DIR (default: a temporary folder) holds @anthropic-ai/mcpb, verdaccio
# and bun from npm; they are installed there when missing. Without Node or npm
# (or when the tools cannot be installed) the Node checks skip, except with
# CI=true, where they fail.
set -euo pipefail

MCPB_VERSION=2.1.2
VERDACCIO_VERSION=6.8.0
BUN_VERSION=1.4.5

here="$(cd "$(dirname "$0")" && pwd)"
out="$(cd "${1:?usage: verify.sh OUT_DIR}" && pwd)"
work="$(mktemp -d)"
verdaccio_pid=""
cleanup() {
  if [ -n "$verdaccio_pid" ]; then kill "$verdaccio_pid" 2>/dev/null || true; wait "$verdaccio_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

passed=0 failed=0 skipped=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
skip() {
  if [ "${CI:-}" = "true" ]; then fail "$* (cannot skip with CI=true)"; else skipped=$((skipped + 1)); echo "SKIP: $*"; fi
}
finish() {
  echo
  echo "sizes:"
  (cd "$out" && ls -l ./*.tar.gz ./*_oci.tar ./*.zip ./*.mcpb npm/*.tgz | awk '{printf "  %10d  %s\n", $5, $NF}')
  if [ -s "$work/timing" ]; then
    echo "stdio sessions (label, ms to first answer, ms in all):"
    sed 's/^/  /' "$work/timing"
  fi
  echo
  echo "verify: $passed passed, $failed failed, $skipped skipped"
  [ "$failed" -eq 0 ]
  exit
}

# Take Go off the PATH: the checks use the artifacts only.
PATH="$(printf '%s\n' "$PATH" | tr ':' '\n' | while read -r d; do if [ -n "$d" ] && [ ! -x "$d/go" ]; then printf '%s:' "$d"; fi; done)"
PATH="${PATH%:}"
export PATH
if command -v go >/dev/null 2>&1; then fail "go is still on the PATH"; else pass "no Go on the PATH"; fi

version="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$out/npm/aipaint-mcp/package.json")"
orig_home="$HOME" # the machine's own npm settings, for installing the tools only
export HOME="$work/home" # nothing from the real home: caches, configs, stores
mkdir -p "$HOME"
export AIPAINT_LOG_LEVEL=warn
timing="$work/timing"
export MCP_SESSION_TIMING="$timing"

# --- checksums and the unpacked archive (no Node needed) -------------------
if (cd "$out" && sha256sum --quiet -c checksums.txt); then pass "checksums.txt matches every file"; else fail "checksums.txt"; fi

arch_dir="$work/archive"
mkdir -p "$arch_dir"
tar -xzf "$out/aipaint-mcp_${version}_linux_amd64.tar.gz" -C "$arch_dir"
bin="$arch_dir/aipaint-mcp_${version}_linux_amd64/aipaint-mcp"
for f in aipaint-mcp README.md README.zh-CN.md mcp.json.example; do
  [ -e "$(dirname "$bin")/$f" ] || fail "archive lacks $f"
done
if [ -x "$bin" ] && v="$("$bin" --version)" && [[ "$v" =~ ^aipaint-mcp\ ${version}(-dirty)?\ \([0-9a-f]{7},\ [0-9]{4}-[0-9]{2}-[0-9]{2}T ]]; then
  pass "archive binary --version: $v"
else
  fail "archive binary --version: ${v:-not executable}"
fi

# --- the container image (no Node needed) ----------------------------------
image="$out/aipaint-mcp_${version}_oci.tar"
img_dir="$work/oci"
mkdir -p "$img_dir"
if ! tar -xf "$image" -C "$img_dir"; then
  fail "the image $(basename "$image") is not a tar"
elif ! command -v python3 >/dev/null 2>&1; then
  skip "python3 is not installed: the image's index"
elif platforms="$(python3 - "$img_dir" "$version" <<'EOF'
import json, sys
root, version = sys.argv[1], sys.argv[2]
def blob(digest):
    algo, hexdigest = digest.split(":")
    with open(f"{root}/blobs/{algo}/{hexdigest}") as f:
        return json.load(f)
top = json.load(open(f"{root}/index.json"))
assert json.load(open(f"{root}/oci-layout"))["imageLayoutVersion"] == "1.0.0"
[entry] = top["manifests"]
assert entry["annotations"]["org.opencontainers.image.ref.name"] == version, entry
index = blob(entry["digest"])
found = []
for m in index["manifests"]:
    cfg = blob(blob(m["digest"])["config"]["digest"])
    c = cfg["config"]
    assert (cfg["os"], cfg["architecture"]) == (m["platform"]["os"], m["platform"]["architecture"])
    assert c["Entrypoint"] == ["/aipaint-mcp"] and c["User"] == "65532:65532", c
    assert "8000/tcp" in c["ExposedPorts"] and "AIPAINT_DATA_DIR=/data" in c["Env"], c
    assert c["Labels"]["org.opencontainers.image.version"] == version, c["Labels"]
    found.append(cfg["os"] + "/" + cfg["architecture"])
print(" ".join(sorted(found)))
EOF
)" && [ "$platforms" = "linux/amd64 linux/arm64" ]; then
  pass "image index: $platforms, entrypoint /aipaint-mcp as 65532, port 8000"
else
  fail "image index: ${platforms:-unreadable}"
fi
if command -v skopeo >/dev/null 2>&1; then
  # Copying reads every blob and checks its digest.
  if skopeo copy --quiet --multi-arch all "oci-archive:$image:$version" "oci:$work/oci-copy:$version" &&
    arch="$(skopeo inspect --override-arch arm64 --format '{{.Architecture}}' "oci-archive:$image:$version")" && [ "$arch" = arm64 ]; then
    pass "skopeo $(skopeo --version | awk '{print $3}') copies both platforms of oci-archive:$(basename "$image"):$version"
  else
    fail "skopeo cannot copy oci-archive:$(basename "$image"):$version"
  fi
else
  skip "skopeo is not installed (Debian's skopeo; .ci/run installs it): the image's copy"
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  skip "node and npm are not installed: the stdio, mcpb, npx and bun checks"
  finish
fi
session=(node "$here/mcp-session.js")

if AIPAINT_SANDBOX=1 AIPAINT_OUTPUT_DIR="$work/archive-images" "${session[@]}" --label archive --out-dir "$work/archive-images" -- "$bin"; then
  pass "archive binary: stdio session with a sandbox generate_image"
else
  fail "archive binary: stdio session"
fi

# --- tools from npm ----------------------------------------------------------
tools="${TOOLS_DIR:-$work/tools}"
if [ ! -x "$tools/node_modules/.bin/mcpb" ] || [ ! -x "$tools/node_modules/.bin/verdaccio" ] || [ ! -x "$tools/node_modules/.bin/bun" ]; then
  mkdir -p "$tools"
  # verdaccio 6.8.0 on Node 20 needs node-fetch 2.7.0.
  cat >"$tools/package.json" <<EOF
{"name": "aipaint-verify-tools", "private": true, "version": "0.0.0",
 "overrides": {"node-fetch": "2.7.0"}}
EOF
  echo "installing @anthropic-ai/mcpb@$MCPB_VERSION verdaccio@$VERDACCIO_VERSION bun@$BUN_VERSION into $tools"
  if ! (cd "$tools" && HOME="$orig_home" npm install --no-audit --no-fund --loglevel=error \
    "@anthropic-ai/mcpb@$MCPB_VERSION" "verdaccio@$VERDACCIO_VERSION" "bun@$BUN_VERSION" >"$work/tools-install.log" 2>&1); then
    tail -20 "$work/tools-install.log"
    skip "could not install the tools from npm: the mcpb, npx and bun checks"
    finish
  fi
fi
mcpb="$tools/node_modules/.bin/mcpb"
verdaccio="$tools/node_modules/.bin/verdaccio"
bun="$tools/node_modules/.bin/bun"

# --- the Claude Desktop bundle -------------------------------------------------
bundle="$out/aipaint-mcp-$version.mcpb"
bdir="$work/bundle"
if "$mcpb" unpack "$bundle" "$bdir" >/dev/null; then pass "mcpb unpack"; else fail "mcpb unpack"; fi
if "$mcpb" validate "$bdir/manifest.json"; then pass "mcpb validate manifest.json"; else fail "mcpb validate"; fi
if info="$("$mcpb" info "$bundle" 2>&1)" && grep -q "aipaint-mcp-$version.mcpb" <<<"$info"; then
  pass "mcpb info: $(tr '\n' ' ' <<<"$info")"
else
  fail "mcpb info: $info"
fi
for f in aipaint-mcp aipaint-mcp-darwin aipaint-mcp.exe; do
  if [ -x "$bdir/server/$f" ]; then pass "bundle keeps the executable bit of server/$f"; else fail "server/$f is not executable after unpacking"; fi
done
if grep -q '"version": "'"$version"'"' "$bdir/manifest.json"; then pass "manifest version $version"; else fail "manifest version"; fi

# As a user fills the form: the sandbox on, an output folder, the rest blank
# (Claude Desktop passes a blank optional field as an empty string).
cat >"$work/values-blank.json" <<EOF
{"app_key": "", "app_secret": "", "app_code": "", "submit_url": "", "query_url": "",
 "output_dir": "$work/bundle-images", "sandbox": true}
EOF
if MCPB_LAUNCH_SHOW_ENV=1 "${session[@]}" --label mcpb --out-dir "$work/bundle-images" -- node "$here/mcpb-launch.js" "$bdir" "$work/values-blank.json"; then
  pass "bundle started as its manifest says (blank fields as \"\"): initialize, tools/list, sandbox generate_image"
else
  fail "bundle started as its manifest says (blank fields as \"\")"
fi
# Blank optional fields passed as the literal \${user_config.KEY} (mcpb#250):
# the server treats them as unset once config does (issue 11, part 5).
if [ "${VERIFY_LITERAL_PLACEHOLDERS:-}" = 1 ] || grep -rqs 'user_config' "$here/../../config/"*.go; then
  mkdir -p "$work/cwd"
  echo '{"app_key": null, "app_secret": null, "app_code": null, "submit_url": null, "query_url": null, "daily_image_limit": null, "output_dir": null, "sandbox": true}' >"$work/values-literal.json"
  if (cd "$work/cwd" && MCPB_LAUNCH_SHOW_ENV=1 "${session[@]}" --label mcpb-literal -- node "$here/mcpb-launch.js" "$bdir" "$work/values-literal.json") &&
    [ -z "$(ls -A "$work/cwd")" ]; then
    pass "bundle with blank fields left as literal \${user_config.x}: treated as unset"
  else
    fail "bundle with blank fields left as literal \${user_config.x} (or it wrote into the working folder: $(ls -A "$work/cwd"))"
  fi
else
  echo "NOTE: the literal \${user_config.x} case waits for config to treat it as unset (issue 11 part 5, not on this branch)"
fi

# --- npm and bun from a local registry ----------------------------------------
port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
reg="http://127.0.0.1:$port/"
mkdir -p "$work/verdaccio/storage"
cat >"$work/verdaccio/config.yaml" <<EOF
storage: $work/verdaccio/storage
auth:
  htpasswd:
    file: $work/verdaccio/htpasswd
    max_users: -1
uplinks: {}
packages:
  '**':
    access: \$all
    publish: \$anonymous
    unpublish: \$anonymous
log: { type: stdout, format: pretty, level: warn }
EOF
"$verdaccio" --config "$work/verdaccio/config.yaml" --listen "127.0.0.1:$port" >"$work/verdaccio.log" 2>&1 &
verdaccio_pid=$!
up=""
for _ in $(seq 1 100); do
  if node -e 'fetch(process.argv[1]+"-/ping").then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' "$reg"; then up=1; break; fi
  sleep 0.2
done
if [ -z "$up" ]; then
  cat "$work/verdaccio.log"
  fail "verdaccio did not start"
  finish
fi
pass "verdaccio $VERDACCIO_VERSION on $reg"

# npm: only the local registry, a fresh cache, an anonymous token.
export NPM_CONFIG_USERCONFIG="$work/npmrc"
printf 'registry=%s\n//127.0.0.1:%s/:_authToken=anonymous\n' "$reg" "$port" >"$NPM_CONFIG_USERCONFIG"
export npm_config_registry="$reg" npm_config_cache="$work/npm-cache" npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
published=1
for tgz in "$out"/npm/aipaint-mcp-*-*-"$version".tgz "$out/npm/aipaint-mcp-$version.tgz"; do
  if ! npm publish --loglevel=error "$tgz" >"$work/publish.log" 2>&1; then
    cat "$work/publish.log"
    published=""
    fail "npm publish $(basename "$tgz")"
  fi
done
[ -n "$published" ] && pass "published the platform packages, then aipaint-mcp"

mkdir -p "$work/empty"
cd "$work/empty" # no package.json nearby: npx installs into its cache
t0=$(date +%s%N)
if AIPAINT_SANDBOX=1 "${session[@]}" --label "npx (cold cache)" -- npx -y aipaint-mcp; then
  pass "npx -y aipaint-mcp: stdio session through the launcher with a sandbox generate_image"
else
  fail "npx -y aipaint-mcp: stdio session"
fi
echo "npx session with a cold cache: $(( ($(date +%s%N) - t0) / 1000000 )) ms in all"
t0=$(date +%s%N)
if v="$(npx -y aipaint-mcp --version)" && [[ "$v" == "aipaint-mcp $version"* ]]; then
  pass "npx -y aipaint-mcp --version (warm cache, $(( ($(date +%s%N) - t0) / 1000000 )) ms): $v"
else
  fail "npx -y aipaint-mcp --version: $v"
fi
set +e
npx -y aipaint-mcp no-such-command >/dev/null 2>&1
code=$?
set -e
if [ "$code" -eq 2 ]; then pass "the launcher passes the exit code on (2 for a usage error)"; else fail "launcher exit code $code, want 2"; fi

# The launcher with its platform package missing: a clear message on stderr,
# nothing on stdout, exit 1.
mkdir -p "$work/omit" && cd "$work/omit"
npm install --loglevel=error --omit=optional "aipaint-mcp@$version" >/dev/null 2>&1 || true
set +e
node node_modules/aipaint-mcp/bin/aipaint-mcp.js --version >"$work/omit.out" 2>"$work/omit.err"
code=$?
set -e
if [ "$code" -eq 1 ] && [ ! -s "$work/omit.out" ] && grep -q "aipaint-mcp-$(node -p 'process.platform+"-"+process.arch')" "$work/omit.err"; then
  pass "launcher without its platform package: exit 1, names the package on stderr, stdout empty"
else
  fail "launcher without its platform package: code $code, stdout $(wc -c <"$work/omit.out") bytes, stderr: $(cat "$work/omit.err")"
fi
# The launcher passes SIGTERM on to the server and ends when it ends (a
# launcher that kept the signal to itself would hang here).
mkdir -p "$work/full" && cd "$work/full"
if npm install --loglevel=error "aipaint-mcp@$version" >/dev/null 2>&1 &&
  AIPAINT_SANDBOX=1 "${session[@]}" --label "launcher SIGTERM" --no-generate --stop-with SIGTERM -- node_modules/.bin/aipaint-mcp; then
  pass "the launcher forwards SIGTERM and exits with the server"
else
  fail "the launcher and SIGTERM"
fi
cd "$work/empty"

# bun x, as Cherry Studio runs it.
export BUN_CONFIG_REGISTRY="$reg" BUN_INSTALL_CACHE_DIR="$work/bun-cache" BUN_INSTALL="$work/bun-home"
if bv="$("$bun" --version)"; then
  if v="$("$bun" x aipaint-mcp --version)" && [[ "$v" == "aipaint-mcp $version"* ]]; then
    pass "bun x aipaint-mcp --version (bun $bv): $v"
  else
    fail "bun x aipaint-mcp --version: $v"
  fi
  if AIPAINT_SANDBOX=1 "${session[@]}" --label "bun x" -- "$bun" x aipaint-mcp; then
    pass "bun x aipaint-mcp: stdio session with a sandbox generate_image"
  else
    fail "bun x aipaint-mcp: stdio session"
  fi
else
  skip "bun does not run here"
fi
finish
