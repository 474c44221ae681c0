#!/usr/bin/env bash
# Installs Node.js 24 from the npm registry (package node@24) into STACK_DIR/node24 (cached)
# and prints the directory holding the real `node` binary on stdout. Use it as:
#   PATH="$(stack/node24.sh):$PATH" npm test
# npm itself is the machine's (a `#!/usr/bin/env node` script), so it then runs under Node 24.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK_DIR=${STACK_DIR:-$ROOT/.stack}
PREFIX="$STACK_DIR/node24"

say() { echo "node24: $*" >&2; }

# The `node` package's preinstall installs node-<platform>-<arch> (the real binary) and hard-links
# it to node_modules/node/bin/node; prefer the arch package's own bin dir, fall back to node/bin.
find_bin_dir() {
  local d
  for d in "$PREFIX"/node_modules/node/node_modules/node-*-*/bin "$PREFIX"/node_modules/node-*-*/bin \
    "$PREFIX"/node_modules/node/bin; do
    if [[ -x "$d/node" && ! -L "$d/node" ]] && [[ "$("$d/node" --version 2>/dev/null)" == v24.* ]]; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

if dir=$(find_bin_dir); then
  echo "$dir"
  exit 0
fi

command -v npm >/dev/null 2>&1 || { say "error: npm is needed to install node@24"; exit 1; }
say "installing node@24 into $PREFIX"
rm -rf "$PREFIX"
mkdir -p "$PREFIX"
npm install --prefix "$PREFIX" --no-save --no-audit --no-fund node@24 >"$STACK_DIR/node24-install.log" 2>&1 || {
  tail -n 20 "$STACK_DIR/node24-install.log" >&2
  say "error: npm install node@24 failed (log: $STACK_DIR/node24-install.log)"
  exit 1
}
if ! dir=$(find_bin_dir); then
  # node@24's preinstall did not run (npm configured to block install scripts): install the
  # platform package it would have installed, node-<platform>-<arch>, directly.
  ver=$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$PREFIX/node_modules/node/package.json" 2>/dev/null | head -n 1)
  arch_pkg="node-$(node -p 'process.platform + "-" + process.arch' 2>/dev/null || echo linux-x64)@${ver:-24}"
  say "node@24 left no binary; installing $arch_pkg"
  npm install --prefix "$PREFIX" --no-save --no-audit --no-fund "$arch_pkg" >>"$STACK_DIR/node24-install.log" 2>&1 || true
  if ! dir=$(find_bin_dir); then
    say "error: no working v24 node binary found under $PREFIX (log: $STACK_DIR/node24-install.log)"
    exit 1
  fi
fi
say "installed $("$dir/node" --version) at $dir"
echo "$dir"
