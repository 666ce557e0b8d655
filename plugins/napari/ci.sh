#!/usr/bin/env bash
# CI for the napari plugin: system packages, a venv with discT2 and the plugin, manifest check,
# headless tests. Run from the repository root on a Debian machine (as root, or with the packages
# already installed):
#
#     plugins/napari/ci.sh [extra pytest arguments]
#
# The tests need a real X server: pytest-xvfb starts Xvfb and Qt draws through Mesa (llvmpipe).
# Qt's offscreen platform alone gives napari no OpenGL (see the headless recipe in the docs).
set -euo pipefail

cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv-napari}"
t0=$(date +%s)

# 1. System packages: Xvfb, the Qt xcb platform's libraries, Mesa. Skipped when present.
need=0
command -v Xvfb >/dev/null || need=1
command -v make >/dev/null || need=1
for so in libxcb-icccm.so.4 libxcb-keysyms.so.1 libxcb-cursor.so.0 libxkbcommon-x11.so.0 \
          libGL.so.1 libEGL.so.1 libOpenGL.so.0; do
  ldconfig -p | grep -q "$so" || need=1
done
"$PYTHON" -c "import ensurepip" 2>/dev/null || need=1
if [ "$need" = 1 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "ci.sh: system packages missing (Xvfb, xcb, GL or python3-venv); run as root" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    python3-venv make xvfb xauth \
    libgl1 libglx-mesa0 libgl1-mesa-dri libegl1 libopengl0 \
    libdbus-1-3 libfontconfig1 libglib2.0-0 libx11-xcb1 libxkbcommon-x11-0 \
    libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 \
    libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xinerama0 libxcb-xkb1 >/dev/null
fi
t1=$(date +%s)

# 2. Python: the documented install (make napari-install: napari, discT2 and the plugin in one
#    environment), then the test tools.
make napari-install PYTHON="$PYTHON" NAPARI_VENV="$VENV"
"$VENV/bin/python" -m pip install -q -e "plugins/napari[test]"
t2=$(date +%s)

# 3. The manifest is valid and every command it names imports.
"$VENV/bin/npe2" validate --imports napari-discT2

# 4. The plugin's tests (their own pytest configuration: Xvfb, qt_api, warnings).
unset QT_QPA_PLATFORM
"$VENV/bin/python" -m pytest plugins/napari/tests "$@"
t3=$(date +%s)
echo "ci.sh: system packages $((t1 - t0)) s, install $((t2 - t1)) s, tests $((t3 - t2)) s"
