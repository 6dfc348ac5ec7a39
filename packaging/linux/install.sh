#!/usr/bin/env bash
# Install (or remove) CNN Playground's desktop integration on Linux: the menu entry, the
# icon in every size, the AppStream metainfo and the MIME type of .cnnp project files.
#
#   install.sh [--exec PROGRAM] [--prefix DIR] [--uninstall]
#
#   --exec PROGRAM   what the menu entry runs (default: cnnplayground, looked up on PATH);
#                    give the frozen program's absolute path, e.g.
#                    --exec "$PWD/dist/cnnplayground/cnnplayground"
#   --prefix DIR     data folder to install into (default: ${XDG_DATA_HOME:-~/.local/share};
#                    /usr/local/share for all users, as root)
#   --uninstall      remove what an install put there
#
# Works from the source tree (packaging/linux/) and from a built bundle
# (dist/cnnplayground/share/), which holds the same files in the installed layout.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
app_id=io.github.cnnplayground.CNNPlayground
exec_cmd=cnnplayground
prefix=${XDG_DATA_HOME:-$HOME/.local/share}
uninstall=0
while (($#)); do
  case $1 in
    --exec) exec_cmd=${2:?--exec needs a value}; shift ;;
    --prefix) prefix=${2:?--prefix needs a value}; shift ;;
    --uninstall) uninstall=1 ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# Source files: packaging/linux/ (source tree) or share/ (bundle).
if [[ -f $here/$app_id.desktop ]]; then
  desktop=$here/$app_id.desktop metainfo=$here/$app_id.metainfo.xml
  mime=$here/cnnplayground-project.xml icons=$here/icons/hicolor
else
  desktop=$here/applications/$app_id.desktop metainfo=$here/metainfo/$app_id.metainfo.xml
  mime=$here/mime/packages/cnnplayground-project.xml icons=$here/icons/hicolor
fi

installed=(
  "applications/$app_id.desktop"
  "metainfo/$app_id.metainfo.xml"
  "mime/packages/cnnplayground-project.xml"
)
for dir in "$icons"/*/apps; do
  size=$(basename "$(dirname "$dir")")
  for file in "$dir"/*; do installed+=("icons/hicolor/$size/apps/$(basename "$file")"); done
done

refresh() { # the caches desktops read; each tool is optional
  if command -v update-desktop-database >/dev/null; then update-desktop-database -q "$prefix/applications" || true; fi
  if command -v update-mime-database >/dev/null; then update-mime-database "$prefix/mime" >/dev/null || true; fi
  if command -v gtk-update-icon-cache >/dev/null && [[ -f $prefix/icons/hicolor/index.theme ]]; then
    gtk-update-icon-cache -q -t "$prefix/icons/hicolor" || true
  fi
  return 0
}

if ((uninstall)); then
  for rel in "${installed[@]}"; do rm -f "$prefix/$rel"; done
  refresh
  echo "removed CNN Playground's desktop entry, icons and MIME type from $prefix"
  exit 0
fi

for rel in "${installed[@]}"; do mkdir -p "$prefix/$(dirname "$rel")"; done
# The entry runs $exec_cmd; a path with spaces is quoted as the Desktop Entry spec asks.
if [[ $exec_cmd == *[[:space:]]* ]]; then exec_line="\"$exec_cmd\" %f"; else exec_line="$exec_cmd %f"; fi
sed "s|^Exec=.*|Exec=$exec_line|" "$desktop" >"$prefix/applications/$app_id.desktop"
cp "$metainfo" "$prefix/metainfo/"
cp "$mime" "$prefix/mime/packages/"
for dir in "$icons"/*/apps; do
  size=$(basename "$(dirname "$dir")")
  cp "$dir"/* "$prefix/icons/hicolor/$size/apps/"
done
refresh
echo "installed CNN Playground's desktop entry (Exec=$exec_line), icons and MIME type into $prefix"
