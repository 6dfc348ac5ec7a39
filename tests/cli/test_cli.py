"""The command line: summary of presets and project files, new projects, the demo."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cnnplayground.cli import main
from cnnplayground.io.project import load_project


def test_summary_lenet5_prints_the_table(capsys):
    assert main(["summary", "lenet5"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("Layer"))
    assert header.split() == ["Layer", "Kind", "Settings", "Output", "shape", "Params", "Receptive", "field"]
    shapes = [s for s in ("6×28×28", "6×14×14", "16×10×10", "16×5×5", "400", "120", "84", "10")]
    positions = [out.index(f" {s} ") for s in shapes]
    assert positions == sorted(positions), "shapes must appear in layer order"
    assert "Total parameters: 61,706" in out
    assert "48,120" in out  # fc1: 400·120 + 120


def test_python_dash_m_runs_the_same_cli():
    proc = subprocess.run([sys.executable, "-m", "cnnplayground", "summary", "alexnet"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Total parameters: 60,965,224" in proc.stdout


def test_unknown_target_is_one_clear_line(capsys):
    assert main(["summary", "lenet6"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cnnplayground: 'lenet6' is neither a project file nor a preset (presets: ")
    assert "lenet5" in err and "\n" not in err


def test_new_then_summary_of_the_project_file(tmp_path, capsys):
    path = tmp_path / "r18.cnnp"
    assert main(["new", "resnet18", str(path)]) == 0
    assert main(["summary", str(path)]) == 0
    # torchvision's ResNet-18 (11,689,512 parameters) with a head for the 10 classes of the synthetic
    # colour set that fits its 3×224×224 input: 11,689,512 − 512·1000 − 1000 + 512·10 + 10.
    assert "Total parameters: 11,181,642" in capsys.readouterr().out
    assert main(["new", "resnet18", str(path)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err


def test_summary_of_a_broken_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "broken.cnnp"
    path.write_bytes(b"PK\x03\x04 this is not a zip")
    assert main(["summary", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "broken.cnnp" in err


def test_summary_reports_errors_and_exit_code_1(tmp_path, capsys):
    from cnnplayground.core.graph import Graph
    from cnnplayground.io.project import save_project
    from cnnplayground.project import Project

    g = Graph()
    g.add_node("Input", {"channels": 1, "height": 28, "width": 28}, id="input")
    g.add_node("Linear", {"out_features": 10}, id="fc")
    g.connect("input", "fc")
    path = tmp_path / "bad.json"
    save_project(Project.new(graph=g, name="bad"), path)
    assert main(["summary", str(path)]) == 1
    assert "fc: Linear expects a flat input, got 1×28×28: insert Flatten" in capsys.readouterr().out


def test_presets_lists_every_preset_with_its_size(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "138,357,544 params" in out and "61,706 params" in out


def test_train_json_events_then_save_and_evaluate(tmp_path, capsys):
    out = tmp_path / "trained.cnnp"
    # 2,700 training images (not the default 18,000) in small batches: as many steps as it needs to learn.
    code = main(["train", "--preset", "lenet5", "--dataset", "synthetic", "--epochs", "2", "--device", "cpu",
                 "--batch-size", "32", "--train-size", "3000", "--test-size", "1000", "--json", "--save", str(out)])
    assert code == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "RunStarted" and kinds.count("EpochFinished") == 2 and kinds[-2:] == ["Finished", "Note"]
    epochs = [e for e in events if e["event"] == "EpochFinished"]
    assert epochs[1]["val_accuracy"] > 0.5  # far above chance (10 %) after two epochs
    assert events[-1]["message"] == f"saved {out}"

    project = load_project(out)
    assert project.weights is not None and len(project.history) == 1
    run = project.history[0]
    assert run.series["val_accuracy"].y == [e["val_accuracy"] for e in epochs]
    assert run.settings["epochs"] == 2 and run.settings["dataset"] == "synthetic"

    assert main(["evaluate", str(out), "--json", "--top", "3"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["images"] == 1000 and 0.5 < result["accuracy"] <= 1.0
    assert sum(map(sum, result["confusion"])) == 1000 and len(result["mistakes"]) == 3


def test_training_a_project_writes_it_back_with_a_second_run(tmp_path, capsys):
    path = tmp_path / "p.cnnp"
    assert main(["new", "lenet5", str(path)]) == 0
    for _ in range(2):
        assert main(["train", str(path), "--epochs", "1", "--device", "cpu", "--train-size", "500"]) == 0
    out = capsys.readouterr().out
    assert "epoch 1/1" in out and f"saved {path}" in out
    assert [r.name for r in load_project(path).history] == ["run 1", "run 2"]


def test_train_refuses_a_network_that_does_not_fit_the_data(tmp_path, capsys):
    path = tmp_path / "rgb.cnnp"
    assert main(["new", "vgg11_cifar", str(path)]) == 0
    assert main(["train", str(path), "--dataset", "synthetic", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "the network takes 3×32×32 images but synthetic has 1×28×28: change the Input layer" in err


def test_evaluate_needs_weights_and_missing_datasets_say_where(tmp_path, capsys):
    path = tmp_path / "p.cnnp"
    assert main(["new", "lenet5", str(path)]) == 0
    assert main(["evaluate", str(path)]) == 2
    assert "has no trained weights: train it first" in capsys.readouterr().err
    assert main(["train", "--dataset", "cifar10", "--data-root", str(tmp_path / "nothing"), "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert str(tmp_path / "nothing") in err and "\n" not in err


def test_json_events_are_plain_json_numbers(capsys):
    assert main(["train", "--preset", "lenet5", "--epochs", "1", "--device", "cpu", "--batch-size", "64",
                 "--train-size", "2000", "--json", "--no-save"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    steps = [e for e in events if e["event"] == "StepFinished"]
    assert steps and all(isinstance(e["loss"], float) and isinstance(e["accuracy"], float) for e in steps)


def test_bad_settings_are_one_line_messages(capsys):
    assert main(["train", "--lr", "0", "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cnnplayground: --lr: ") and "greater than 0" in err and "\n" not in err
    try:
        main(["summary", "lenet5", "--batch-size", "-5"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "must be at least 1, got -5" in capsys.readouterr().err


def test_the_cli_without_a_command_prints_help(capsys):
    assert main([]) == 0
    assert "usage: cnnplayground" in capsys.readouterr().out


def test_adversarial_training_options_reach_the_run_and_bad_values_name_the_option(tmp_path, capsys):
    from cnnplayground.io.project import save_project
    from cnnplayground.project import DatasetChoice

    path = tmp_path / "adv.cnnp"
    assert main(["new", "lenet5", str(path)]) == 0
    project = load_project(path)
    project.dataset = DatasetChoice(name="synthetic", options={"train_size": 300, "test_size": 0})
    save_project(project, path)
    capsys.readouterr()
    assert main(["train", str(path), "--epochs", "1", "--device", "cpu", "--batch-size", "64", "--adversarial",
                 "pgd", "--adversarial-epsilon", "0.05", "--adversarial-steps", "2",
                 "--adversarial-fraction", "0.25"]) == 0
    assert "adversarial PGD-2 ε 0.05 on 25% of each batch" in capsys.readouterr().out
    trained = load_project(path)
    t = trained.training
    assert (t.adversarial, t.adversarial_epsilon, t.adversarial_steps, t.adversarial_fraction) == ("pgd", 0.05, 2, 0.25)
    assert trained.history[-1].settings["adversarial"] == "pgd"

    assert main(["train", str(path), "--adversarial", "fgsm", "--adversarial-epsilon", "0", "--no-save"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cnnplayground: --adversarial-epsilon: ") and "greater than 0" in err


def test_train_help_names_every_dataset_of_the_registry(capsys):
    """``--dataset``'s help is written out (the command starts without importing torch); it lists exactly
    the registry's datasets, so a new dataset (data/registry.py) fails here until the help names it."""
    from cnnplayground.data.registry import DATASETS

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    listed = text.rsplit("--dataset DATASET ", 1)[1].split(" --data-root", 1)[0]
    assert [name.strip() for name in listed.split(",")] == list(DATASETS)


def _pets(root, broken: int = 1):
    from PIL import Image

    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (10, 8), (40 * i, 100, 200)).save(root / cls / f"{i}.png")
    for i in range(broken):
        (root / "cat" / f"broken{i}.png").write_bytes(b"not an image")
    return root


def test_train_on_a_folder_says_which_files_were_skipped(tmp_path, capsys):
    """Issue 21: a damaged image stopped the load (and some decoder errors escaped as tracebacks); now it
    is skipped, and train and evaluate say so on stderr."""
    root = _pets(tmp_path / "pets", broken=3)
    out = tmp_path / "pets.cnnp"
    assert main(["train", "--preset", "lenet5", "--dataset", "folder", "--data-root", str(root), "--epochs", "1",
                 "--image-size", "64", "--device", "cpu", "--save", str(out)]) == 0  # 10×8 is too small for LeNet-5
    err = capsys.readouterr().err.splitlines()
    assert ("warning: skipped 3 unreadable files: first cat/broken0.png (not a readable PNG, JPEG, BMP, GIF, WebP "
            "or TIFF image)") in err
    assert main(["evaluate", str(out), "--split", "val"]) == 0
    assert "warning: skipped 3 unreadable files: first cat/broken0.png" in capsys.readouterr().err


def test_train_streams_a_folder_larger_than_memory_and_refuses_it_in_one_line_without_disk_room(
        tmp_path, capsys, monkeypatch):
    import shutil
    from types import SimpleNamespace

    from cnnplayground.data import folder, stream

    # Injected: 100 KB available to the image folder (the network's own check sees the machine's memory).
    monkeypatch.setattr(folder, "memory", SimpleNamespace(available_memory=lambda device="cpu": 100 * 2**10))
    monkeypatch.setenv("CNNPLAYGROUND_CACHE", str(tmp_path / "cache"))

    def train(root) -> int:
        return main(["train", "--preset", "lenet5", "--dataset", "folder", "--data-root", str(root), "--epochs", "1",
                     "--image-size", "64", "--device", "cpu", "--no-save"])  # 10×8 is too small for LeNet-5

    assert train(_pets(tmp_path / "pets", broken=0)) == 0
    err = capsys.readouterr().err
    assert err.startswith("note: the images do not fit in memory; they are streamed from a cache on disk\n"
                          "  scanning the image folder: 8 of 8 (100%)\n"
                          "  decoding images into the cache: 8 of 8 (100%)\n"), err
    monkeypatch.setattr(stream.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(2**30, 2**30, 10 * 2**10))
    root = _pets(tmp_path / "more", broken=0)
    assert train(root) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"cnnplayground: image folder {root} needs 192 KB of memory (8 images at 64×64×3); 100 KB is available, and "
        f"streaming it from disk fails: its cache needs 192 KB of disk in {tmp_path / 'cache' / 'folders'}, where "
        "10 KB is free: free disk space, set CNNPLAYGROUND_CACHE to a larger disk, or choose a smaller image size or "
        "fewer images")
