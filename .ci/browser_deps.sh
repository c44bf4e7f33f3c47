#!/usr/bin/env bash
# Installs Debian's chromium and chromium-driver for the report's browser test, when missing.
# Under CI a failure here is fatal (the browser test must run); elsewhere it only warns.
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then exit 0; fi
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/dev/null 2>&1
fi
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "${CI:-}" = true ]; then echo "browser-deps: chromium/chromedriver could not be installed" >&2; exit 1; fi
  echo "browser-deps: chromium/chromedriver not installed; the browser test will be skipped" >&2
fi
exit 0
