"""What a panel's headless figure shows: the choices (:class:`FigureOptions`) and the weights of each frame
(:class:`FigureWeights`), plain data without Qt, so that the CLI (``cnnplayground figure``) and any other
caller describe a figure without argparse. ``ui/export/panel_figures.py`` draws it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The panels a figure can be drawn of, by their command-line names.
PANELS = ("kernels", "feature-maps", "receptive-field", "occlusion", "max-activation", "top-patches",
          "attribution", "adversarial", "confusion")
#: Attribution methods (``--method``): all three side by side, or one.
METHODS = ("all", "saliency", "gradcam", "ig")
#: Adversarial attacks (``--attack``), as the Adversarial panel names them.
ATTACKS = ("fgsm", "fgsm_targeted", "pgd", "pgd_l2")


@dataclass(frozen=True)
class FigureOptions:
    """The panel's choices; None: the panel's default. Each panel uses those that make sense for it.

    ``layer``: a node id. ``unit``: a channel of the layer. ``image``: a validation image's index.
    ``target``: a class index (the class explained, attacked towards, maximized or searched for).
    ``position``: ``(row, col)`` of the receptive field's unit (default: the map's centre). ``steps``:
    integrated-gradients points, PGD steps or maximization steps. ``frame_scale``: ``"shared"``: one colour
    scale for all frames of an animation (from the smallest to the largest value over all of them);
    ``"per-frame"``: each frame its own. ``style``: the figure style preset (paper, page or slide).
    """

    layer: str | None = None
    unit: int | None = None
    image: int = 0
    target: int | None = None
    position: tuple[int, int] | None = None
    method: str = "all"
    attack: str = "fgsm"
    epsilon: float = 0.1
    steps: int | None = None
    mode: str = "auto"
    scale: str = "shared"
    frame_scale: str = "shared"
    #: The figure style preset (``export/style.py``): its width, fonts and colours.
    style: str = "paper"


@dataclass
class FigureWeights:
    """What one figure (or frame) shows: a network with its weights, and where they come from."""

    graph: Any
    state: dict
    label: str
    epoch: int | None
