#!/usr/bin/env bash
# Installs the command-line tools the tests need besides the services, when they are missing:
#   promtool, from Debian's `prometheus` package: test/integration/ops-files.test.ts runs
#   `promtool check config|rules` and `promtool test rules` on config/prometheus/.
# Idempotent (does nothing when the tools are there). Progress and errors go to stderr only:
# stack/up.sh runs it and keeps its stdout for the service addresses.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v promtool >/dev/null 2>&1 && exit 0

command -v apt-get >/dev/null 2>&1 ||
  die "promtool is missing and there is no apt-get to install it: install Prometheus's promtool (Debian/Ubuntu package prometheus) and put it on PATH"
sudo=()
if [[ $(id -u) != 0 ]]; then
  command -v sudo >/dev/null 2>&1 || die "promtool is missing: run 'apt-get install -y --no-install-recommends prometheus' as root"
  sudo=(sudo)
fi
say "tools: promtool is missing; installing Debian's prometheus package"
install_prometheus() {
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends prometheus >&2
}
# A fresh machine may have no package lists yet: update them once if the first attempt fails.
if ! install_prometheus && ! { "${sudo[@]}" apt-get update -q >&2 && install_prometheus; }; then
  die "could not install promtool: 'apt-get install -y --no-install-recommends prometheus' failed (see above)"
fi
command -v promtool >/dev/null 2>&1 || die "the prometheus package is installed but promtool is not on PATH"
say "tools: $(promtool --version 2>&1 | head -n 1)"
