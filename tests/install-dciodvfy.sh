#!/usr/bin/env bash
# Installs dicom3tools (the DICOM validator dciodvfy) when it is missing, for the tests that
# validate discT2's DICOM results. Idempotent; needs root (or sudo) only when it installs.
# Debian/Ubuntu package: dicom3tools.
set -euo pipefail

if command -v dciodvfy >/dev/null; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "install-dciodvfy.sh: dciodvfy missing and no apt-get here; install dicom3tools" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then
    SUDO="sudo"
  else
    echo "install-dciodvfy.sh: dciodvfy missing; run as root to install dicom3tools" >&2
    exit 1
  fi
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
  dicom3tools >/dev/null
command -v dciodvfy >/dev/null
