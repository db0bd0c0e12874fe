#!/bin/sh
# Headless Chromium from Debian's packages for tests/test_codec_ui.py. Part of README command (2);
# without root or Debian's packages it says so and the UI test skips.
if ! command -v chromium >/dev/null 2>&1; then
  { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } 2>/dev/null ||
    echo "chromium could not be installed (apt-get, as root): tests/test_codec_ui.py will skip"
fi
command -v chromium >/dev/null 2>&1 && chromium --version
exit 0
