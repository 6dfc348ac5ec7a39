"""``cnnplayground figure``: a panel's figure at any stored epoch of a run, without a window.

::

    cnnplayground figure my.cnnp --panel kernels --layer conv1 --run 2 --epoch 0 --out init.png
    cnnplayground figure my.cnnp --panel kernels --animate kernels.gif     # one frame per stored epoch
    cnnplayground figure my.cnnp --panel confusion --epoch 3 --out confusion.pdf

The weights come from the run's stored epochs (``io/project_epochs.py``; by default the last run that
keeps epochs, its last epoch), or, in a project whose runs keep none, from the project's weights. The
figure is drawn by the window's own panel widgets and Export Figure code with an offscreen Qt
(``ui/export/headless.py``), imported only when the figure is drawn: the rest of the command is headless.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.text import printable
from .common import CliError, positive_int, say

PANELS = ("kernels", "feature-maps", "confusion")


def _epoch_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"an epoch is 0 (the weights before training) or more, got {value}")
    return value


def add_figure_parser(sub) -> None:
    p = sub.add_parser("figure", help="draw a panel's figure (kernels, feature maps, confusion) at a stored "
                       "epoch, headless",
                       description="Draw an Inspect panel's figure from a project's weights at any epoch a run "
                       "keeps, as the window's Export Figure draws it; --animate writes one frame per stored "
                       "epoch.")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--panel", required=True, choices=PANELS, help="which panel's figure")
    p.add_argument("--layer", help="kernels: the convolution layer (node id; default: the first); feature-maps: "
                   "the layer whose maps are drawn (default: the first after the input)")
    p.add_argument("--image", type=_epoch_number, default=0, metavar="I",
                   help="feature-maps: which validation image goes in (its index; default 0)")
    p.add_argument("--run", type=positive_int, metavar="R",
                   help="run number, as in 'run 2' (default: the last run that keeps its epochs)")
    p.add_argument("--epoch", type=_epoch_number, metavar="E",
                   help="a stored epoch (0: the weights before training; default: the last one stored)")
    p.add_argument("--mode", choices=("auto", "channels", "sum", "rgb"), default="auto",
                   help="kernels: each input channel, their sum, or colour for RGB input (default: auto)")
    p.add_argument("--scale", choices=("shared", "per_filter"), default="shared",
                   help="kernels: one colour scale for the layer, or one per filter")
    p.add_argument("--out", metavar="FILE.{png,svg,pdf}", help="the figure at --epoch")
    p.add_argument("--figure-style", choices=("paper", "page", "slide"), default="paper",
                   help="the figure's size, fonts and colours: paper (a 3.5 in column), page (7 in) or slide (16:9)")
    p.add_argument("--animate", metavar="FILE.gif", help="an animation with one frame per stored epoch")
    p.add_argument("--frame-ms", type=positive_int, default=700, metavar="MS",
                   help="--animate: how long each frame shows (default 700 ms)")
    p.set_defaults(func=cmd_figure)


@dataclass
class _Weights:
    """What one figure (or frame) shows: a network with its weights, and where they come from."""

    graph: Any
    state: dict
    label: str
    epoch: int | None


def _choose(project, args: argparse.Namespace) -> list[_Weights]:
    """The weights the figure (or each frame of the animation) shows."""
    from ..io.project_epochs import stored_epochs

    with_epochs = [i for i, run in enumerate(project.history) if run.epochs is not None and run.epochs.weights]
    if args.run is not None:
        if args.run > len(project.history):
            count = len(project.history)
            raise CliError(f"there is no run {args.run}: the project has {count} run{'s' * (count != 1)}")
        index = args.run - 1
    elif with_epochs:
        index = with_epochs[-1]
    else:
        index = None
    if index is None or index not in with_epochs:
        if index is not None:
            reason = (f"{project.history[index].name} keeps no epochs (recorded before runs kept them, or with "
                      "--snapshot-budget 0)")
        else:
            reason = "no run of this project keeps its epochs"
        if args.epoch is not None or args.animate or project.weights is None:
            raise CliError(f"{reason}: train it again (cnnplayground train {printable(args.project)} --save …) "
                           "to store them")
        return [_Weights(project.graph, project.weights, f"{project.name}: the project's weights", None)]
    run = project.history[index]
    epochs = stored_epochs(project, index)
    if args.epoch is not None and args.epoch not in epochs:
        raise CliError(f"{run.name} keeps no weights of epoch {args.epoch}; it keeps epochs "
                       f"{', '.join(map(str, epochs))}")
    chosen = epochs if args.animate else [args.epoch if args.epoch is not None else epochs[-1]]
    graph = run.epochs.graph
    return [_Weights(graph, run.epochs.weights[k], f"{project.name} · {run.name} · epoch {k}"
                     + (" (the initial weights)" if k == 0 else ""), k) for k in chosen]


def _model(graph, state):
    import torch

    from ..core.builder import build

    with torch.device("meta"):
        model = build(graph)
    model.load_state_dict(state, assign=True)
    return model.eval()


def cmd_figure(args: argparse.Namespace) -> int:
    from ..io.project import ProjectError, load_project

    if not args.out and not args.animate:
        raise CliError("say where to write the figure: --out FILE.png (or .svg, .pdf), or --animate FILE.gif")
    if args.out and Path(args.out).suffix.lower() not in (".png", ".svg", ".pdf"):
        raise CliError(f"--out writes .png, .svg or .pdf, not {printable(Path(args.out).name)}")
    if args.animate and Path(args.animate).suffix.lower() != ".gif":
        raise CliError(f"--animate writes a .gif, not {printable(Path(args.animate).name)}")
    try:
        project = load_project(args.project)
    except ProjectError as exc:
        raise CliError(f"cannot open {printable(args.project)}: {exc}") from None
    sources = _choose(project, args)
    if args.panel == "kernels":
        frames = _kernel_frames(sources, args)
    elif args.panel == "feature-maps":
        frames = _feature_map_frames(project, sources, args)
    else:
        frames = _confusion_frames(project, sources)
    return _write(frames, sources, args)


def _kernel_frames(sources: list[_Weights], args: argparse.Namespace) -> list[tuple[Any, str]]:
    from ..inspect.kernels import conv_weights

    out = []
    for source in sources:
        layers = conv_weights(_model(source.graph, source.state))
        if not layers:
            raise CliError("this network has no convolution layer: it has no kernels to draw")
        name = args.layer if args.layer is not None else next(iter(layers))
        if name not in layers:
            raise CliError(f"no convolution layer {printable(name)!r}; the network has {', '.join(layers)}")
        w = layers[name]
        out.append((w, f"{source.label} · {name}: {w.shape[0]} filters of {w.shape[1]}×{w.shape[2]}×{w.shape[3]}"))
    return out


def _validation_data(project, what: str):
    """The project's dataset, loaded as its runs saw it (their hold-out and seed), with validation images."""
    from ..data.base import DatasetError
    from ..data.registry import load_dataset

    try:
        data = load_dataset(project.dataset, val_fraction=project.training.val_fraction, seed=project.training.seed)
    except DatasetError as exc:
        raise CliError(str(exc)) from None
    if len(data.val) == 0:
        raise CliError(f"the project holds out no validation images (val_fraction 0): there is no {what} to draw")
    return data


def _feature_map_frames(project, sources: list[_Weights], args: argparse.Namespace) -> list[tuple[Any, str]]:
    from ..inspect.activations import feature_maps
    from ..inspect.snapshot import prepare

    data = _validation_data(project, "input image")
    if args.image >= len(data.val):
        raise CliError(f"there is no validation image {args.image}: there are {len(data.val):,} (0 to "
                       f"{len(data.val) - 1:,})")
    image = data.val.images[args.image]
    label = data.class_names[int(data.val.labels[args.image])]
    out = []
    for source in sources:
        model = _model(source.graph, source.state)
        try:
            maps = feature_maps(model, prepare(image, data.mean, data.std))
        except RuntimeError as exc:  # a network whose input does not fit the dataset's images
            raise CliError(f"the network cannot run on {project.dataset.name}'s images: "
                           f"{' '.join(str(exc).split())[:200]}") from None
        spatial = [nid for nid, v in maps.items() if v.ndim == 3 and nid != model.input_id]
        if not spatial:
            raise CliError("this network has no layer with feature maps")
        name = args.layer if args.layer is not None else spatial[0]
        if name not in spatial:
            raise CliError(f"no layer with feature maps {printable(name)!r}; the network has {', '.join(spatial)}")
        m = maps[name]
        out.append(((m, image.float().numpy() / 255.0), f"{source.label} · {name}: {m.shape[0]} maps of "
                    f"{m.shape[1]}×{m.shape[2]} for validation image {args.image} ({label})"))
    return out


def _confusion_frames(project, sources: list[_Weights]) -> list[tuple[Any, str]]:
    from ..data.loader import DeviceLoader
    from ..train.evaluate import evaluate

    data = _validation_data(project, "confusion matrix")
    out = []
    for source in sources:
        model = _model(source.graph, source.state)
        loader = DeviceLoader(data.val, mean=data.mean, std=data.std, batch_size=512, device="cpu", shuffle=False)
        try:
            result = evaluate(model, loader, data.num_classes, tta_flip=project.training.tta_flip)
        except RuntimeError as exc:  # a network whose input does not fit the dataset's images
            raise CliError(f"the network cannot run on {project.dataset.name}'s images: "
                           f"{' '.join(str(exc).split())[:200]}") from None
        out.append(((result.confusion.tolist(), result.per_class_accuracy, tuple(data.class_names),
                     source.epoch or 0), source.label))
    return out


def _write(frames: list[tuple[Any, str]], sources: list[_Weights], args: argparse.Namespace) -> int:
    from ..core.errors import UserError
    from ..export.style import figure_style
    from ..ui.export.headless import (
        application,
        confusion_figure,
        feature_maps_figure,
        kernels_figure,
        write_animation,
        write_figure,
    )

    app = application()
    style = figure_style(getattr(args, "figure_style", None) or "paper")

    def draw(content: Any, title: str):
        if args.panel == "kernels":
            return kernels_figure(content, title, args.mode, args.scale, style=style)
        if args.panel == "feature-maps":
            maps, image = content
            return feature_maps_figure(maps, title, image, style=style)
        confusion, per_class, names, epoch = content
        return confusion_figure(confusion, per_class, names, epoch, title, style=style)

    try:
        if args.animate:
            widgets = [draw(content, title) for content, title in frames]
            write_animation(widgets, args.animate, args.frame_ms)
            epochs = ", ".join(str(s.epoch) for s in sources)
            say(f"wrote {printable(args.animate)}: {len(widgets)} frames (epochs {epochs})")
        if args.out:
            pick = next((i for i, s in enumerate(sources) if s.epoch == args.epoch), len(sources) - 1)
            content, title = frames[pick]
            write_figure(draw(content, title), args.out, style)
            say(f"wrote {printable(args.out)}: {title}")
    except (UserError, OSError) as exc:
        raise CliError(str(exc)) from None
    finally:
        app.processEvents()
    return 0
