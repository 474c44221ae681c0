#!/usr/bin/env bash
# Installs the command-line tools the tests need besides the services, when they are missing:
#   promtool, from Debian's `prometheus` package: test/integration/ops-files.test.ts runs
#     `promtool check config|rules` and `promtool test rules` on config/prometheus/;
#   libfaketime, from Debian's `faketime` package: test/fault/replicas.test.ts runs replicas whose
#     clocks are an hour off (LD_PRELOAD of libfaketime.so.1).
# Idempotent (does nothing when the tools are there). Progress and errors go to stderr only:
# stack/up.sh runs it and keeps its stdout for the service addresses.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

have_promtool() { command -v promtool >/dev/null 2>&1; }
have_faketime() { compgen -G '/usr/lib/*/faketime/libfaketime.so.1' >/dev/null; }

packages=()
have_promtool || packages+=(prometheus)
have_faketime || packages+=(faketime)
((${#packages[@]} == 0)) && exit 0

command -v apt-get >/dev/null 2>&1 ||
  die "missing Debian packages ${packages[*]} and there is no apt-get to install them: install promtool (package prometheus) and libfaketime (package faketime)"
sudo=()
if [[ $(id -u) != 0 ]]; then
  command -v sudo >/dev/null 2>&1 || die "missing tools: run 'apt-get install -y --no-install-recommends ${packages[*]}' as root"
  sudo=(sudo)
fi
say "tools: installing Debian's ${packages[*]}"
install() {
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}" >&2
}
# A fresh machine may have no package lists yet: update them once if the first attempt fails.
if ! install && ! { "${sudo[@]}" apt-get update -q >&2 && install; }; then
  die "could not install the tools: 'apt-get install -y --no-install-recommends ${packages[*]}' failed (see above)"
fi
have_promtool || die "the prometheus package is installed but promtool is not on PATH"
have_faketime || die "the faketime package is installed but libfaketime.so.1 is not under /usr/lib/*/faketime/"
say "tools: $(promtool --version 2>&1 | head -n 1); libfaketime $(compgen -G '/usr/lib/*/faketime/libfaketime.so.1' | head -n 1)"
