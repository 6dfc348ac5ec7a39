"""The help dialogs, one module each: About, the preset gallery, the layer reference, the
keyboard shortcuts, the network summary and Train in the Terminal."""

from .about import AboutDialog, about_info, training_device
from .presets import PresetGallery, compact_count, graph_thumbnail
from .reference import LayerReferenceDialog, layer_reference_html
from .shortcuts import ShortcutsDialog, shortcut_rows
from .summary import SummaryDialog
from .terminal import TrainCommandDialog, train_command

__all__ = [
    "AboutDialog",
    "LayerReferenceDialog",
    "PresetGallery",
    "ShortcutsDialog",
    "SummaryDialog",
    "TrainCommandDialog",
    "about_info",
    "compact_count",
    "graph_thumbnail",
    "layer_reference_html",
    "shortcut_rows",
    "train_command",
    "training_device",
]
