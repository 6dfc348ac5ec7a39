"""Packaging files (packaging/, resources/icons): the desktop entry, AppStream metainfo,
MIME type and icons agree with each other and with the app, and the freedesktop
validators accept them where they are installed (desktop-file-utils, appstream)."""

from __future__ import annotations

import ast
import configparser
import importlib.util
import re
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import cnnplayground

REPO = Path(__file__).resolve().parent.parent
PACKAGING = REPO / "packaging"
LINUX = PACKAGING / "linux"
APP_ID = "io.github.cnnplayground.CNNPlayground"
DESKTOP = LINUX / f"{APP_ID}.desktop"
METAINFO = LINUX / f"{APP_ID}.metainfo.xml"
MIME_XML = LINUX / "cnnplayground-project.xml"
HICOLOR = LINUX / "icons" / "hicolor"
ICON_SVG = REPO / "cnnplayground" / "resources" / "icons" / "cnnplayground.svg"
ICON_SVG_SMALL = REPO / "cnnplayground" / "resources" / "icons" / "cnnplayground-small.svg"
ICON_SIZES = (16, 32, 48, 64, 128, 256, 512)
SVG_NS = "{http://www.w3.org/2000/svg}"
MIME_NS = "{http://www.freedesktop.org/standards/shared-mime-info}"


def _load_render_icons():
    spec = importlib.util.spec_from_file_location("render_icons", PACKAGING / "render_icons.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # imports no Qt at module level
    return module


def _desktop_entry(path: Path = DESKTOP) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return dict(parser["Desktop Entry"])


def _list(value: str) -> list[str]:
    return [item for item in value.split(";") if item]


def _metainfo() -> ET.Element:
    return ET.parse(METAINFO).getroot()


def _mime_type() -> str:
    root = ET.parse(MIME_XML).getroot()
    (mime,) = root.findall(f"{MIME_NS}mime-type")
    return mime.get("type", "")


def _png_size(path: Path) -> tuple[int, int, int]:
    """(width, height, colour type) from the PNG signature and IHDR chunk."""
    head = path.read_bytes()[:29]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    length, kind = struct.unpack(">I4s", head[8:16])
    assert (length, kind) == (13, b"IHDR"), f"{path}: IHDR is not the first chunk"
    width, height, _depth, colour = struct.unpack(">IIBB", head[16:26])
    return width, height, colour


# --- desktop entry -----------------------------------------------------------------------


def test_desktop_entry_keys():
    entry = _desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Name"] == "CNN Playground"
    assert entry["Terminal"] == "false"
    program, *args = entry["Exec"].split()
    assert program == "cnnplayground"  # the console script of pyproject.toml
    assert args in (["%f"], ["%F"], ["%u"], ["%U"]), "the entry must pass the opened project file"
    # The icon is looked up by name in the icon theme: the name of the installed files.
    assert entry["Icon"] == APP_ID
    categories = _list(entry["Categories"])
    assert categories and categories[0] in {"Education", "Science", "Development"}
    assert _list(entry["MimeType"]) == [_mime_type()]


def test_the_app_announces_the_desktop_file_name():
    """Wayland matches a window to its desktop entry through QGuiApplication.desktopFileName."""
    source = (REPO / "cnnplayground" / "ui" / "app.py").read_text(encoding="utf-8")
    match = re.search(r'^DESKTOP_FILE\s*=\s*"([^"]+)"', source, re.MULTILINE)
    if match is None:
        pytest.skip("ui/app.py no longer defines DESKTOP_FILE as a literal")
    assert match.group(1) == DESKTOP.stem == APP_ID


def test_startup_wm_class_is_the_application_name():
    """On X11, Qt sets the window's WM_CLASS class to the application name; desktops match
    it against StartupWMClass to put the window under the menu entry's icon."""
    source = (REPO / "cnnplayground" / "ui" / "app.py").read_text(encoding="utf-8")
    match = re.search(r'^APP_NAME\s*=\s*"([^"]+)"', source, re.MULTILINE)
    if match is None:
        pytest.skip("ui/app.py no longer defines APP_NAME as a literal")
    assert _desktop_entry()["StartupWMClass"] == match.group(1)


# --- AppStream metainfo ------------------------------------------------------------------


def test_metainfo_matches_the_desktop_entry():
    root = _metainfo()
    entry = _desktop_entry()
    assert root.tag == "component" and root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.findtext("name") == entry["Name"]
    assert root.findtext("summary", "").strip()
    assert root.findtext("metadata_license") and root.findtext("project_license") == "MIT"
    paragraphs = root.findall("description/p")
    assert paragraphs and all((p.text or "").strip() for p in paragraphs)
    (launchable,) = root.findall("launchable")
    assert launchable.get("type") == "desktop-id" and launchable.text == DESKTOP.name
    assert root.findtext("provides/binary") == entry["Exec"].split()[0]
    assert [m.text for m in root.findall("provides/mediatype")] == [_mime_type()]
    categories = {c.text for c in root.findall("categories/category")}
    assert set(_list(entry["Categories"])) <= categories
    assert root.find("content_rating") is not None


def test_metainfo_lists_the_current_version_as_newest_release():
    releases = _metainfo().findall("releases/release")
    assert releases, "metainfo has no <releases>"
    newest = releases[0]
    assert newest.get("version") == cnnplayground.__version__
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", newest.get("date", "")), "release date must be YYYY-MM-DD"


def test_mime_type_of_project_files():
    root = ET.parse(MIME_XML).getroot()
    (mime,) = root.findall(f"{MIME_NS}mime-type")
    assert mime.get("type") == "application/x-cnnplayground-project"
    assert [g.get("pattern") for g in mime.findall(f"{MIME_NS}glob")] == ["*.cnnp"]


# --- icons -------------------------------------------------------------------------------


@pytest.mark.parametrize("svg", [ICON_SVG, ICON_SVG_SMALL], ids=lambda p: p.name)
def test_icon_svg_is_self_contained_svg(svg):
    root = ET.parse(svg).getroot()
    assert root.tag == f"{SVG_NS}svg"
    assert root.get("viewBox") == "0 0 256 256"
    text = svg.read_text(encoding="utf-8")
    assert "<image" not in text and "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    assert not re.search(r"href\s*=\s*\"(?!#)", text), "external reference in the icon"


def test_render_script_sizes_match():
    render_icons = _load_render_icons()
    assert tuple(render_icons.SIZES) == ICON_SIZES
    assert render_icons.ICON_NAME == APP_ID
    assert render_icons.png_path(48) == HICOLOR / "48x48" / "apps" / f"{APP_ID}.png"


@pytest.mark.parametrize("size", ICON_SIZES)
def test_icon_png_in_every_size(size):
    path = HICOLOR / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
    assert path.is_file(), f"missing {path.relative_to(REPO)}: run python packaging/render_icons.py"
    width, height, colour = _png_size(path)
    assert (width, height) == (size, size)
    assert colour == 6, "the icon needs an alpha channel (RGBA)"


def test_scalable_icon_is_the_app_icon():
    scalable = HICOLOR / "scalable" / "apps" / f"{APP_ID}.svg"
    assert scalable.read_bytes() == ICON_SVG.read_bytes(), "run python packaging/render_icons.py"


@pytest.mark.gui
def test_icon_pngs_are_rendered_from_the_current_svgs(qapp, tmp_path):
    """Catches an edited SVG whose PNGs were not rendered again."""
    np = pytest.importorskip("numpy")
    QImage = pytest.importorskip("PySide6.QtGui").QImage

    def pixels(path: Path):
        image = QImage(str(path)).convertToFormat(QImage.Format.Format_RGBA8888)
        return np.frombuffer(image.constBits(), np.uint8)[: image.width() * image.height() * 4].astype(int)

    _load_render_icons().render(tmp_path / "hicolor")
    for size in ICON_SIZES:
        rel = Path(f"{size}x{size}") / "apps" / f"{APP_ID}.png"
        fresh, committed = pixels(tmp_path / "hicolor" / rel), pixels(HICOLOR / rel)
        assert fresh.shape == committed.shape
        # A little slack for another Qt version's anti-aliasing.
        assert np.abs(fresh - committed).mean() < 2.0, f"{rel} is stale: run python packaging/render_icons.py"


# --- freezing and installing -------------------------------------------------------------


def test_pyinstaller_spec_and_its_inputs():
    ast.parse((PACKAGING / "cnnplayground.spec").read_text(encoding="utf-8"))
    for name in ("launcher.py", "rthook_quiet.py", "rthook_cpu_only.py"):
        ast.parse((PACKAGING / name).read_text(encoding="utf-8"))
    # The bundle carries the package data where ui/app.py looks for the window icon.
    assert ICON_SVG.is_file()


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
@pytest.mark.parametrize("script", ["build.sh", "linux/install.sh"])
def test_shell_scripts_parse(script):
    proc = subprocess.run(["bash", "-n", str(PACKAGING / script)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_install_script_into_a_prefix_and_back(tmp_path):
    prefix = tmp_path / "share"
    program = "/opt/CNN Playground/cnnplayground"
    script = str(LINUX / "install.sh")
    proc = subprocess.run(
        ["bash", script, "--prefix", str(prefix), "--exec", program], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    installed = prefix / "applications" / DESKTOP.name
    assert _desktop_entry(installed)["Exec"] == f'"{program}" %f'
    assert (prefix / "metainfo" / METAINFO.name).is_file()
    assert (prefix / "mime" / "packages" / MIME_XML.name).is_file()
    for size in ICON_SIZES:
        assert (prefix / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png").is_file()
    assert (prefix / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(installed)], capture_output=True, text=True, timeout=60)
        assert check.returncode == 0 and "error" not in check.stdout, check.stdout

    proc = subprocess.run(["bash", script, "--prefix", str(prefix), "--uninstall"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not installed.exists()
    assert not list(prefix.rglob(f"{APP_ID}*"))


# --- the freedesktop validators, where installed ------------------------------------------


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (Debian/Ubuntu: apt-get install desktop-file-utils appstream)")
    return path


def test_desktop_file_validate():
    proc = subprocess.run([_tool("desktop-file-validate"), str(DESKTOP)], capture_output=True, text=True, timeout=60)
    # Errors and warnings fail; "hint:" lines (style suggestions) are reported but allowed.
    problems = [line for line in proc.stdout.splitlines() if " hint: " not in line]
    assert proc.returncode == 0 and not problems, proc.stdout + proc.stderr


def test_appstreamcli_validate():
    # --no-net: no URL checks (CI has no network); --strict: warnings and infos fail too.
    # Pedantic notes stay allowed: the id has upper-case letters (io.github...CNNPlayground),
    # which the app announces as its desktop file name, as many Flathub apps do.
    proc = subprocess.run(
        [_tool("appstreamcli"), "validate", "--no-net", "--strict", str(METAINFO)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_a_plain_install_carries_the_window_icon(tmp_path):
    """The wheel that a non-editable ``pip install .`` installs holds the icons as package data, where
    ``ui/app.py`` looks for them (next to the package, not in the source checkout)."""
    import zipfile

    # A copy of the sources: the build must not write build/ or *.egg-info into the checkout.
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = (tmp_path / "dist").glob("cnnplayground-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for icon in (ICON_SVG, ICON_SVG_SMALL):
        assert icon.relative_to(REPO).as_posix() in names
    assert "cnnplayground/py.typed" in names
    from cnnplayground.ui.app import resources_dir

    assert resources_dir() == REPO / "cnnplayground" / "resources" and ICON_SVG.parent.parent == resources_dir()


def test_ci_runs_the_readmes_test_command():
    """The README's quick start has exactly two commands, each making the virtual environment first (a
    Debian/Ubuntu Python refuses a bare ``pip install``); ``.ci/run`` runs the second one as written."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)\n```", quick, flags=re.S)
    assert len(commands) == 2 and all("\n" not in c for c in commands), commands
    launch, test = commands
    assert launch.startswith("python3 -m venv .venv && ") and launch.endswith(" && .venv/bin/cnnplayground")
    assert test.startswith("python3 -m venv .venv && ") and test.endswith(" && .venv/bin/python -m pytest")
    assert '-m pip install -e ".[test]"' in test
    ci = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert test in ci, ci
