#!/usr/bin/env bash
# Debian packages the test suite needs beside the Python environment: Chromium and its driver (the report's
# page is tested in a real headless browser) and a distribution ffmpeg (the media tests run with it and with
# the static one imageio-ffmpeg bundles; the harness prefers a system ffmpeg when present). Installs them when run as root with apt-get; otherwise says
# what to install. Idempotent: does nothing when they are present.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  echo "installed ${missing[*]}"
else
  echo "note: the browser tests need ${missing[*]} (Debian: sudo apt-get install ${missing[*]})" >&2
fi
