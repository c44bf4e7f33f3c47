#!/usr/bin/env bash
# Fails when nbdev_clean or nbdev_export changes a file: notebooks must be committed clean,
# and simgen_nb/ must be exactly what nbs/ exports.
set -euo pipefail
snapshot() { git ls-files -co --exclude-standard -- nbs simgen_nb | sort | xargs -r sha1sum; }
before=$(snapshot)
nbdev_clean
nbdev_export
after=$(snapshot)
if [ "$before" != "$after" ]; then
  echo "nbdev_clean/nbdev_export changed these files (commit the cleaned notebooks and the exported library):" >&2
  diff <(echo "$before") <(echo "$after") | grep '^[<>]' | awk '{print "  " $3}' | sort -u >&2
  exit 1
fi
echo "sync-check: notebooks clean, library in sync with nbs/"
