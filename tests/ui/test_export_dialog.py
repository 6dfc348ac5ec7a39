"""File → Export Model (every format, in the background, no silent overwrite) and the two weights imports."""

from __future__ import annotations

import torch
from PySide6.QtWidgets import QMessageBox

from cnnplayground.core.builder import build
from cnnplayground.core.presets import get_preset
from cnnplayground.io.project import weights_from_module
from cnnplayground.project import Project

from .test_inspect_panels import open_project, trained_lenet


def _export(qtbot, dialog, folder, formats):
    for key, box in dialog.boxes.items():
        box.setChecked(key in formats)
    dialog.folder.setText(str(folder))
    dialog.export()
    qtbot.waitUntil(lambda: not dialog.job.running, timeout=120_000)


def test_export_model_writes_every_format_and_asks_before_overwriting(qtbot, window, tmp_path):  # noqa: F811
    _, weights = trained_lenet()
    open_project(window, weights)
    dialog = window.export_model()
    everything = list(dialog.boxes)
    assert everything == ["pytorch", "script", "onnx", "pt2", "card"]
    _export(qtbot, dialog, tmp_path / "out", everything)
    assert all(text.startswith("wrote") for text in dialog.results.values()), dialog.results
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"model.py", "model.safetensors", "train.py", "config.json", "model.onnx", "model.pt2",
            "MODEL_CARD.md"} <= names
    assert "Done." in dialog.log.toPlainText()
    before = (tmp_path / "out" / "model.py").stat().st_mtime_ns
    asked: list = []
    dialog.confirm_overwrite = lambda existing: asked.append(existing) or False
    dialog.export()  # declined: nothing written, no job
    assert asked and "model.py" in asked[0] and not dialog.job.running
    assert (tmp_path / "out" / "model.py").stat().st_mtime_ns == before
    dialog.close()


def test_import_weights_round_trip_undo_and_a_mismatch(qtbot, window, tmp_path, monkeypatch):
    _, weights = trained_lenet()
    open_project(window, weights)
    dialog = window.export_model()
    _export(qtbot, dialog, tmp_path, ["pytorch"])
    dialog.close()
    open_project(window, None)  # the same network, untrained
    monkeypatch.setattr(window, "choose_weights_path", lambda *a: str(tmp_path / "model.safetensors"))
    assert window.import_weights()
    imported = window.document.project.weights
    assert all(torch.equal(imported[k], weights[k]) for k in weights)
    qtbot.waitUntil(lambda: window.model_source.description == "trained weights stored in the project")
    window.document.undo_stack.undo()
    assert window.document.project.weights is None

    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text: warnings.append(text))
    graph = get_preset("lenet5").factory()
    graph.set_params("conv1", {"out_channels": 8})
    window.document.new(Project.new(graph=graph, name="other"))
    assert not window.import_weights()
    assert "conv1.weight" in warnings[0] and "6×1×5×5" in warnings[0] and "8×1×5×5" in warnings[0]
    assert window.document.project.weights is None


def test_import_torchvision_weights_from_a_local_file(qtbot, window, tmp_path, monkeypatch):
    torchvision = __import__("torchvision")
    reference = torchvision.models.resnet18(weights=None)
    torch.save(reference.state_dict(), tmp_path / "resnet18.pth")
    window.document.new(Project.new(graph=get_preset("resnet18").factory(), name="transfer"))
    monkeypatch.setattr("cnnplayground.io.weights_import.local_torchvision_weights", lambda name: None)
    monkeypatch.setattr(window, "choose_torchvision_model", lambda: "resnet18")
    monkeypatch.setattr(window, "choose_weights_path", lambda *a: str(tmp_path / "resnet18.pth"))
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "information", lambda _p, _t, text: shown.append(text))
    assert window.import_torchvision_weights()
    model = build(window.document.graph)
    model.load_state_dict(window.document.project.weights)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), reference.eval()(x))
    assert shown and "resnet18" in shown[0].lower()
    assert window.document.undo_stack.undoText().startswith("Import resnet18")
    assert weights_from_module(model).keys() == window.document.project.weights.keys()


def test_initialize_from_another_project_copies_the_matching_layers(qtbot, window, tmp_path, monkeypatch):
    from cnnplayground.io.project import save_project

    _, weights = trained_lenet()
    base = Project.new(graph=get_preset("lenet5").factory(), name="base")
    base.weights = weights
    save_project(base, tmp_path / "base.cnnp")
    graph = get_preset("lenet5").factory()
    graph.set_params("fc3", {"out_features": 5})  # another classifier: everything else fits
    window.document.new(Project.new(graph=graph, name="derived"))
    monkeypatch.setattr(window, "choose_weights_path", lambda *a: str(tmp_path / "base.cnnp"))
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "information", lambda _p, _t, text: shown.append(text))
    assert window.init_from_project()
    new = window.document.project.weights
    for key in ("layers.conv1.weight", "layers.conv2.weight", "layers.fc1.weight", "layers.fc2.bias"):
        assert torch.equal(new[key], weights[key])
    assert new["layers.fc3.weight"].shape == (5, 84)
    assert "fc3" in shown[0] and "Copied 4 of 5" in shown[0]
    window.document.undo_stack.undo()
    assert window.document.project.weights is None


def test_a_new_export_format_is_one_registry_row(qtbot, window, tmp_path, monkeypatch, capsys):  # noqa: F811
    """The recipe "add an export format": one ExportFormat in export/registry.py appears as a tick box (label,
    tool tip) in File → Export Model, is written by the dialog, and is a choice of ``cnnplayground export``."""
    from pathlib import Path

    from cnnplayground.cli import main
    from cnnplayground.export import registry

    def write_layers(project, out: Path, model) -> list[Path]:
        path = out / "layers.txt"
        path.write_text("\n".join(f"{n.id} {n.kind}" for n in project.graph.iter_nodes()))
        return [path]

    fmt = registry.ExportFormat("layers", "Layer list (layers.txt)", "One line per layer", ("layers.txt",),
                                write_layers)
    monkeypatch.setitem(registry.FORMATS, "layers", fmt)
    open_project(window, None)
    dialog = window.export_model()
    assert dialog.boxes["layers"].text() == "Layer list (layers.txt)"
    assert dialog.boxes["layers"].toolTip() == "One line per layer"
    _export(qtbot, dialog, tmp_path / "gui", ["layers"])
    assert dialog.results == {"layers": "wrote layers.txt"}
    assert (tmp_path / "gui" / "layers.txt").read_text().splitlines()[0] == "input Input"

    assert main(["export", "lenet5", "--format", "layers", "--out", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli" / "layers.txt").read_text().count("\n") == len(get_preset("lenet5").factory().nodes) - 1
    assert "wrote" in capsys.readouterr().out
