"""Every dataset, split, augmentation and training setting has a flag on ``train`` and ``new``, and each one
lands in the saved project; ``new`` writes a project whose dataset fits its preset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from cnnplayground.cli import main
from cnnplayground.cli.setting_flags import FLAGS, GROUPS
from cnnplayground.core.inference import infer
from cnnplayground.core.presets import list_presets
from cnnplayground.data.registry import DATASETS, dataset_info, input_shape_of
from cnnplayground.io.project import load_project
from cnnplayground.project import AugmentConfig, Project, TrainingConfig

#: A value for each flag that differs from every default, and the value the project must then hold.
#: Booleans: the flag that turns the default around. ``--dataset``/``--data-root``/``--test-share`` and
#: ``--channels`` are checked on the image folder (``FOLDER_VALUES``), the rest on the synthetic set.
VALUES: dict[str, tuple[list[str], Any]] = {
    "--image-size": (["20"], 20),
    "--train-size": (["40"], 40),
    "--test-size": (["8"], 8),
    "--synthetic-noise": (["0.05"], 0.05),
    "--val-share": (["0.25"], 0.25),
    "--epochs": (["1"], 1),
    "--batch-size": (["16"], 16),
    "--optimizer": (["sgd"], "sgd"),
    "--lr": (["0.02"], 0.02),
    "--momentum": (["0.8"], 0.8),
    "--nesterov": (["--nesterov"], True),
    "--schedule": (["cosine"], "cosine"),
    "--warmup-epochs": (["0.5"], 0.5),
    "--step-size": (["3"], 3),
    "--step-gamma": (["0.5"], 0.5),
    "--plateau-patience": (["2"], 2),
    "--plateau-factor": (["0.5"], 0.5),
    "--weight-decay": (["0.0005"], 0.0005),
    "--l1": (["1e-05"], 1e-05),
    "--label-smoothing": (["0.1"], 0.1),
    "--class-weights": (["balanced"], "balanced"),
    "--grad-clip": (["2.5"], 2.5),
    "--early-stopping": (["4"], 4),
    "--best-metric": (["val_accuracy"], "val_accuracy"),
    "--keep-best": (["--no-keep-best"], False),
    "--tta-flip": (["--tta-flip"], True),
    "--hflip": (["--hflip"], True),
    "--vflip": (["--vflip"], True),
    "--crop-padding": (["2"], 2),
    "--rotate": (["10"], 10.0),
    "--translate": (["0.1"], 0.1),
    "--color-jitter": (["0.2"], 0.2),
    "--erasing": (["0.25"], 0.25),
    "--noise-std": (["0.05"], 0.05),
    "--adversarial": (["fgsm"], "fgsm"),
    "--adversarial-epsilon": (["0.05"], 0.05),
    "--adversarial-steps": (["3"], 3),
    "--adversarial-fraction": (["0.25"], 0.25),
    "--random-labels": (["0.1"], 0.1),
    "--random-pixels": (["0.1"], 0.1),
    "--device": (["cpu"], "cpu"),
    "--mixed-precision": (["--no-mixed-precision"], False),
    "--compile": (["--no-compile"], False),  # on the CPU, compiling would take long: the default is off
    "--seed": (["7"], 7),
    "--checkpoint-every": (["2"], 2),
    "--snapshot-budget": (["50"], 50),
}
FOLDER_VALUES: dict[str, tuple[list[str], Any]] = {
    "--dataset": (["folder"], "folder"),
    "--channels": (["1"], 1),
    "--image-size": (["12"], 12),
    "--test-share": (["0.25"], 0.25),
    "--val-share": (["0.2"], 0.2),
    "--hflip": (["--hflip"], True),
    "--crop-padding": (["2"], 2),
}


def _argv(values: dict[str, tuple[list[str], Any]]) -> list[str]:
    argv: list[str] = []
    for flag, (words, _) in values.items():
        argv += words if words[0].startswith("--") else [flag, *words]
    return argv


def _stored(project: Project, flag: str) -> Any:
    where, key = next(f.target for f in FLAGS if f.flag == flag)
    if where == "dataset":
        return getattr(project.dataset, key)
    if where == "option":
        return project.dataset.options.get(key)
    if where == "augment":
        return getattr(project.training.augment, key)
    return getattr(project.training, key)


def _check_round_trip(project: Project, values: dict[str, tuple[list[str], Any]]) -> None:
    wrong = {flag: (_stored(project, flag), want) for flag, (_, want) in values.items()
             if _stored(project, flag) != want or type(_stored(project, flag)) is not type(want)}
    assert not wrong, wrong


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Two classes of 12 small colour images each."""
    root = tmp_path / "photos"
    for c, cls in enumerate(("cat", "dog")):
        (root / cls).mkdir(parents=True)
        for i in range(12):
            Image.new("RGB", (16, 16), (40 + 100 * c, 10 * i, 200 - 100 * c)).save(root / cls / f"{i}.png")
    return root


def test_the_flag_table_covers_every_setting_and_dataset_option():
    """A setting added to TrainingConfig/AugmentConfig or an option added to a dataset fails here until
    setting_flags.FLAGS has its flag (and this test's VALUES a value for it)."""
    targets = {f.target for f in FLAGS}
    training = {("training", k) for k in TrainingConfig.model_fields if k != "augment"}
    augment = {("augment", k) for k in AugmentConfig.model_fields}
    options = {("option", k) for info in DATASETS.values() for k in info.options}
    assert training | augment | options | {("dataset", "name"), ("dataset", "root")} == targets
    assert {f.group for f in FLAGS} == set(GROUPS)
    assert set(VALUES) | set(FOLDER_VALUES) | {"--data-root"} == {f.flag for f in FLAGS}


def test_every_field_of_the_windows_settings_form_has_a_flag(qapp):
    from cnnplayground.ui.training.settings_form import FIELDS

    targets = {f.target for f in FLAGS}
    for field in FIELDS:
        where = "option" if field.path[0] == "options" else "augment" if field.path[0] == "augment" else "training"
        assert (where, field.path[-1]) in targets, field.name


@pytest.mark.parametrize("command", ["new", "train"])
def test_every_flag_round_trips_into_the_saved_project(tmp_path, command, capsys):
    out = tmp_path / "p.cnnp"
    if command == "new":
        argv = ["new", "lenet5", str(out), *_argv(VALUES)]
    else:
        argv = ["train", "--preset", "lenet5", *_argv(VALUES), "--save", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    project = load_project(out)
    _check_round_trip(project, VALUES)
    assert project.dataset.name == "synthetic"
    # Nothing else moved: the settings no flag was given for keep their defaults.
    given = {next(f.target for f in FLAGS if f.flag == flag) for flag in VALUES}
    for key, value in TrainingConfig().model_dump().items():
        if ("training", key) not in given and key != "augment":
            assert getattr(project.training, key) == value, key
    if command == "train":
        assert len(project.history) == 1
        assert infer(project.graph).input_shape == (1, 20, 20)  # the preset fitted to --image-size


@pytest.mark.parametrize("command", ["new", "train"])
def test_the_folder_flags_round_trip_into_the_saved_project(tmp_path, image_folder, command, capsys):
    out = tmp_path / "p.cnnp"
    values = {**FOLDER_VALUES, "--data-root": ([str(image_folder)], str(image_folder))}
    if command == "new":
        argv = ["new", "vgg_small", str(out), *_argv(values)]
    else:
        argv = ["train", "--preset", "vgg_small", *_argv(values), "--epochs", "1", "--device", "cpu",
                "--save", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    project = load_project(out)
    _check_round_trip(project, values)
    assert infer(project.graph).input_shape == (1, 12, 12)
    if command == "new":
        assert "its input was changed to 1×12×12" in capsys.readouterr().out
    else:
        # 24 images: a quarter is the test split (6), then a fifth of the rest validates (4), 14 train.
        assert "(14 train / 4 validation images, 1×12×12)" in capsys.readouterr().out


def test_a_flag_given_to_an_existing_project_is_saved_with_it(tmp_path, capsys):
    path = tmp_path / "p.cnnp"
    assert main(["new", "lenet5", str(path), "--train-size", "40", "--test-size", "8"]) == 0
    assert main(["train", str(path), "--epochs", "1", "--hflip", "--crop-padding", "3", "--val-share", "0.3",
                 "--device", "cpu"]) == 0
    project = load_project(path)
    assert project.training.augment.hflip and project.training.augment.crop_padding == 3
    assert project.training.val_fraction == 0.3 and project.training.epochs == 1
    assert project.dataset.options == {"train_size": 40, "test_size": 8}
    assert main(["train", str(path), "--epochs", "1", "--no-hflip", "--device", "cpu"]) == 0
    assert not load_project(path).training.augment.hflip


@pytest.mark.parametrize(("argv", "message"), [
    (["--val-share", "0.9"], "--val-share: input should be less than or equal to 0.5, got 0.9"),
    (["--crop-padding", "17"], "--crop-padding: input should be less than or equal to 16, got 17"),
    (["--val-share", "0", "--early-stopping", "3"],
     "early stopping watches the validation split: set --val-share above 0"),
    (["--image-size", "4"], "--image-size: option 'size' of dataset 'synthetic' must be from 8 to 256, got 4"),
    (["--dataset", "mnist", "--image-size", "32"],
     "--image-size does not apply to the mnist dataset; it applies to: synthetic, synthetic-rgb, folder"),
    (["--test-share", "0.2"], "--test-share does not apply to the synthetic dataset; it applies to: folder"),
])
def test_a_value_out_of_range_is_one_line_naming_the_flag(tmp_path, capsys, argv, message):
    assert main(["new", "lenet5", str(tmp_path / "p.cnnp"), *argv]) == 2
    assert capsys.readouterr().err == f"cnnplayground: {message}\n"
    assert not (tmp_path / "p.cnnp").exists()


def test_another_dataset_keeps_only_the_options_every_dataset_takes(tmp_path, capsys):
    path = tmp_path / "p.cnnp"
    assert main(["new", "lenet5", str(path), "--image-size", "20", "--random-labels", "0.2"]) == 0
    assert main(["new", "lenet5", str(tmp_path / "q.cnnp"), "--dataset", "folder", "--random-labels", "0.2",
                 "--image-size", "20"]) == 0
    assert load_project(tmp_path / "q.cnnp").dataset.options == {"random_labels": 0.2, "size": 20}


def test_help_groups_the_flags_and_says_how_the_splits_are_chosen(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    headings = [line[:-1] for line in text.splitlines() if line and not line.startswith(" ") and line.endswith(":")]
    assert headings[-len(GROUPS) - 1:] == [*GROUPS, "output"]
    flat = " ".join(text.split())
    assert "How the splits are chosen: the torchvision sets and the synthetic sets have their own test split" in flat
    assert "--hflip, --no-hflip" in flat and "--keep-best, --no-keep-best" in flat
    with pytest.raises(SystemExit):
        main(["new", "--help"])
    new_help = capsys.readouterr().out
    assert "splits:" in new_help and "--image-size PX" in new_help and "--save" not in new_help


@pytest.mark.parametrize("preset", [p.name for p in list_presets()])
def test_new_writes_a_dataset_that_fits_the_preset(tmp_path, preset, capsys):
    path = tmp_path / "p.cnnp"
    assert main(["new", preset, str(path)]) == 0
    project = load_project(path)
    result = infer(project.graph)
    assert result.ok and result.input_shape == input_shape_of(project.dataset), project.dataset
    assert result.output_shape == (dataset_info(project.dataset.name).num_classes,)
    assert f"for {project.dataset.name} ({'×'.join(map(str, result.input_shape))} images" in capsys.readouterr().out
