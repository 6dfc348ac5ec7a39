"""Importing PyTorch models onto the canvas (io/model_import.py): torchvision's classifiers, hand-written modules
of several styles, refusals that name the source line, the export → import round trip and exported programs."""

from __future__ import annotations

import inspect

import pytest
import torch
import torchvision
from torch import nn
from torch.nn import functional as F

from cnnplayground.core.builder import build
from cnnplayground.core.graph import Graph
from cnnplayground.core.inference import infer
from cnnplayground.core.presets import PRESETS
from cnnplayground.io.model_import import (
    ImportResult,
    ModelImportError,
    fitting_dataset,
    import_module,
    import_program,
    import_source,
    load_source,
)

SIDE = 64
MERGE_KINDS = {"Add", "Concat", "Multiply"}


def _randomize_statistics(module: nn.Module) -> nn.Module:
    """Random batch-norm statistics and affine values, so that they change the logits if they were lost."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 1.5)
                m.num_batches_tracked.fill_(7)
                if m.affine:
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.2, 0.2)
    return module.eval()


def _imported_net(result: ImportResult) -> nn.Module:
    assert result.ok, result.problems
    net = build(result.graph)
    net.load_state_dict(result.weights)
    return net.eval()


def _max_diff(result: ImportResult, module: nn.Module, shape: tuple[int, ...], batch: int = 2) -> float:
    x = torch.randn(batch, *shape)
    with torch.no_grad():
        return float((_imported_net(result)(x) - module.eval()(x)).abs().max())


# --- torchvision ----------------------------------------------------------------------------------

TORCHVISION = [
    pytest.param("resnet18", {}, id="resnet18"),
    pytest.param("resnet50", {}, id="resnet50", marks=pytest.mark.slow),
    pytest.param("vgg16", {}, id="vgg16", marks=pytest.mark.slow),
    pytest.param("alexnet", {}, id="alexnet"),
    pytest.param("mobilenet_v2", {}, id="mobilenet_v2"),
    pytest.param("squeezenet1_0", {}, id="squeezenet1_0"),
    pytest.param("densenet121", {}, id="densenet121", marks=pytest.mark.slow),
    pytest.param("efficientnet_b0", {}, id="efficientnet_b0"),
    # Without the auxiliary heads: they run only in training, so an evaluation trace leaves them out.
    pytest.param("googlenet", {"aux_logits": False, "init_weights": True}, id="googlenet"),
    pytest.param("mobilenet_v3_small", {}, id="mobilenet_v3_small"),
]


@pytest.mark.parametrize(("name", "kwargs"), TORCHVISION)
def test_a_torchvision_classifier_imports_with_its_parameters_and_logits(name, kwargs):
    torch.manual_seed(0)
    module = _randomize_statistics(torchvision.models.get_model(name, weights=None, **kwargs))
    result = import_module(module, (3, SIDE, SIDE), name=name).require()
    expected = sum(p.numel() for p in module.parameters())
    assert result.params == result.source_params == expected == infer(result.graph).total_params
    # Every parameter and buffer comes along (batch-norm statistics and counters included).
    assert len(result.weights) == len(module.state_dict())
    assert sum(t.numel() for t in result.weights.values()) == sum(t.numel() for t in module.state_dict().values())
    tracked = [v for k, v in result.weights.items() if k.endswith("num_batches_tracked")]
    assert all(int(v) == 7 for v in tracked)
    assert _max_diff(result, module, (3, SIDE, SIDE)) <= 1e-5
    # Laid out: no two nodes share a position.
    positions = [n.position for n in result.graph.nodes.values()]
    assert len(set(positions)) == len(positions)


def test_node_ids_follow_the_modules_attribute_names():
    module = torchvision.models.resnet18(weights=None)
    graph = import_module(module, (3, SIDE, SIDE)).require().graph
    assert {"input", "conv1", "bn1", "layer1_0_conv1", "layer1_0_bn2", "layer1_0_add", "layer2_0_downsample_0",
            "layer4_1_relu_2", "fc", "avgpool", "flatten"} <= set(graph.nodes)
    assert graph.inputs_of("layer2_0_add") == ["layer2_0_bn2", "layer2_0_downsample_1"]
    assert graph.node("layer1_0_conv1").params["kernel_size"] == 3
    assert graph.node("maxpool").params == {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 1,
                                            "ceil_mode": False}


def test_depthwise_convolution_ceil_mode_and_gating_keep_their_settings():
    mobilenet = import_module(torchvision.models.mobilenet_v3_small(weights=None), (3, SIDE, SIDE)).require()
    kinds = {n.kind for n in mobilenet.graph.nodes.values()}
    assert {"Hardswish", "Hardsigmoid", "Multiply", "ReLU"} <= kinds
    depthwise = mobilenet.graph.node("features_1_block_0_0").params
    assert depthwise["groups"] == 16 and depthwise["out_channels"] == 16
    squeeze = import_module(torchvision.models.squeezenet1_0(weights=None), (3, SIDE, SIDE)).require()
    assert squeeze.graph.node("features_2").params["ceil_mode"] is True
    assert squeeze.graph.node("features_3_concat").kind == "Concat"


# --- hand-written modules -----------------------------------------------------------------------------


class FunctionalLeNet(nn.Module):
    """Functional calls and view-flattening, the classic tutorial style."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.avg_pool2d(torch.tanh(self.conv2(x)), kernel_size=2, stride=2)
        x = x.view(x.size(0), -1)
        x = F.dropout(F.relu(self.fc1(x)), p=0.25, training=self.training)
        x = torch.sigmoid(self.fc2(x))
        return self.fc3(x)


class SequentialNet(nn.Module):
    """``nn.Sequential`` blocks, BatchNorm, LeakyReLU/ELU/GELU/PReLU, nn.Flatten."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.LeakyReLU(0.2),
            nn.Conv2d(8, 8, 3, stride=2, padding=(1, 1), groups=8), nn.ELU(0.5), nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(8, 12, 1), nn.PReLU(12), nn.Dropout2d(0.1), nn.GELU(approximate="tanh"),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d((2, 2)), nn.Flatten(), nn.Linear(48, 5), nn.ReLU6())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class Residual(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding="same")
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.bn(self.conv(x)))


class BranchNet(nn.Module):
    """A residual add, a concat branch, torch.add, squeeze-and-excitation with ``*``, mean pooling."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.block = Residual(8)
        self.left = nn.Conv2d(8, 4, 1)
        self.right = nn.Conv2d(8, 4, 3, padding=1)
        self.squeeze = nn.Conv2d(8, 2, 1)
        self.excite = nn.Conv2d(2, 8, 1)
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block(self.stem(x))
        x = torch.cat([self.left(x), self.right(x)], dim=1)
        gate = torch.sigmoid(self.excite(F.silu(self.squeeze(F.adaptive_avg_pool2d(x, 1)))))
        x = torch.add(x * gate, x)
        x = x.mean((2, 3))
        return self.fc(x)


class ReshapeNet(nn.Module):
    """``reshape(x.shape[0], -1)``, ``torch.flatten``, a functional conv reading the module's own parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4, 2, 3, 3) * 0.2)
        self.bias = nn.Parameter(torch.randn(4) * 0.1)
        self.fc = nn.Linear(4 * 6 * 6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.weight, self.bias, stride=1, padding=0)
        x = torch.flatten(F.hardswish(x), 1).reshape(x.shape[0], -1)
        return self.fc(x)


HAND_WRITTEN = [(FunctionalLeNet, (1, 28, 28), 13), (SequentialNet, (3, 16, 16), 14), (BranchNet, (3, 10, 10), 18),
                (ReshapeNet, (2, 8, 8), 4)]


@pytest.mark.parametrize(("cls", "shape", "layers"), HAND_WRITTEN, ids=[c[0].__name__ for c in HAND_WRITTEN])
def test_hand_written_modules_import_with_their_weights(cls, shape, layers):
    torch.manual_seed(1)
    module = _randomize_statistics(cls())
    result = import_module(module, shape).require()
    assert result.layers == layers
    assert result.params == sum(p.numel() for p in module.parameters())
    assert _max_diff(result, module, shape, batch=3) <= 1e-5
    assert result.method == "torch.fx"


def test_the_functional_and_merge_forms_become_their_layer_kinds():
    graph = import_module(BranchNet(), (3, 10, 10)).require().graph
    kinds = {nid: n.kind for nid, n in graph.nodes.items()}
    assert kinds["block_add"] == "Add" and graph.inputs_of("block_add") == ["stem", "block_bn"]
    assert kinds["concat"] == "Concat" and graph.inputs_of("concat") == ["left", "right"]
    assert kinds["mul"] == "Multiply" and kinds["add"] == "Add"
    assert [kinds["pool"], kinds["pool_2"], kinds["flatten"]] == ["AdaptiveAvgPool2d", "AdaptiveAvgPool2d", "Flatten"]
    lenet = import_module(FunctionalLeNet(), (1, 28, 28)).require().graph
    assert lenet.node("drop").params == {"p": 0.25}


class ShapeBranch(nn.Module):
    """Python control flow on a size: fx cannot trace it, torch.export can (for the given input size)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 7 * 7, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if x.shape[-1] > 8:
            x = self.pool(x)
        return self.fc(x.view(x.size(0), -1))


def test_code_fx_cannot_trace_goes_through_torch_export():
    torch.manual_seed(2)
    module = ShapeBranch()
    result = import_module(module, (1, 16, 16)).require()
    assert result.method == "torch.export"
    assert [n.kind for n in result.graph.nodes.values()] == ["Input", "Conv2d", "MaxPool2d", "Flatten", "Linear"]
    assert {"conv", "pool", "fc"} <= set(result.graph.nodes)
    assert _max_diff(result, module, (1, 16, 16)) <= 1e-5


# --- refusals -------------------------------------------------------------------------------------------


class DataLoop(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(int(x.abs().sum()) % 3 + 1):  # a data-dependent count
            x = self.conv(x)
        return x


class Recurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.rnn = nn.LSTM(4 * 6 * 6, 8)
        self.fc = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.conv(x), 1)
        x, _ = self.rnn(x)
        return self.fc(x)


class Softmaxed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.softmax(self.fc(torch.flatten(x, 1)), dim=1)


class Shared(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.shared = nn.Conv2d(1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shared(self.shared(x))


class Transposed(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(2, 3)


def _line_of(cls: type, text: str) -> int:
    lines, first = inspect.getsourcelines(cls)
    return first + next(i for i, line in enumerate(lines) if text in line)


def test_a_loop_over_a_data_dependent_count_is_refused_with_its_line():
    result = import_module(DataLoop(), (1, 8, 8))
    assert not result.ok and result.graph is None and result.weights is None
    [problem] = result.problems
    assert problem.where == f"test_model_import.py:{_line_of(DataLoop, 'range(int(')}: " \
        "for _ in range(int(x.abs().sum()) % 3 + 1): # a data-dependent count"
    assert "control flow depends on the values of a tensor" in problem.reason
    with pytest.raises(ModelImportError, match="DataLoop cannot be imported: 1 operation has no layer"):
        result.require()


def test_an_lstm_is_refused_with_its_line_and_what_depends_on_it_is_not_listed_again():
    result = import_module(Recurrent(), (1, 8, 8))
    [lstm] = result.problems  # the Linear after it is not listed: it is blocked by the LSTM
    assert lstm.what == "nn.LSTM 'rnn'"
    assert lstm.where == f"test_model_import.py:{_line_of(Recurrent, 'self.rnn(x)')}: x, _ = self.rnn(x)"
    assert "recurrent layers (nn.LSTM) have no layer on the canvas" in lstm.reason
    transposed = import_module(Transposed(), (1, 4, 4)).problems
    assert [str(p) for p in transposed] == [
        f"test_model_import.py:{_line_of(Transposed, 'transpose')}: return x.transpose(2, 3): tensor.transpose: "
        "no layer on the canvas computes it"]


def test_softmax_and_shared_weights_are_refused_with_what_to_do():
    [softmax] = import_module(Softmaxed(), (1, 4, 4)).problems
    assert softmax.what == "F.softmax" and "return the logits" in softmax.reason
    [shared] = import_module(Shared(), (1, 4, 4)).problems
    assert shared.what == "nn.Conv2d 'shared'"
    assert "called twice, sharing its weights (first as 'shared')" in shared.reason


def test_a_bad_input_shape_is_one_message():
    with pytest.raises(ModelImportError, match="three positive numbers"):
        import_module(SequentialNet(), (3, 0, 8))
    result = import_module(FunctionalLeNet(), (1, 8, 8))  # too small for conv2: named on the layer
    assert [p.what for p in result.problems] == ["nn.Conv2d 'conv2'"]
    assert result.problems[0].reason == "Conv2d: kernel 5 is larger than the input height 4"


def test_the_project_gets_the_synthetic_set_at_the_input_size_when_it_can_be_generated():
    from cnnplayground.data.registry import input_shape_of

    for shape, name in [((1, 28, 28), "synthetic"), ((3, 32, 32), "synthetic-rgb"), ((3, 64, 64), "synthetic-rgb")]:
        assert input_shape_of(fitting_dataset(shape)) == shape and fitting_dataset(shape).name == name
    for shape in [(3, 224, 224), (3, 32, 48), (2, 32, 32)]:  # too large to generate, not square, 2 channels
        assert fitting_dataset(shape) is None
    result = import_module(FunctionalLeNet(), (1, 28, 28)).require()
    assert result.project().dataset.options == {"size": 28} and result.dataset_note() is None
    big = import_module(torchvision.models.alexnet(weights=None), (3, 224, 224)).require()
    assert big.project().dataset.name == "synthetic"  # the default: the note says what to do
    assert big.dataset_note() == ("no built-in dataset gives 3×224×224 images: choose one (an image folder at "
                                  "that size) before training")


# --- sources ----------------------------------------------------------------------------------------------

MODEL_FILE = '''
import torch
from torch import nn

INPUT_SHAPE = (1, 12, 12)


class Tiny(nn.Module):
    def __init__(self, classes: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.fc = nn.Linear(2 * 10 * 10, classes)

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.conv(x)), 1))
'''


def test_a_python_file_source_is_constructed_with_args_and_its_input_shape(tmp_path):
    path = tmp_path / "tiny.py"
    path.write_text(MODEL_FILE)
    loaded = load_source(f"{path}:Tiny", {"classes": 7})
    assert loaded.input_shape == (1, 12, 12) and loaded.name == "Tiny"
    result = import_source(f"{path}:Tiny", {"classes": 7})
    assert result.graph.node("fc").params["out_features"] == 7
    for source, message in [(f"{path}:Nope", "tiny.py has no Nope \\(it defines Tiny\\)"),
                            (f"{tmp_path}/missing.py:Tiny", "is not a file"),
                            ("torchvision:resnet19", "no classification model 'resnet19'; did you mean"),
                            ("model.h5", "name path/to/file.py:ClassName, torchvision:NAME, a .pt2 file or an "
                                         ".onnx file")]:
        with pytest.raises(ModelImportError, match=message):
            load_source(source)
    with pytest.raises(ModelImportError, match="cannot be built with"):
        load_source("torchvision:resnet18", {"colour": 1})


# --- round trip and exported programs -------------------------------------------------------------------


def _structure(graph: Graph) -> list[tuple]:
    """The graph in topological order: kind, parameters and inputs of each node, merges named by their place."""
    order = infer(graph).order
    names = {nid: (f"merge{i}" if graph.nodes[nid].kind in MERGE_KINDS else nid) for i, nid in enumerate(order)}
    return [(names[nid], graph.nodes[nid].kind, graph.nodes[nid].params, tuple(names[s] for s in graph.inputs_of(nid)))
            for nid in order]


@pytest.mark.parametrize("preset", ["resnet18", "lenet5"])
def test_exported_code_imports_as_the_same_graph_with_the_same_weights(tmp_path, preset):
    from cnnplayground.export.code import export_pytorch
    from cnnplayground.io.project import weights_from_module
    from cnnplayground.project import Project

    graph = PRESETS[preset].factory()
    net = _randomize_statistics(build(graph))
    project = Project.new(graph, name=preset)
    project.weights = weights_from_module(net)
    export_pytorch(project, None, tmp_path)
    loaded = load_source(f"{tmp_path / 'model.py'}:Net")
    loaded.module.load_state_dict(__import__("safetensors.torch").torch.load_file(str(tmp_path / "model.safetensors")))
    result = import_module(loaded.module, loaded.input_shape).require()
    assert _structure(result.graph) == _structure(graph)
    assert set(result.graph.nodes) == set(graph.nodes)  # merges too: their ids are in the code's comments
    def wires(g: Graph) -> list[tuple[str, str, int]]:
        return sorted((e.source, e.target, e.port) for e in g.edges)

    assert wires(result.graph) == wires(graph)
    assert result.weights.keys() == project.weights.keys()
    for key, value in project.weights.items():
        assert torch.equal(result.weights[key], value), key


def test_an_exported_lenet5_program_imports_with_equal_logits(tmp_path):
    from cnnplayground.export.formats import export_pt2

    net = _randomize_statistics(build(PRESETS["lenet5"].factory()))
    path = export_pt2(net, tmp_path / "lenet.pt2")
    result = import_source(str(path))
    assert result.method == "torch.export" and result.input_shape == (1, 28, 28)
    assert [n.kind for n in result.graph.nodes.values()] == [n.kind for n in PRESETS["lenet5"].factory().nodes.values()]
    program = torch.export.load(str(path)).module()
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        assert float((_imported_net(result)(x) - program(x)).abs().max()) <= 1e-5


@pytest.mark.slow
def test_an_exported_resnet18_program_imports_with_equal_logits(tmp_path):
    from cnnplayground.export.formats import export_pt2

    torch.manual_seed(3)
    module = _randomize_statistics(torchvision.models.resnet18(weights=None))
    path = export_pt2(module, tmp_path / "resnet18.pt2", input_shape=(3, SIDE, SIDE))
    result = import_program(torch.export.load(str(path)), name="resnet18").require()
    assert result.params == sum(p.numel() for p in module.parameters())
    assert {"conv1", "layer1_0_conv1", "layer1_0_bn1", "layer1_0_add", "fc"} <= set(result.graph.nodes)
    assert _max_diff(result, module, (3, SIDE, SIDE)) <= 1e-5


def test_a_file_that_is_no_program_is_one_message(tmp_path):
    path = tmp_path / "broken.pt2"
    path.write_bytes(b"not a zip")
    with pytest.raises(ModelImportError, match=r"broken.pt2 is not an exported program \(.pt2\), or it is damaged"):
        load_source(str(path))


def test_merge_ids_come_back_from_exported_code_also_when_the_comment_is_above_a_long_line(tmp_path):
    from cnnplayground.export.code import export_pytorch

    g = Graph()
    g.add_node("Input", {"channels": 2, "height": 6, "width": 6}, id="input")
    branches = [f"a_rather_long_branch_name_number_{i}" for i in range(4)]
    for b in branches:
        g.add_node("Conv2d", {"out_channels": 2, "kernel_size": 3, "padding": 1}, id=b)
        g.connect("input", b)
    g.add_node("Concat", {}, id="joined_branches")
    for port, b in enumerate(branches):
        g.connect(b, "joined_branches", port)
    g.add_node("Conv2d", {"out_channels": 2, "kernel_size": 1}, id="squeeze")
    g.connect("joined_branches", "squeeze")
    g.add_node("Multiply", {}, id="gate")
    g.connect("squeeze", "gate", 0)
    g.connect(branches[0], "gate", 1)
    g.add_node("Add", {}, id="skip")
    g.connect("gate", "skip", 0)
    g.connect(branches[1], "skip", 1)
    export_pytorch(g, None, tmp_path)
    source = (tmp_path / "model.py").read_text()
    assert "    # joined_branches -> 8×6×6\n" in source  # the long concat line has its comment above it
    result = import_module(load_source(f"{tmp_path / 'model.py'}:Net").module, (2, 6, 6)).require()
    assert set(result.graph.nodes) == set(g.nodes)
    assert [result.graph.nodes[n].kind for n in ("joined_branches", "gate", "skip")] == ["Concat", "Multiply", "Add"]
