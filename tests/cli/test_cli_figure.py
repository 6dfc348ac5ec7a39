"""``cnnplayground figure``: a panel's figure at a stored epoch, and an animation over the stored epochs
(issue 24), drawn headless by the panels' own widgets."""

from __future__ import annotations

import argparse

import pytest
import torch
from PIL import Image

from cnnplayground.cli import main
from cnnplayground.cli.figure import choose_weights, figure_options
from cnnplayground.io.project import load_project
from cnnplayground.io.project_epochs import snapshot_weights, stored_epochs
from cnnplayground.ui.export.panel_figures import panel_figure

TRAIN = ["--dataset", "synthetic", "--train-size", "320", "--test-size", "0", "--batch-size", "64", "--epochs", "3",
         "--seed", "5"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("figure") / "lenet.cnnp"
    assert main(["train", "--preset", "lenet5", *TRAIN, "--save", str(out)]) == 0
    return out


def _args(project, **given) -> argparse.Namespace:
    values = {"project": str(project), "panel": "kernels", "layer": None, "run": None, "epoch": None,
              "mode": "auto", "scale": "shared", "out": None, "animate": None, "frame_ms": 700, "unit": None,
              "image": 0, "target": None, "position": None, "method": "all", "attack": "fgsm", "epsilon": 0.1,
              "steps": None, "frame_scale": "shared"}
    return argparse.Namespace(**{**values, **given})


def test_the_kernels_at_epoch_k_are_the_stored_tensors(trained):
    project = load_project(trained)
    for epoch in (0, 1, 3):
        args = _args(trained, epoch=epoch, layer="conv2")
        [(_widget, title, values)] = panel_figure(project, "kernels", choose_weights(project, args),
                                                  figure_options(args))
        assert torch.equal(values["weight"], snapshot_weights(project, 0, epoch)["layers.conv2.weight"])
        assert title == (f"LeNet-5 · run 1 · epoch {epoch}{' (the initial weights)' if epoch == 0 else ''} · "
                         "conv2: 16 filters of 6×5×5")


def test_figure_writes_the_panel_at_the_chosen_epoch(trained, tmp_path, capsys):
    pngs = {}
    for epoch in (0, 1, 3):
        pngs[epoch] = tmp_path / f"kernels_{epoch}.png"
        assert main(["figure", str(trained), "--panel", "kernels", "--epoch", str(epoch), "--out",
                     str(pngs[epoch])]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        f"wrote {pngs[0]}: LeNet-5 · run 1 · epoch 0 (the initial weights) · conv1: 6 filters of 1×5×5")
    images = {k: Image.open(p) for k, p in pngs.items()}
    assert all(im.format == "PNG" and im.width >= 600 for im in images.values())
    assert images[0].tobytes() != images[1].tobytes() != images[3].tobytes()  # the filters changed
    assert main(["figure", str(trained), "--panel", "confusion", "--epoch", "1", "--out", str(tmp_path / "c.svg")]) == 0
    svg = (tmp_path / "c.svg").read_text()
    assert svg.startswith("<?xml") and "true class" in svg and "epoch 1" in svg


def test_feature_maps_at_an_epoch_come_from_its_weights(trained, tmp_path, capsys):
    out = {k: tmp_path / f"maps_{k}.png" for k in (0, 3)}
    for epoch, path in out.items():
        assert main(["figure", str(trained), "--panel", "feature-maps", "--layer", "conv1", "--image", "2",
                     "--epoch", str(epoch), "--out", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith(f"wrote {out[3]}: LeNet-5 · run 1 · epoch 3 · conv1: 6 maps of 28×28 for validation "
                               "image 2 (")
    assert Image.open(out[0]).tobytes() != Image.open(out[3]).tobytes()


def test_an_animation_has_one_frame_per_stored_epoch(trained, tmp_path, capsys):
    gif = tmp_path / "kernels.gif"
    assert main(["figure", str(trained), "--panel", "kernels", "--layer", "conv1", "--animate", str(gif)]) == 0
    assert capsys.readouterr().out == f"wrote {gif}: 4 frames (epochs 0, 1, 2, 3)\n"
    epochs = stored_epochs(load_project(trained), 0)
    with Image.open(gif) as im:
        assert im.n_frames == len(epochs) == 4
        frames = []
        for i in range(im.n_frames):
            im.seek(i)
            frames.append(im.convert("RGB").tobytes())
    assert len(set(frames)) == 4  # each epoch its own picture


def test_figure_says_what_is_wrong(trained, tmp_path, capsys):
    assert main(["figure", str(trained), "--panel", "kernels", "--epoch", "9", "--out", str(tmp_path / "x.png")]) == 2
    assert capsys.readouterr().err == "cnnplayground: run 1 keeps no weights of epoch 9; it keeps epochs 0, 1, 2, 3\n"
    assert main(["figure", str(trained), "--panel", "kernels", "--layer", "fc1", "--out", str(tmp_path / "x.png")]) == 2
    assert capsys.readouterr().err == "cnnplayground: no convolution layer 'fc1'; the network has conv1, conv2\n"
    assert main(["figure", str(trained), "--panel", "kernels", "--out", str(tmp_path / "x.gif")]) == 2
    assert "--out writes .png, .svg or .pdf" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
