"""``cnnplayground import``: a PyTorch model as a project file, or the list of what cannot be imported."""

from __future__ import annotations

import pytest
import torch
import torchvision

from cnnplayground.app import wants_cli
from cnnplayground.cli import main
from cnnplayground.core.builder import build
from cnnplayground.io.project import load_project

MODEL = '''
import torch
from torch import nn
from torch.nn import functional as F


class Net(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv(x)), 2)
        return self.fc(x.view(x.size(0), -1))


class Sine(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return torch.sin(self.conv(x)).mean()
'''


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "models.py"
    path.write_text(MODEL)
    return path


def test_importing_a_class_writes_a_project_with_its_weights(tmp_path, model_file, capsys):
    out = tmp_path / "net.cnnp"
    code = main(["import", f"{model_file}:Net", str(out), "--args", '{"num_classes": 7}', "--input-shape", "3,16,16"])
    assert code == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"wrote {out}: Net, 5 layers, 1,911 parameters, input 3×16×16 (traced with torch.fx)")
    # The synthetic set at the network's input size: the project trains as it is.
    assert "dataset: synthetic-rgb at 3×16×16" in printed
    project = load_project(out)
    assert project.dataset.name == "synthetic-rgb" and project.dataset.options == {"size": 16}
    assert project.name == "Net" and [n.kind for n in project.graph.nodes.values()] == [
        "Input", "Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear"]
    net = build(project.graph)
    net.load_state_dict(project.weights)
    assert net(torch.zeros(2, 3, 16, 16)).shape == (2, 7)


def test_a_torchvision_model_comes_with_its_initial_weights(tmp_path, capsys):
    out = tmp_path / "squeeze.cnnp"
    assert main(["import", "torchvision:squeezenet1_1", str(out), "--input-shape", "3,64,64",
                 "--args", '{"num_classes": 5}']) == 0
    assert "squeezenet1_1, 66 layers, 725,061 parameters, input 3×64×64" in capsys.readouterr().out
    project = load_project(out)
    reference = torchvision.models.squeezenet1_1(num_classes=5)
    assert sum(t.numel() for t in project.weights.values()) == sum(t.numel() for t in reference.state_dict().values())


def test_a_large_import_gets_a_batch_size_that_fits_the_memory(tmp_path, capsys, monkeypatch):
    """ResNet-18 at 3×224×224 needs several GB to train at batch 128: on a machine with 4 GB available (injected)
    the project gets the largest power-of-two batch whose training needs at most half of it, and says so
    (an imported ResNet-50 opened in the window as 'its network was not built' on an 18.6 GB machine)."""
    from cnnplayground.core import memory

    monkeypatch.setattr(memory, "available_memory", lambda device="cpu": 4 * 2**30)
    out = tmp_path / "r18.cnnp"
    assert main(["import", "torchvision:resnet18", str(out), "--input-shape", "3,224,224"]) == 0
    printed = capsys.readouterr().out
    project = load_project(out, load_weights=False)
    size = project.training.batch_size
    assert size < 128 and f"note: batch size {size}, so that training fits this machine's memory" in printed
    need = memory.memory_need(project.graph, "training", size).total
    assert need <= 2 * 2**30 < memory.memory_need(project.graph, "training", 2 * size).total


def test_what_cannot_be_imported_is_listed_with_its_line_and_nothing_is_written(tmp_path, model_file, capsys):
    out = tmp_path / "sine.cnnp"
    code = main(["import", f"{model_file}:Sine", str(out), "--input-shape", "3,8,8"])
    assert code == 1 and not out.exists() and not list(tmp_path.glob("*.cnnp*"))
    err = capsys.readouterr().err.splitlines()
    # The mean depends on the sine: it is not listed again.
    assert err == [
        "cnnplayground: Sine cannot be imported; nothing was written. 1 part has no layer on the canvas:",
        "  models.py:24: return torch.sin(self.conv(x)).mean(): torch.sin: no layer on the canvas computes it",
    ]


@pytest.mark.parametrize(("argv", "message"), [
    (["--args", "{num_classes: 3}"], "--args is not JSON"),
    (["--args", "[1, 2]"], "--args must be a JSON object"),
    (["--input-shape", "3,16"], "--input-shape must be three positive numbers"),
    (["--input-shape", "3,0,16"], "--input-shape must be three positive numbers"),
])
def test_bad_options_are_one_line(tmp_path, model_file, capsys, argv, message):
    assert main(["import", f"{model_file}:Net", str(tmp_path / "x.cnnp"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"cnnplayground: {message}") and err.count("\n") == 1


def test_a_file_without_input_shape_asks_for_it_and_an_existing_output_needs_force(tmp_path, model_file, capsys):
    assert main(["import", f"{model_file}:Net", str(tmp_path / "x.cnnp")]) == 2
    assert "Net does not say what size of image it takes: give --input-shape C,H,W" in capsys.readouterr().err
    existing = tmp_path / "there.cnnp"
    existing.write_text("keep")
    assert main(["import", f"{model_file}:Net", str(existing), "--input-shape", "3,16,16"]) == 2
    assert "exists; pass --force" in capsys.readouterr().err and existing.read_text() == "keep"


def test_the_help_says_the_file_is_executed(capsys):
    assert wants_cli(["import"])
    with pytest.raises(SystemExit):
        main(["import", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "the file is executed as Python: import only code you trust" in help_text
    assert "torchvision:NAME" in help_text and "FILE.pt2" in help_text and "nothing is written" in help_text
