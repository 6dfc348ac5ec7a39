"""``cnnplayground figure``: a panel's figure at any stored epoch of a run, without a window.

::

    cnnplayground figure my.cnnp --panel kernels --layer conv1 --run 2 --epoch 0 --out init.png
    cnnplayground figure my.cnnp --panel kernels --animate kernels.gif     # one frame per stored epoch
    cnnplayground figure my.cnnp --panel confusion --epoch 3 --out confusion.pdf
    cnnplayground figure my.cnnp --panel occlusion --image 3 --animate occlusion.apng   # or .mp4 with ffmpeg

The weights come from the run's stored epochs (``io/project_epochs.py``; by default the last run that
keeps epochs, its last epoch), or, in a project whose runs keep none, from the project's weights. The
figure is drawn by the window's own panel widgets and Export Figure code with an offscreen Qt
(``ui/export/panel_figures.py``: ``panel_figure`` and its registry of panels, callable without argparse
with an ``export.panel_options.FigureOptions``), imported only when the figure is drawn: the rest of the
command is headless.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.text import printable
from ..export.panel_options import ATTACKS, METHODS, PANELS, FigureOptions, FigureWeights
from .common import CliError, positive_int, say


def _epoch_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"an epoch is 0 (the weights before training) or more, got {value}")
    return value


def _index(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"an index is 0 or more, got {value}")
    return value


def _position(text: str) -> tuple[int, int]:
    try:
        row, col = (int(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a unit's place is ROW,COL (e.g. 3,4), not {text!r}") from None
    if row < 0 or col < 0:
        raise argparse.ArgumentTypeError(f"a row and column are 0 or more, got {text!r}")
    return row, col


def _epsilon(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"ε is in pixel units, from 0 to 1, not {text}")
    return value


def add_figure_parser(sub) -> None:
    p = sub.add_parser("figure", help="draw an Inspect panel's figure at a stored epoch, headless",
                       description="Draw an Inspect panel's figure from a project's weights at any epoch a run "
                       "keeps, as the window's Export Figure draws it (the panel runs its own analysis: "
                       "seconds for small networks); --animate writes one frame per stored epoch.")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--panel", required=True, choices=PANELS, help="which panel's figure")
    p.add_argument("--layer", help="the layer (node id): kernels: the convolution (default: the first); "
                   "feature-maps: whose maps (default: the first after the input); receptive-field: whose unit "
                   "(default: the last spatial one); attribution: Grad-CAM's layer (default: the last map); "
                   "max-activation, top-patches: whose channel (default: the last map; 'output' for a class)")
    p.add_argument("--unit", "--channel", dest="unit", type=_index, metavar="C",
                   help="receptive-field: one channel (default: all summed); max-activation: one channel "
                   "(default: a gallery of the first 64); top-patches: the channel (default 0)")
    p.add_argument("--image", type=_index, default=0, metavar="I",
                   help="feature-maps, receptive-field, occlusion, attribution, adversarial: which validation "
                   "image (its index; default 0)")
    p.add_argument("--class", dest="target", type=_index, metavar="K",
                   help="occlusion: the class mapped (default: the true one); attribution: the class explained "
                   "(default: the predicted one); adversarial: fgsm_targeted's target; max-activation, "
                   "top-patches: a class of the output")
    p.add_argument("--at", dest="position", type=_position, metavar="ROW,COL",
                   help="receptive-field: the unit's place in the layer's map (default: its centre)")
    p.add_argument("--method", choices=METHODS, default="all",
                   help="attribution: saliency, Grad-CAM (gradcam), integrated gradients (ig), or all three "
                   "(default)")
    p.add_argument("--attack", choices=ATTACKS, default="fgsm", help="adversarial: the attack (default fgsm)")
    p.add_argument("--epsilon", type=_epsilon, default=0.1, metavar="EPS",
                   help="adversarial: the largest change per pixel, 0..1 (default 0.1)")
    p.add_argument("--steps", type=positive_int, metavar="N",
                   help="attribution: integrated-gradients steps (default 64); adversarial: PGD steps (default "
                   "10); max-activation: optimization steps (default 128)")
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
    p.add_argument("--animate", metavar="FILE.{gif,apng,mp4}",
                   help="an animation with one frame per stored epoch (.mp4 needs ffmpeg)")
    p.add_argument("--frame-ms", type=positive_int, default=700, metavar="MS",
                   help="--animate: how long each frame shows (default 700 ms)")
    p.add_argument("--frame-scale", choices=("shared", "per-frame"), default="shared",
                   help="--animate: one colour scale for all frames, from the smallest to the largest value over "
                   "all of them (default; the title says the range), or each frame its own")
    p.set_defaults(func=cmd_figure)


def figure_options(args: argparse.Namespace) -> FigureOptions:
    """The panel's choices as the command line gives them."""
    return FigureOptions(layer=args.layer, unit=args.unit, image=args.image, target=args.target,
                         position=args.position, method=args.method, attack=args.attack, epsilon=args.epsilon,
                         steps=args.steps, mode=args.mode, scale=args.scale, frame_scale=args.frame_scale,
                         style=getattr(args, "figure_style", None) or "paper")


def choose_weights(project, args: argparse.Namespace) -> list[FigureWeights]:
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
        return [FigureWeights(project.graph, project.weights, f"{project.name}: the project's weights", None)]
    run = project.history[index]
    epochs = stored_epochs(project, index)
    if args.epoch is not None and args.epoch not in epochs:
        raise CliError(f"{run.name} keeps no weights of epoch {args.epoch}; it keeps epochs "
                       f"{', '.join(map(str, epochs))}")
    chosen = epochs if args.animate else [args.epoch if args.epoch is not None else epochs[-1]]
    graph = run.epochs.graph
    return [FigureWeights(graph, run.epochs.weights[k], f"{project.name} · {run.name} · epoch {k}"
                     + (" (the initial weights)" if k == 0 else ""), k) for k in chosen]


def cmd_figure(args: argparse.Namespace) -> int:
    from ..io.project import ProjectError, load_project

    if not args.out and not args.animate:
        raise CliError("say where to write the figure: --out FILE.png (or .svg, .pdf), or --animate FILE.gif "
                       "(or .apng, .mp4)")
    if args.out and Path(args.out).suffix.lower() not in (".png", ".svg", ".pdf"):
        raise CliError(f"--out writes .png, .svg or .pdf, not {printable(Path(args.out).name)}")
    if args.animate and Path(args.animate).suffix.lower() not in (".gif", ".apng", ".mp4"):
        raise CliError(f"--animate writes a .gif, .apng or .mp4, not {printable(Path(args.animate).name)}")
    try:
        project = load_project(args.project)
    except ProjectError as exc:
        raise CliError(f"cannot open {printable(args.project)}: {exc}") from None
    sources = choose_weights(project, args)
    return _write(project, sources, args)


def _write(project, sources: list[FigureWeights], args: argparse.Namespace) -> int:
    from ..core.errors import UserError
    from ..export.style import figure_style
    from ..ui.export.headless import application, ffmpeg_program, fitting_style, write_animation, write_figure
    from ..ui.export.panel_figures import panel_figure

    if args.animate and Path(args.animate).suffix.lower() == ".mp4" and ffmpeg_program() is None:
        raise CliError("writing .mp4 needs ffmpeg: install it (apt install ffmpeg, or pip install imageio-ffmpeg), "
                       "or write .gif or .apng")
    app = application()
    style = figure_style(getattr(args, "figure_style", None) or "paper")
    try:
        frames = panel_figure(project, args.panel, sources, figure_options(args))
        if args.animate:
            write_animation([f.widget for f in frames], args.animate, args.frame_ms)
            epochs = ", ".join(str(s.epoch) for s in sources)
            say(f"wrote {printable(args.animate)}: {len(frames)} frames (epochs {epochs})")
        if args.out:
            pick = next((i for i, s in enumerate(sources) if s.epoch == args.epoch), len(sources) - 1)
            frame = frames[pick]
            # as wide as the panel's parts need where the preset is narrower (said on the line below)
            fitted = fitting_style(frame.widget, style)
            write_figure(frame.widget, args.out, fitted)
            wider = (f" (drawn {fitted.width_in:g} in wide: its parts need more than the {style.name} style's "
                     f"{style.width_in:g} in)") if fitted.width_in != style.width_in else ""
            say(f"wrote {printable(args.out)}: {frame.title.splitlines()[0]}{wider}")
    except (UserError, OSError) as exc:
        raise CliError(str(exc)) from None
    finally:
        app.processEvents()
    return 0
