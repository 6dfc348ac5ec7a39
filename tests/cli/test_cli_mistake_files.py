"""Issue 22: ``evaluate`` names each mistake by its file, and ``--csv`` writes one row per image with its file.

The network is built by hand so that every prediction is known: a 1×8×8 image goes through Flatten and a
Linear layer whose weights are +A for class 0 ("bright") and -A for class 1 ("dark"), so an image brighter
than the training mean is called bright, with confidence sigmoid(2·64·A·(v/255 − mean)/std) for a uniform
image of grey level v.
"""

from __future__ import annotations

import csv
import io
import math

import pytest
import torch
from PIL import Image

from cnnplayground.cli import main
from cnnplayground.core.builder import build
from cnnplayground.core.graph import Graph
from cnnplayground.data.registry import load_dataset
from cnnplayground.io.project import save_project, weights_from_module
from cnnplayground.project import DatasetChoice, Project

A = 0.02
#: Grey level of every image written, by file (relative path): 12 right in each class, 5 mistakes.
LEVELS = {
    **{f"bright/{i:02d}.png": 255 for i in range(12)},
    **{f"dark/{i:02d}.png": 0 for i in range(12)},
    "bright/shadow_5.png": 5, "bright/shadow_60.png": 60,  # dark images in the bright folder
    "dark/glare_200.png": 200, "dark/glare_230.png": 230, "dark/glare_250.png": 250,  # and bright ones in dark
}


def _graph() -> Graph:
    graph = Graph()
    graph.add_node("Input", {"channels": 1, "height": 8, "width": 8}, id="input")
    graph.add_node("Flatten", id="flat")
    graph.add_node("Linear", {"out_features": 2}, id="fc")
    graph.connect("input", "flat")
    graph.connect("flat", "fc")
    return graph


@pytest.fixture
def folder_project(tmp_path):
    """(project path, image folder, mean, std): every image in the train split (no validation or test share)."""
    root = tmp_path / "lights"
    for name, level in LEVELS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", (8, 8), level).save(root / name)
    graph = _graph()
    model = build(graph)
    with torch.no_grad():
        model.layers.fc.weight.copy_(torch.tensor([[A] * 64, [-A] * 64]))
        model.layers.fc.bias.zero_()
    choice = DatasetChoice(name="folder", root=str(root), options={"size": 8, "channels": 1})
    project = Project.new(graph=graph, name="Lights", dataset=choice)
    project.training.val_fraction = 0.0
    project.weights = weights_from_module(model)
    path = tmp_path / "lights.cnnp"
    save_project(project, path)
    data = load_dataset(choice, val_fraction=0.0)
    assert len(data.train) == len(LEVELS) and data.class_names == ("bright", "dark")
    return path, root, data.mean[0], data.std[0]


def _expected(level: int, mean: float, std: float) -> tuple[str, float]:
    """(predicted class, confidence) of a uniform image of grey ``level``."""
    z = 2 * 64 * A * (level / 255 - mean) / std
    return ("bright", 1 / (1 + math.exp(-z))) if z > 0 else ("dark", 1 / (1 + math.exp(z)))


def test_evaluate_top_names_each_mistake_by_its_file_most_confident_first(folder_project, capsys):
    path, _, mean, std = folder_project
    assert main(["evaluate", str(path), "--split", "train", "--device", "cpu", "--top", "10"]) == 0
    out = capsys.readouterr().out
    shown = out.split("most confident mistakes:\n", 1)[1].splitlines()
    mistakes = sorted(((name, *_expected(level, mean, std)) for name, level in LEVELS.items()
                       if _expected(level, mean, std)[0] != name.split("/")[0]), key=lambda m: -m[2])
    assert [m[0] for m in mistakes] == ["bright/shadow_5.png", "dark/glare_250.png", "dark/glare_230.png",
                                        "bright/shadow_60.png", "dark/glare_200.png"]
    assert shown == [f"  {name:<20}  true {name.split('/')[0]:<6}  → predicted {pred:<6}  ({conf:.1%})"
                     for name, pred, conf in mistakes]
    assert "accuracy 82.76%" in out  # 24 of 29


def test_evaluate_json_names_the_file_of_each_mistake(folder_project, capsys):
    import json

    path, *_ = folder_project
    assert main(["evaluate", str(path), "--split", "train", "--device", "cpu", "--top", "2", "--json"]) == 0
    mistakes = json.loads(capsys.readouterr().out)["mistakes"]
    assert [(m["file"], m["true"], m["predicted"]) for m in mistakes] == [
        ("bright/shadow_5.png", 0, 1), ("dark/glare_250.png", 1, 0)]


def test_evaluate_csv_has_one_row_per_image_with_its_file(folder_project, tmp_path, capsys):
    path, _, mean, std = folder_project
    table = tmp_path / "results.csv"
    assert main(["evaluate", str(path), "--split", "train", "--device", "cpu", "--csv", str(table)]) == 0
    assert f"per-image results (29 rows) written to {table}" in capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(table.read_text(encoding="utf-8"))))
    assert list(rows[0]) == ["index", "file", "true", "predicted", "confidence"]
    assert sorted(r["file"] for r in rows) == sorted(LEVELS)  # every image once, by its path in the folder
    assert [int(r["index"]) for r in rows] == list(range(29))
    for row in rows:
        assert row["true"] == row["file"].split("/")[0]  # the class folder of the file
        predicted, confidence = _expected(LEVELS[row["file"]], mean, std)
        assert row["predicted"] == predicted
        assert float(row["confidence"]) == pytest.approx(confidence, abs=2e-6)
    assert sum(r["true"] != r["predicted"] for r in rows) == 5
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # written atomically


def test_evaluate_csv_of_a_set_without_files_has_no_file_column(tmp_path, capsys):
    from cnnplayground.core.presets import get_preset

    graph = get_preset("lenet5").factory()
    project = Project.new(graph=graph, name="Shapes", dataset=DatasetChoice(name="synthetic", options={"size": 28}))
    project.weights = weights_from_module(build(graph))
    path = tmp_path / "shapes.cnnp"
    save_project(project, path)
    table = tmp_path / "shapes.csv"
    assert main(["evaluate", str(path), "--device", "cpu", "--top", "1", "--csv", str(table)]) == 0
    out = capsys.readouterr().out
    assert out.split("most confident mistakes:\n", 1)[1].startswith("  #")  # by position: there is no file
    rows = list(csv.DictReader(io.StringIO(table.read_text(encoding="utf-8"))))
    assert list(rows[0]) == ["index", "true", "predicted", "confidence"] and len(rows) > 0


def test_evaluate_refuses_a_folder_as_csv_before_evaluating(folder_project, tmp_path, capsys):
    path, *_ = folder_project
    assert main(["evaluate", str(path), "--device", "cpu", "--split", "train", "--csv", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing was evaluated
    assert captured.err == f"cnnplayground: cannot write {tmp_path}: it is a folder; choose another --csv file\n"
