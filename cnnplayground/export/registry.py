"""Every export format, declared once: File → Export Model and ``cnnplayground export`` both loop over
:data:`FORMATS`.

A format says what it is called, what it writes and how (``write(project, out, model)`` returns the
paths written). The exporters are imported when a format is written, so a format whose module or
packages are missing raises ``ImportError`` then (the command reports it as not available). Formats
with ``needs_model`` write a network built from the project (its weights, or random weights drawn
from seed 0 when it has none, in evaluation mode), which :func:`built_model` makes once for all of
them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from ..project import Project

#: ``write(project, folder, model)``: the paths written; ``model`` is given when ``needs_model``.
Writer = Callable[["Project", Path, "nn.Module | None"], list[Path]]


@dataclass(frozen=True)
class ExportFormat:
    """One export format: its key (``--format``), label and tool tip (the dialog), files and writer."""

    key: str
    label: str
    tooltip: str
    #: Every file the format may write (``model.safetensors`` only when the project has weights).
    files: tuple[str, ...]
    write: Writer
    #: Ticked in the Export Model dialog the first time.
    default: bool = False
    #: ``write`` takes the network built from the project (:func:`built_model`).
    needs_model: bool = False


#: Images per batch when an exporter runs the network (``torch.export`` traces at batch 2).
EXPORT_BATCH = 2


def check_export_memory(project: Project) -> None:
    """Raise :class:`~cnnplayground.core.memory.NotEnoughMemoryError` unless the network can be built and
    run for export in the memory available (nothing is allocated)."""
    from ..core.memory import check_memory

    check_memory(project.graph, "inference", EXPORT_BATCH)


def built_model(project: Project) -> nn.Module:
    """The project's network with its weights (random weights from seed 0 when it has none), in eval mode;
    the global random generator is left as it was. A network that does not fit in memory is refused
    before it is built (:func:`check_export_memory`)."""
    import torch

    from ..core.builder import build

    check_export_memory(project)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build(project.graph)
    if project.weights is not None:
        model.load_state_dict(project.weights)
    return model.eval()


def _pytorch(project: Project, out: Path, model: nn.Module | None) -> list[Path]:
    from .code import export_pytorch

    return export_pytorch(project, project.weights, out)


def _script(project: Project, out: Path, model: nn.Module | None) -> list[Path]:
    from .script import export_training_script

    return export_training_script(project, out)


def _program(name: str) -> Writer:
    def write(project: Project, out: Path, model: nn.Module | None) -> list[Path]:
        from . import formats

        assert model is not None
        function = getattr(formats, f"export_{name}")
        result = function(model, out / FORMATS[name].files[0], tuple(model.input_shape))
        return [Path(result)]

    return write


def _card(project: Project, out: Path, model: nn.Module | None) -> list[Path]:
    from ..io.atomic import atomic_write_text
    from .card import model_card

    path = out / FORMATS["card"].files[0]
    atomic_write_text(path, model_card(project))
    return [path]


FORMATS: dict[str, ExportFormat] = {
    f.key: f
    for f in (
        ExportFormat("pytorch", "PyTorch code and weights (model.py, model.safetensors)",
                     "A readable nn.Module named after your layers, with a load() helper; no CNN Playground needed",
                     ("model.py", "model.safetensors"), _pytorch, default=True),
        ExportFormat("script", "Training script (train.py, config.json)",
                     "Plain PyTorch; 'python train.py' on one device, 'torchrun --nproc_per_node=N train.py' on "
                     "several", ("train.py", "config.json", "model.py", "model.safetensors"), _script),
        ExportFormat("onnx", "ONNX (model.onnx)", "For ONNX Runtime and other engines; any batch size",
                     ("model.onnx",), _program("onnx"), needs_model=True),
        ExportFormat("pt2", "torch.export program (model.pt2)", "For torch.export.load, AOTInductor and ExecuTorch",
                     ("model.pt2",), _program("pt2"), needs_model=True),
        ExportFormat("card", "Model card (MODEL_CARD.md)",
                     "Architecture, data, training settings and results in Markdown", ("MODEL_CARD.md",), _card,
                     default=True),
    )
}
