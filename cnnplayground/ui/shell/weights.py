"""File → Import Weights, Initialize from Project and Import torchvision Weights.

Each puts the new weights in the document as one undoable command. Which file and which
torchvision model are asked through the window's ``choose_weights_path`` and
``choose_torchvision_model`` (tests replace those).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QMessageBox

from ...core.errors import UserError
from ...io.project import weights_from_module
from ..document.commands import SetWeights
from ..document.document import Document
from .files import FILE_FILTER

if TYPE_CHECKING:  # pragma: no cover
    from .main_window import MainWindow


def current_weights(document: Document) -> dict:
    """The project's weights, or the network's fresh ones (for layers an import leaves out)."""
    import torch

    from ...core.builder import build
    from ...core.memory import check_memory

    if document.project.weights is not None:
        return dict(document.project.weights)
    check_memory(document.graph, "inference", 1)  # NotEnoughMemoryError (a UserError) before building
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return weights_from_module(build(document.graph))


def import_weights(window: MainWindow) -> bool:
    """A safetensors file (from this app or its code export) into the network."""
    from ...export.code import attribute_names
    from ...io.weights_import import import_safetensors

    document = window.document
    path = window.choose_weights_path("Import Weights", "safetensors weights (*.safetensors)")
    if not path:
        return False
    try:
        weights = import_safetensors(document.graph, path, names=attribute_names(document.graph))
    except (UserError, OSError) as exc:
        QMessageBox.warning(window, "Import Weights", f"The weights were not imported: {exc}")
        return False
    document.push(SetWeights(document, weights, f"Import weights from {Path(path).name}"))
    window.statusBar().showMessage(f"Imported {len(weights)} tensors from {Path(path).name}", 5000)
    return True


def init_from_project(window: MainWindow) -> bool:
    """The matching layers of another project's trained weights."""
    from ...io.transfer import init_from_project as transfer_from

    document = window.document
    path = window.choose_weights_path("Initialize from Project", FILE_FILTER)
    if not path:
        return False
    try:
        weights, report = transfer_from(document.graph, path, fresh=current_weights(document))
    except (UserError, OSError) as exc:
        QMessageBox.warning(window, "Initialize from Project", f"Nothing was copied: {exc}")
        return False
    if not report.copied:
        QMessageBox.information(window, "Initialize from Project", f"Nothing was copied: {report.summary()}")
        return False
    document.push(SetWeights(document, weights, f"Initialize from {Path(path).name}"))
    QMessageBox.information(window, "Initialize from Project", report.summary())
    return True


def import_torchvision_weights(window: MainWindow) -> bool:
    """A transfer-learning start from torchvision weights already on this computer."""
    from ...io.weights_import import import_torchvision, local_torchvision_weights

    document = window.document
    name = window.choose_torchvision_model()
    if not name:
        return False
    path = local_torchvision_weights(name)
    if path is None:
        path = window.choose_weights_path(f"{name} weights (not in torchvision's cache)",
                                          "PyTorch or safetensors weights (*.pth *.pt *.safetensors)")
        if not path:
            return False
    try:
        transfer = import_torchvision(document.graph, name, path)
        weights = {**current_weights(document), **transfer.weights}
    except (UserError, OSError) as exc:
        QMessageBox.warning(window, "Import torchvision Weights", f"The weights were not imported: {exc}")
        return False
    document.push(SetWeights(document, weights, f"Import {name} weights"))
    QMessageBox.information(window, "Import torchvision Weights", transfer.summary())
    return True
