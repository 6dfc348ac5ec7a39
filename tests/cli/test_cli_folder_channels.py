"""``new``, ``train`` and ``evaluate`` read an image folder of grey images as 1 channel unless ``--channels``
says otherwise (issue 22)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from cnnplayground.cli import main
from cnnplayground.core.inference import infer
from cnnplayground.io.project import load_project, save_project

TRAIN = ["--epochs", "1", "--batch-size", "16", "--device", "cpu", "--no-mixed-precision"]


@pytest.fixture
def grey(tmp_path: Path) -> Path:
    """Fashion-MNIST written as PNG, in small: two classes of 12 grey 28×28 images."""
    root = tmp_path / "grey"
    for label, cls in enumerate(("shirt", "shoe")):
        (root / cls).mkdir(parents=True)
        for i in range(12):
            Image.new("L", (28, 28), 40 + 150 * label + i).save(root / cls / f"{i:02d}.png")
    return root


def test_new_keeps_lenet5s_one_input_channel_for_a_grey_folder(grey, tmp_path, capsys):
    out = tmp_path / "p.cnnp"
    assert main(["new", "lenet5", str(out), "--dataset", "folder", "--data-root", str(grey)]) == 0
    said = capsys.readouterr().out
    assert "input was changed" not in said and "(1×28×28 images, 2 classes)" in said
    project = load_project(out)
    assert infer(project.graph).input_shape == (1, 28, 28) and "channels" not in project.dataset.options


def test_channels_3_on_a_grey_folder_keeps_3(grey, tmp_path, capsys):
    out = tmp_path / "p.cnnp"
    assert main(["new", "lenet5", str(out), "--dataset", "folder", "--data-root", str(grey), "--channels", "3"]) == 0
    project = load_project(out)
    assert infer(project.graph).input_shape == (3, 28, 28) and project.dataset.options == {"channels": 3}
    assert main(["new", "lenet5", str(out), "--force", "--dataset", "folder", "--data-root", str(grey),
                 "--channels", "auto"]) == 0
    assert infer(load_project(out).graph).input_shape == (1, 28, 28)


def test_train_says_the_images_are_grey_and_trains_on_one_channel(grey, tmp_path, capsys):
    out = tmp_path / "p.cnnp"
    assert main(["train", "--preset", "lenet5", "--dataset", "folder", "--data-root", str(grey), *TRAIN,
                 "--save", str(out)]) == 0
    said = capsys.readouterr().out
    assert "image size 28×28, the size of all 24 images; 1 channel (all images are grey)" in said
    assert "input was changed" not in said
    assert infer(load_project(out).graph).input_shape == (1, 28, 28)


def test_a_project_that_read_its_grey_folder_as_colour_still_trains_and_evaluates(grey, tmp_path, capsys):
    out = tmp_path / "old.cnnp"
    assert main(["train", "--preset", "lenet5", "--dataset", "folder", "--data-root", str(grey), "--channels", "3",
                 *TRAIN, "--save", str(out)]) == 0
    project = load_project(out)
    project.dataset.options = {}  # as written before the channels were read from the images (default 3)
    save_project(project, out)
    capsys.readouterr()
    assert main(["evaluate", str(out), "--split", "val"]) == 0
    assert "note: the images are all grey; they are read as 3 channels, the network's input" in \
        capsys.readouterr().err
    assert main(["train", str(out), *TRAIN]) == 0
    assert load_project(out).dataset.options == {"channels": 3}  # saved with the run: read the same next time
