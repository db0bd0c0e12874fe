#!/bin/sh
# Installs the HTTP load generator the P5 benchmark drives (wrk, Debian package) when it is missing.
# Called by `python -m bench` before P5; run it yourself as root (or with sudo) if the bench cannot.
set -eu
if command -v wrk >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "wrk is missing and this is not root: run 'sudo apt-get update && sudo apt-get install -y wrk'" >&2
    exit 1
fi
apt-get update -qq && apt-get install -y -qq wrk >/dev/null
command -v wrk
