#!/usr/bin/env bash
# Build the standalone CNN Playground (PyInstaller, one folder): dist/cnnplayground/.
#
#   packaging/build.sh [options]
#
#   --current-env        freeze with the Python environment that runs this script (it must
#                        have the app's dependencies; PyInstaller is installed if missing)
#                        instead of a fresh virtual environment under build/venv
#   --python PYTHON      interpreter for the fresh venv (default: python3)
#   --torch-index-url U  fresh venv only: install torch/torchvision from this index first,
#                        e.g. https://download.pytorch.org/whl/cpu for CPU-only wheels
#                        (about 1 GB smaller bundle; untested here: only PyPI was reachable)
#   --cpu-only           leave out cuDNN's kernel libraries (about 0.9 GB) and hide GPUs
#                        at start: a bundle for machines without an NVIDIA GPU
#   --dist DIR           where the bundle goes (default: dist)
#   --work DIR           PyInstaller's work folder and the venv (default: build)
#   --skip-smoke-test    do not run the frozen program afterwards
#
# Linux is what this has been run on. On macOS the same spec makes "CNN Playground.app";
# on Windows use Git Bash, or run by hand in a prepared environment (both untested):
#   python -m PyInstaller --noconfirm packaging/cnnplayground.spec
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
current_env=0
python=python3
torch_index=""
cpu_only=0
dist_dir=$ROOT/dist
work_dir=$ROOT/build
smoke=1

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
while (($#)); do
  case $1 in
    --current-env) current_env=1 ;;
    --python) python=${2:?--python needs a value}; shift ;;
    --torch-index-url) torch_index=${2:?--torch-index-url needs a value}; shift ;;
    --cpu-only) cpu_only=1 ;;
    --dist) dist_dir=${2:?--dist needs a value}; shift ;;
    --work) work_dir=${2:?--work needs a value}; shift ;;
    --skip-smoke-test) smoke=0 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "build.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$dist_dir" "$work_dir"
dist_dir=$(cd "$dist_dir" && pwd)
work_dir=$(cd "$work_dir" && pwd)
start=$SECONDS
step() { printf '\n== %s (%ds)\n' "$*" $((SECONDS - start)); }

if ((current_env)); then
  [[ -z $torch_index ]] || { echo "build.sh: --torch-index-url needs a fresh venv (drop --current-env)" >&2; exit 2; }
  py=$python
  command -v "$py" >/dev/null || py=python
  step "using the current environment: $(command -v "$py")"
  "$py" -c 'import torch, torchvision, numpy, PySide6, pyqtgraph, pydantic, safetensors, PIL' || {
    echo "build.sh: the current environment lacks the app's dependencies: pip install -e . (or drop --current-env)" >&2
    exit 1
  }
  "$py" -c 'import PyInstaller' 2>/dev/null || { step "installing PyInstaller"; "$py" -m pip install --quiet pyinstaller; }
else
  venv=$work_dir/venv
  step "fresh virtual environment: $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  py=$venv/bin/python
  [[ -x $py ]] || py=$venv/Scripts/python.exe # Windows (Git Bash)
  "$py" -m pip install --quiet --upgrade pip
  if [[ -n $torch_index ]]; then
    step "torch and torchvision from $torch_index"
    "$py" -m pip install --quiet --index-url "$torch_index" torch torchvision
  fi
  step "installing the app (with its ONNX extra) and PyInstaller"
  "$py" -m pip install --quiet "${ROOT}[onnx]" pyinstaller
fi
"$py" -m PyInstaller --version >/dev/null

step "freezing (PyInstaller; torch makes this take several minutes)"
export CNNP_FREEZE_CPU_ONLY=$cpu_only
"$py" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$dist_dir" --workpath "$work_dir/pyinstaller" \
  "$ROOT/packaging/cnnplayground.spec"

bundle=$dist_dir/cnnplayground
exe=$bundle/cnnplayground
if [[ -d $bundle ]]; then
  # The Linux desktop integration, in the layout install.sh (and xdg tools) expect.
  step "adding the desktop entry, icons and MIME type under $bundle/share"
  rm -rf "$bundle/share"
  mkdir -p "$bundle/share/applications" "$bundle/share/metainfo" "$bundle/share/mime/packages" "$bundle/share/icons"
  cp "$ROOT"/packaging/linux/*.desktop "$bundle/share/applications/"
  cp "$ROOT"/packaging/linux/*.metainfo.xml "$bundle/share/metainfo/"
  cp "$ROOT/packaging/linux/cnnplayground-project.xml" "$bundle/share/mime/packages/"
  cp -r "$ROOT/packaging/linux/icons/hicolor" "$bundle/share/icons/"
  cp "$ROOT/packaging/linux/install.sh" "$bundle/share/"
fi

if ((smoke)) && [[ -x $exe ]]; then
  step "smoke test: the headless command line of the frozen program"
  "$exe" --version
  "$exe" summary lenet5 >/dev/null && echo "summary lenet5: ok"
fi

step "done"
if [[ -d $bundle ]]; then
  du -sh "$bundle"
  echo "largest parts:"
  du -sh "$bundle"/_internal/* 2>/dev/null | sort -rh | sed -n "1,8s/^/  /p"
  [[ ! -d "$dist_dir/CNN Playground.app" ]] || du -sh "$dist_dir/CNN Playground.app"
  echo "run: $exe"
fi
