#!/bin/sh
# Makes Debian's `chromium` available for the HTML report's headless-browser test
# (tests/test_report.py::test_report_in_headless_chromium). Part of the README's test command.
#
# It never fails the command: it installs only when chromium is missing AND this is root AND
# apt-get exists AND REMEMBERER_NO_BROWSER_INSTALL is not 1; anything else, or an install that
# goes wrong, is one warning line (exit status 0) and the browser test then skips.
# The install is `apt-get install --no-install-recommends chromium` (25 packages, 124 MB on a
# clean Debian 12), quiet (its output goes to a log file); its download is bounded by `timeout`.
set -u

for name in chromium chromium-browser google-chrome; do
    command -v "$name" >/dev/null 2>&1 && exit 0
done

skip() {
    echo "ensure-chromium: warning: $1; the headless-browser report test will skip" >&2
    exit 0
}

[ "${REMEMBERER_NO_BROWSER_INSTALL:-}" = 1 ] && skip "no chromium and REMEMBERER_NO_BROWSER_INSTALL=1"
[ "$(id -u)" = 0 ] || skip "no chromium (to run that test: apt-get install chromium, as root)"
command -v apt-get >/dev/null 2>&1 || skip "no chromium and no apt-get"

log="${TMPDIR:-/tmp}/rememberer-chromium-install.log"
start=$(date +%s)
echo "ensure-chromium: installing Debian's chromium for the report's browser test (log: $log)"
export DEBIAN_FRONTEND=noninteractive  # with confdef/confold: no question, even about a config file left behind
# The download is what can hang, so only it is under `timeout`; dpkg then works from the local
# archive (--no-download) and is never killed halfway, which would leave a half-configured system.
install() {
    timeout 300 apt-get -q -y --no-install-recommends -o DPkg::Lock::Timeout=60 --download-only install chromium >>"$log" 2>&1 &&
        apt-get -q -y --no-install-recommends -o DPkg::Lock::Timeout=60 --no-download \
            -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install chromium >>"$log" 2>&1
}
# First with the package lists as they are; if they are missing or stale, refresh them once.
: >"$log"
if install || { timeout 120 apt-get -q update >>"$log" 2>&1 && install; }; then
    if command -v chromium >/dev/null 2>&1; then
        echo "ensure-chromium: installed in $(($(date +%s) - start)) s"
        exit 0
    fi
fi
skip "installing chromium failed after $(($(date +%s) - start)) s (see $log)"
