"""``cnnplayground figures`` (issue 26): a run's figure set in a folder with an index.html. A tiny LeNet-5 on
synthetic shapes, 2 epochs (3 stored: 0 to 2); cheap panel options (2 optimization steps)."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from helpers import latex_missing
from PIL import Image

from cnnplayground.cli import main
from cnnplayground.data.loader import DeviceLoader
from cnnplayground.data.registry import load_dataset
from cnnplayground.export.figure_set import FigureResult, file_stem, index_html, parse_epochs, slug
from cnnplayground.export.panel_options import FigureWeights
from cnnplayground.io import atomic
from cnnplayground.io.project import load_project
from cnnplayground.io.project_epochs import snapshot_weights
from cnnplayground.train.evaluate import evaluate
from cnnplayground.ui.export.figure_set import EPOCH_PANELS, MANIFEST, FigureSet, SetRequest
from cnnplayground.ui.export.panel_figures import model_of

TRAIN = ["--dataset", "synthetic", "--train-size", "256", "--test-size", "0", "--batch-size", "64", "--epochs", "2",
         "--seed", "5"]
FORMATS = ("svg", "png", "pdf")


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("set") / "lenet.cnnp"
    assert _run(["train", "--preset", "lenet5", *TRAIN, "--save", str(path)])[0] == 0
    return path


@pytest.fixture(scope="module")
def written(trained, tmp_path_factory):
    """The whole set at epochs 0 and the last (2): (folder, stdout)."""
    folder = tmp_path_factory.mktemp("figures") / "set"
    code, out, err = _run(["figures", str(trained), "--out", str(folder), "--epochs", "0,last", "--steps", "2"])
    assert code == 0, err
    return folder, out


class _Page(HTMLParser):
    """The links, images, tags and text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: set[str] = set()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.captions: list[str] = []
        self._in_caption = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("href", "src") and value and not value.startswith("#"):
                self.links.add(value)
        if tag == "figcaption":
            self._in_caption += 1
            self.captions.append("")

    def handle_endtag(self, tag):
        if tag == "figcaption":
            self._in_caption -= 1

    def handle_data(self, data):
        self.text.append(data)
        if self._in_caption:
            self.captions[-1] += data


def _page(folder: Path) -> _Page:
    page = _Page()
    page.feed((folder / "index.html").read_text(encoding="utf-8"))
    page.close()
    return page


def _expected_stems() -> list[str]:
    stems = [file_stem(4, "confusion", "", 0), file_stem(5, "confusion", "", 2)]
    number = 6
    for epoch in (0, 2):
        for panel in EPOCH_PANELS:
            detail = "conv1" if panel in ("kernels", "feature-maps") else ""
            stems.append(file_stem(number, panel, detail, epoch))
            number += 1
    return stems


def test_the_set_holds_every_figure_in_every_format(written):
    folder, out = written
    stems = _expected_stems()
    assert stems[2] == "06_kernels_conv1_epoch0" and stems[-1] == "21_top-patches_epoch2"
    diagrams = {f"{s}.{f}" for s in ("01_architecture_flow", "02_architecture_block", "03_curves")
                for f in (*FORMATS, "tex")}
    names = {p.name for p in folder.iterdir()}
    assert names == {f"{s}.{f}" for s in stems for f in FORMATS} | diagrams | {"index.html", "index.md", MANIFEST}
    for tex in folder.glob("*.tex"):  # TikZ, pgfplots (compiled by their own tests where a LaTeX is installed)
        source = tex.read_text(encoding="utf-8")
        assert "\\begin{tikzpicture}" in source and "\\end{tikzpicture}" in source
    assert "\\begin{axis}" in (folder / "03_curves.tex").read_text(encoding="utf-8")
    # One progress line per figure, then the summary.
    lines = out.splitlines()
    assert [line.split("]")[0] for line in lines[:-1]] == [f"[{k:>2}/21" for k in range(1, 22)]
    assert lines[-1] == f"wrote {folder / 'index.html'}: 21 figures of LeNet-5 · run 1 · synthetic, 66 files"


def test_every_file_opens_and_every_svg_renders(written):
    folder, _ = written
    cairosvg = pytest.importorskip("cairosvg")
    for svg in sorted(folder.glob("*.svg")):
        data = svg.read_bytes()
        assert ET.fromstring(data).tag.endswith("svg"), svg.name
        with Image.open(io.BytesIO(cairosvg.svg2png(bytestring=data))) as drawn:
            grey = np.asarray(drawn.convert("L"))
        assert len(np.unique(grey)) > 10, f"{svg.name} draws a blank page"
    for png in sorted(folder.glob("*.png")):
        with Image.open(png) as image:
            image.verify()
            assert image.format == "PNG" and image.width >= 300
    for pdf in folder.glob("*.pdf"):
        assert pdf.read_bytes().startswith(b"%PDF")
    assert not list(folder.glob(".*.tmp"))


def test_the_index_links_exactly_the_files_written(written):
    folder, _ = written
    page = _page(folder)
    assert "script" not in page.tags and "link" not in page.tags  # self-contained: no script, no style sheet
    files = {p.name for p in folder.iterdir()} - {"index.html", "index.md", MANIFEST}
    assert page.links == files
    markdown = (folder / "index.md").read_text(encoding="utf-8")
    assert set(re.findall(r"\]\(([^)]+)\)", markdown)) == files
    text = " ".join(page.text)
    headings = re.findall(r"<h2>(.*?)</h2>", (folder / "index.html").read_text(encoding="utf-8"))
    assert headings == ["Architecture", "Training curves", "Results", "Panels before training (epoch 0)",
                        "Panels after epoch 2"]
    assert "Architecture of LeNet-5, flow diagram" in text


def test_the_captions_hold_the_evaluations_numbers(written, trained):
    folder, _ = written
    project = load_project(trained)
    data = load_dataset(project.dataset, val_fraction=project.training.val_fraction, seed=project.training.seed)
    captions = _page(folder).captions
    loss, accuracy = project.history[0].series["val_loss"].y, project.history[0].series["val_accuracy"].y
    [curves] = [c for c in captions if c.startswith("Loss and accuracy of run 1 per epoch: ")]
    assert (f"validation loss {loss[0]:.3f} after epoch 1, {loss[1]:.3f} after epoch 2 (lowest {min(loss):.3f} after "
            f"epoch {1 + loss.index(min(loss))}); validation accuracy {accuracy[0] * 100:.1f} % after epoch 1, "
            f"{accuracy[1] * 100:.1f} % after epoch 2") in curves
    for epoch in (0, 2):
        state = snapshot_weights(project, 0, epoch)
        model = model_of(FigureWeights(project.history[0].epochs.graph, state, "", epoch))
        loader = DeviceLoader(data.val, mean=data.mean, std=data.std, batch_size=512, device="cpu", shuffle=False)
        result = evaluate(model, loader, data.num_classes)
        when = "before training (epoch 0)" if epoch == 0 else f"after epoch {epoch}"
        [caption] = [c for c in captions if c.startswith(f"Confusion matrix of run 1 {when} ")]
        assert (f"Confusion matrix of run 1 {when} on the {result.count:,} validation images: "
                f"{result.accuracy * 100:.1f} % accuracy") in caption
        confusion = result.confusion.numpy().copy()
        np.fill_diagonal(confusion, 0)
        true, predicted = np.unravel_index(confusion.argmax(), confusion.shape)
        names = data.class_names
        assert f"most confused: {names[true]} → {names[predicted]} ({confusion.max()})" in caption
        weight = state["layers.conv1.weight"] if "layers.conv1.weight" in state else state["conv1.weight"]
        [kernels] = [c for c in captions if c.startswith("Kernels of conv1") and when in c]
        assert f"Kernels of conv1, 6 filters of 1×5×5, {when}; colour scale ±{float(weight.abs().max()):.3g}." \
            in kernels


def test_every_figure_is_the_paper_width_or_says_why_not(written):
    """A PNG is the style's width × 300 dpi (paper: 3.5 in), or as wide as its caption says the panel needs
    (three images side by side do not fit 3.5 in at 8 pt: wider, never clipped)."""
    folder, _ = written
    page = (folder / "index.html").read_text(encoding="utf-8")
    for caption, png in re.findall(r"<figcaption>(.*?)<br><span class='files'><a href='([^']+\.png)'", page):
        if png.startswith(("01_", "02_", "03_")):
            continue  # the diagrams: as wide as the network needs
        wide = re.search(r"Drawn ([0-9.]+) in wide", caption)
        inches = float(wide.group(1)) if wide else 3.5
        with Image.open(folder / png) as image:
            assert image.width == round(inches * 300), (png, caption)


def test_both_epochs_have_every_panel(written):
    folder, _ = written
    for panel in EPOCH_PANELS:
        for epoch in (0, 2):
            assert len(list(folder.glob(f"*_{panel}_*epoch{epoch}.png"))) == 1
    captions = [c for c in _page(folder).captions if not c.startswith("Loss and accuracy")]  # the curves: every epoch
    assert sum("before training (epoch 0)" in c for c in captions) == 1 + len(EPOCH_PANELS)
    assert sum("after epoch 2" in c for c in captions) == 1 + len(EPOCH_PANELS)


def test_an_epoch_the_run_did_not_keep_is_named(trained, tmp_path):
    code, out, err = _run(["figures", str(trained), "--out", str(tmp_path / "x"), "--epochs", "7"])
    assert code == 2 and out == ""
    assert err == "cnnplayground: run 1 keeps no weights of epoch 7; it keeps epochs 0, 1, 2\n"
    assert not (tmp_path / "x").exists()
    with pytest.raises(SystemExit) as exit_, contextlib.redirect_stderr(io.StringIO()) as err_out:
        main(["figures", str(trained), "--out", str(tmp_path / "x"), "--epochs", "0,soon"])
    assert exit_.value.code == 2
    assert "epochs are numbers or 'last', separated by commas (0,5,last), not 'soon'" in err_out.getvalue()


def test_hostile_names_are_text_in_the_index(trained, tmp_path):
    project = load_project(trained)
    project.name = '<script>alert("project")</script>'
    project.history[0].name = "<img src=x onerror=alert(1)>"
    figure_set = FigureSet(project, SetRequest(tmp_path / "s", kinds=("kernels",)))
    list(figure_set.steps())
    page = _page(tmp_path / "s")
    assert "script" not in page.tags
    assert all(link in {p.name for p in (tmp_path / "s").iterdir()} for link in page.links)  # no src=x
    text = "".join(page.text)
    assert '<script>alert("project")</script> · <img src=x onerror=alert(1)> · synthetic' in text
    markdown = (tmp_path / "s" / "index.md").read_text(encoding="utf-8")
    assert not re.search(r"(?<!\\)<", markdown)  # every < escaped: Markdown shows it as text
    assert r"\<img src=x onerror=alert(1)\>" in markdown


def test_index_escapes_every_string():
    results = [FigureResult("<b>sec</b>", "<i>t</i>", "caption & <script>x</script>", files=["a'b.png"]),
               FigureResult("Results", "k", skipped="<script>no</script>")]
    page = _Page()
    page.feed(index_html("<script>t</script>", ["<meta>"], results))
    assert page.tags.count("script") == 0 and "i" not in page.tags and "meta" in page.tags  # the charset's only
    assert "a'b.png" in page.links
    assert "caption & <script>x</script>" in "".join(page.text)


def test_names_and_epochs():
    assert slug("conv1") == "conv1" and slug("a/b c:d") == "a-b-c-d" and slug("../..") == "x"
    assert file_stem(2, "kernels", "conv1", 10) == "02_kernels_conv1_epoch10"
    assert parse_epochs("0, 1,last,1") == [0, 1, "last"]
    with pytest.raises(ValueError, match="not -1"):
        parse_epochs("-1")


def test_a_network_without_convolutions_skips_with_its_reason(tmp_path):
    project_path = tmp_path / "mlp.cnnp"
    assert _run(["train", "--preset", "mlp", *TRAIN[:-4], "--epochs", "1", "--seed", "5",
                 "--save", str(project_path)])[0] == 0
    code, out, err = _run(["figures", str(project_path), "--out", str(tmp_path / "s"), "--steps", "2"])
    assert code == 0, err
    assert "not drawn: Kernels, after epoch 1: this network has no convolution layer: it has no kernels to draw" \
        in out
    page = _page(tmp_path / "s")
    text = " ".join(page.text)
    assert "Kernels, after epoch 1" in text and "not drawn: this network has no convolution layer" in text
    assert [p.name for p in (tmp_path / "s").glob("*_confusion_epoch1.png")] == ["04_confusion_epoch1.png"]
    assert not list((tmp_path / "s").glob("*kernels*"))


def test_cancel_leaves_whole_files_and_an_index(trained, tmp_path):
    figure_set = FigureSet(load_project(trained), SetRequest(tmp_path / "s", epochs=[0, 1, 2],
                                                             kinds=("confusion", "kernels")))
    assert len(figure_set.entries) == 6
    steps = figure_set.steps()
    next(steps), next(steps)
    figure_set.cancel()
    assert list(steps) == []
    names = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert names == sorted([f"{s}.{f}" for s in ("01_confusion_epoch0", "02_confusion_epoch1") for f in FORMATS]
                           + ["index.html", "index.md", MANIFEST])
    assert "Cancelled after 2 of 6 figures." in " ".join(_page(tmp_path / "s").text)


def _set(trained, folder: Path, epochs: list[int], cancel_after: int | None = None) -> FigureSet:
    figure_set = FigureSet(load_project(trained), SetRequest(folder, epochs=epochs, kinds=("confusion",)))
    for done, _ in enumerate(figure_set.steps(), start=1):
        if done == cancel_after:
            figure_set.cancel()
    return figure_set


def test_a_new_set_in_the_same_folder_replaces_the_old_one_and_nothing_else(trained, tmp_path):
    """A second set in a folder left the first set's figures beside it, which its index did not show. A finished
    set now removes the files the earlier set's manifest lists and it did not write again; a cancelled one keeps
    them; nothing else is touched (the user's own files, names that lead outside the folder, links, folders)."""
    folder = tmp_path / "set"
    first = _set(trained, folder, [0, 1, 2])
    assert len(first.written) == 9 and first.removed == 0
    (folder / "notes.txt").write_text("mine")
    second = _set(trained, folder, [2])
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted([f"01_confusion_epoch2.{f}" for f in FORMATS] + ["index.html", "index.md", MANIFEST,
                                                                             "notes.txt"])
    assert second.removed == 9  # the first set's three figures in three formats
    assert "Replaced the figure set that was in this folder (9 of its files removed)." in " ".join(
        _page(folder).text)
    manifest = json.loads((folder / MANIFEST).read_text())
    assert sorted(manifest["files"]) == sorted(n for n in names if n != "notes.txt")

    third = _set(trained, folder, [0, 1], cancel_after=1)  # cancelled: the second set's figure stays
    assert third.removed == 0 and (folder / "01_confusion_epoch2.png").exists()
    assert "01_confusion_epoch2.png" in json.loads((folder / MANIFEST).read_text())["files"]  # removed later

    outside = tmp_path / "outside.txt"
    outside.write_text("not the set's")
    (folder / "sub").mkdir()
    (folder / "link.png").symlink_to(outside)
    hostile = ["../outside.txt", str(outside), ".hidden", "sub", "link.png", "a/b", "C:notes.txt", "notes.txt.",
               7, None, "x" * 300]
    (folder / MANIFEST).write_text(json.dumps({"format": "cnnplayground figure set", "files": hostile}))
    for name in (".hidden", "C:notes.txt", "notes.txt."):
        (folder / name).write_text("not the set's")
    assert _set(trained, folder, [2]).removed == 0
    assert outside.read_text() == "not the set's" and (folder / "sub").is_dir() and (folder / "link.png").is_symlink()
    assert all((folder / name).exists() for name in (".hidden", "C:notes.txt", "notes.txt.", "notes.txt"))
    (folder / MANIFEST).write_text(json.dumps({"files": ["notes.txt"]}))  # another program's figures.json
    assert _set(trained, folder, [2]).removed == 0 and (folder / "notes.txt").exists()
    for damaged in ("{not json", "[" * 100_000):  # damaged, or nested past the parser's depth: ignored
        (folder / MANIFEST).write_text(damaged)
        assert _set(trained, folder, [2]).removed == 0


def test_a_stale_name_that_differs_from_a_written_one_only_in_case_is_kept(tmp_path):
    """On a case-insensitive disk (macOS, Windows) ``A.png`` of the old set is the ``a.png`` just written."""
    from cnnplayground.ui.export.figure_set import remove_files

    (tmp_path / "A.png").write_bytes(b"new")
    (tmp_path / "old.png").write_bytes(b"old")
    assert remove_files(tmp_path, ["A.png", "old.png"], keep=["a.png"]) == 1
    assert (tmp_path / "A.png").exists() and not (tmp_path / "old.png").exists()


def test_a_full_disk_is_one_line_and_leaves_no_partial_file(trained, tmp_path, monkeypatch):
    """The fourth file's rename fails with ENOSPC (simulated: a real full disk is not made in a test)."""
    real_replace, calls = atomic.os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 4:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)
    folder = tmp_path / "s"
    code, out, err = _run(["figures", str(trained), "--out", str(folder), "--epochs", "0,1", "--only", "confusion"])
    assert code == 2
    assert err == (f"cnnplayground: could not write {folder.resolve() / '02_confusion_epoch1.svg'}: No space left on "
                   "device; the 3 files written before it are whole\n")
    assert out.startswith("[1/2] 01_confusion_epoch0 (svg, png, pdf)")
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"01_confusion_epoch0.{f}" for f in ("pdf", "png", "svg")]  # no temporary file, no half file


def test_an_unwritable_folder_is_one_line(trained, tmp_path, monkeypatch):
    """Tests run as root, to whom permissions do not apply: the refusal is simulated."""
    def refuse(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(Path, "mkdir", refuse)
    code, out, err = _run(["figures", str(trained), "--out", str(tmp_path / "no" / "s")])
    assert (code, out) == (2, "")
    assert err == f"cnnplayground: cannot make the folder {tmp_path / 'no' / 's'}: Permission denied\n"


def test_the_launcher_routes_figures_to_the_command_line():
    from cnnplayground.app import CLI_COMMANDS, wants_cli

    assert "figures" in CLI_COMMANDS and wants_cli(["figures", "x.cnnp", "--out", "figs"])


def test_a_paper_column_confusion_shows_every_class_accuracy_whole(trained, tmp_path, monkeypatch):
    """At 3.5 in the per-class accuracies go under the matrix: beside it, their bars and percentages were cut at
    the column's edge (their scroll area narrower than its content)."""
    from PySide6.QtWidgets import QSplitter

    figure_set = FigureSet(load_project(trained), SetRequest(tmp_path / "s", kinds=("confusion",)))
    drawn = []
    real = figure_set.write_widget
    monkeypatch.setattr(figure_set, "write_widget", lambda widget, style=None: drawn.append(widget) or
                        real(widget, style))
    list(figure_set.steps())
    [widget] = drawn
    [split] = widget.findChildren(QSplitter)
    bars = split.widget(1)
    content = bars.widget()  # what the scroll area shows of it is all there is of it
    assert content.width() <= bars.viewport().width() and content.height() <= bars.viewport().height()
    assert bars.viewport().height() >= content.sizeHint().height()
    corner = bars.mapTo(widget, bars.rect().bottomRight())
    assert corner.x() < widget.width() and corner.y() < widget.height()


def test_a_panel_is_drawn_as_wide_and_tall_as_its_parts_need(trained, tmp_path, monkeypatch):
    """Occlusion's two maps and their colour bars need more than 3.5 in at 8 pt: the figure is drawn as wide as
    they need (its caption says so), never narrower than its parts (which would cut them at the edge); and as
    tall as they need at that width (the top images' grid wraps into more rows in a column)."""
    from cnnplayground.export.panel_options import FigureOptions
    from cnnplayground.ui.inspect.imaging import ImageGrid

    figure_set = FigureSet(load_project(trained), SetRequest(tmp_path / "s", kinds=("occlusion", "kernels",
                                                                                   "adversarial", "top-patches"),
                                                             options=FigureOptions(steps=2)))
    drawn = []
    real = figure_set.write_widget
    monkeypatch.setattr(figure_set, "write_widget", lambda widget, style=None: drawn.append((widget, style)) or
                        real(widget, style))
    results = [step.result for step in figure_set.steps()]
    for widget, style in drawn:  # tall enough at the width drawn (the style keeps the widget's proportions)
        width = round(style.width_in * 96)
        height = width * widget.height() / widget.width()
        assert height >= widget.minimumSizeHint().height() - 1
        if widget.findChildren(ImageGrid):  # the top images' grid wraps into rows
            assert height >= widget.layout().totalHeightForWidth(width) - 1
    (kernels, kernels_style), (occlusion, occlusion_style), *_ = drawn
    assert kernels_style.width_in == 3.5 and "Drawn" not in results[0].caption
    assert occlusion.minimumSizeHint().width() <= occlusion_style.width_in * 96
    assert occlusion_style.width_in > 3.5
    assert results[1].caption.endswith(f"Drawn {occlusion_style.width_in:g} in wide: the panel's parts need more "
                                       "than the paper style's 3.5 in.")
    with Image.open(tmp_path / "s" / "02_occlusion_epoch2.png") as png:
        assert png.width == round(occlusion_style.width_in * 300)


@pytest.mark.parametrize("stem", ["01_architecture_flow", "02_architecture_block", "03_curves"])
def test_the_sets_tikz_and_pgfplots_compile(written, tmp_path, stem):
    if latex_missing():
        pytest.skip(latex_missing())
    folder, _ = written
    shutil.copy(folder / f"{stem}.tex", tmp_path / f"{stem}.tex")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape",
                           f"{stem}.tex"], cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:]
    assert (tmp_path / f"{stem}.pdf").stat().st_size > 1000


def test_only_the_curves_work_without_a_display_in_a_fresh_process(trained, tmp_path):
    """The curves are the first figure drawn when asked alone: the command must start its offscreen Qt itself
    (it aborted in Qt with no display when only the diagrams did)."""
    import os
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    done = subprocess.run([sys.executable, "-m", "cnnplayground", "figures", str(trained), "--out",
                           str(tmp_path / "set"), "--only", "curves"], capture_output=True, text=True, env=env,
                          timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-2000:]
    written = sorted(p.name for p in (tmp_path / "set").iterdir())
    assert {"01_curves.png", "01_curves.svg", "01_curves.pdf", "01_curves.tex", "index.html"} <= set(written), written
