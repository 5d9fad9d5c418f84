#!/usr/bin/env bash
# Browser tests need Debian's chromium (Playwright's own download does not work here).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  /usr/bin/chromium --version 2>/dev/null | head -1
  exit 0
fi
echo "chromium missing: installing Debian's chromium package"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo -n"; fi
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null; }; then
  echo "FAILED to install chromium (apt-get install chromium). Browser tests cannot run." >&2
  exit 1
fi
/usr/bin/chromium --version 2>/dev/null | head -1
