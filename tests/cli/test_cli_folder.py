"""``train`` and ``evaluate`` on an image folder: the splits come from its layout and are printed, the
images are read at their own size unless ``--image-size`` says otherwise, and ``evaluate`` scores test/
(issue 22)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from cnnplayground.cli import main
from cnnplayground.core.inference import infer
from cnnplayground.io.project import load_project, save_project

COLOURS = {"cat": (220, 40, 40), "dog": (40, 220, 40), "owl": (40, 40, 220)}
TRAIN = ["--epochs", "1", "--batch-size", "16", "--device", "cpu", "--no-mixed-precision"]


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """train/ with 20 images of each class, test/ with 10 of cat and dog and none of owl; 16×16 mostly,
    a fifth of them 20×12."""
    root = tmp_path / "pets"
    for split, n in (("train", 20), ("test", 10)):
        for cls, colour in COLOURS.items():
            (root / split / cls).mkdir(parents=True)
            for i in range(0 if (split, cls) == ("test", "owl") else n):
                Image.new("RGB", (16, 16) if i % 5 else (20, 12), colour).save(root / split / cls / f"{i:02d}.png")
    (root / "test" / "owl").rmdir()
    return root


def test_train_prints_the_splits_of_the_folders_layout_and_reads_the_images_at_their_size(layout, tmp_path,
                                                                                          capsys):
    out = tmp_path / "pets.cnnp"
    assert main(["train", "--preset", "lenet5", "--dataset", "folder", "--data-root", str(layout),
                 "--test-share", "0.2", *TRAIN, "--save", str(out)]) == 0
    said = capsys.readouterr().out
    assert ("splits from the folder's layout: train 54 (the rest of train/) · validation 6 (10 % of train/, "
            "stratified by class) · test 20 (test/)") in said
    assert "note: test/ has no images of 'owl'" in said
    assert "note: --test-share is not applied: the folder has test/" in said
    assert "image size 16×16: the most common size (64 of 80 images; the other 16 are scaled and " \
           "center-cropped)" in said
    assert "  cat            18           2          10\n" in said
    assert "  owl            18           2           0\n" in said
    assert "note: LeNet-5 takes 1×28×28 images; its input was changed to 3×16×16, the images of folder" in said
    assert "(54 train / 6 validation images, 3×16×16)" in said
    project = load_project(out)
    assert infer(project.graph).input_shape == (3, 16, 16)
    assert "size" not in project.dataset.options  # 'auto', the default, stays the default

    assert main(["evaluate", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["split"] == "test" and result["images"] == 20  # the images of test/
    assert sum(map(sum, result["confusion"])) == 20 and sum(result["confusion"][2]) == 0


def test_json_output_gives_the_splits_as_notes(layout, capsys):
    assert main(["train", "--preset", "lenet5", "--dataset", "folder", "--data-root", str(layout), *TRAIN,
                 "--json", "--no-save"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    notes = [e["message"] for e in lines if e["event"] == "Note"]
    assert notes[0].startswith("splits from the folder's layout: train 54 (the rest of train/)")
    assert notes[2].startswith("image size 16×16")


@pytest.mark.parametrize("size, stored, shape", [("12", 12, (3, 12, 12)), ("auto", "auto", (3, 16, 16))])
def test_image_size_chooses_another_size_and_is_saved(layout, tmp_path, capsys, size, stored, shape):
    out = tmp_path / "p.cnnp"
    assert main(["train", "--preset", "lenet5", "--dataset", "folder", "--data-root", str(layout),
                 "--image-size", size, *TRAIN, "--save", str(out)]) == 0
    assert ("image size 12×12 (set; each image is scaled and center-cropped to it)" in capsys.readouterr().out) \
        == (size == "12")
    project = load_project(out)
    assert project.dataset.options["size"] == stored and infer(project.graph).input_shape == shape


def test_a_project_trained_at_64_before_reads_its_folder_at_64(layout, tmp_path, capsys):
    """Projects from before issue 22 read folders at 64×64 without saying so in the project."""
    out = tmp_path / "old.cnnp"
    assert main(["train", "--preset", "lenet5", "--dataset", "folder", "--data-root", str(layout),
                 "--image-size", "64", *TRAIN, "--save", str(out)]) == 0
    project = load_project(out)
    project.dataset.options = {}  # what such a project holds
    save_project(project, out)
    capsys.readouterr()
    assert main(["evaluate", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["images"] == 20
    assert "note: the images are read at 64×64, the network's input size" in captured.err
    assert main(["train", str(out), *TRAIN, "--no-save"]) == 2
    assert ("the network takes 3×64×64 images but the folder's images are 3×16×16 at their own size: pass "
            "--image-size 64 to read them at 64×64, or change the Input layer") in capsys.readouterr().err


def test_help_says_how_the_splits_are_chosen(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "An image folder with train/ (and val/, valid/ or validation/, and test/) sub-folders" in text
    assert "from each class (stratified, with --seed)" in text


def test_new_fits_a_preset_to_the_folders_images_and_classes_and_the_project_trains(layout, tmp_path, capsys):
    out = tmp_path / "vgg.cnnp"
    assert main(["new", "vgg_small", str(out), "--dataset", "folder", "--data-root", str(layout)]) == 0
    said = capsys.readouterr().out
    assert "note: Small VGG takes 3×32×32 images; its input was changed to 3×16×16, the images of folder" in said
    assert said.endswith("Small VGG for folder (3×16×16 images, 3 classes)\n")
    result = infer(load_project(out).graph)
    assert result.input_shape == (3, 16, 16) and result.output_shape == (3,)
    assert main(["train", str(out), *TRAIN, "--no-save"]) == 0
