"""One figure style for every figure the app writes: fonts, sizes, line widths and colours, with presets for
a paper column, a full page width and a 16:9 slide. Independent of the window's light or dark theme: a
figure is always dark ink on white.

Plain data (no Qt): the diagram writers (``export/diagram``), the Qt figure export (``ui/export``) and the
command line read the same :class:`FigureStyle`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FigureStyle:
    """How a figure looks. Sizes in points (1/72 in) unless named ``_in`` (inches)."""

    name: str
    #: The figure's width on the page; its height follows its content unless ``height_in`` is set.
    width_in: float
    height_in: float | None
    #: The font family figures name, DejaVu Sans first (the metrics the diagram layouts measure with).
    font_family: str = "DejaVu Sans"
    font_size: float = 8.0
    title_size: float = 9.0
    tick_size: float = 7.0
    line_width: float = 1.0
    #: Colours of runs / series, in order (Okabe–Ito: told apart with colour blindness and in grey).
    palette: tuple[str, ...] = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
                                "#F0E442", "#000000")
    #: The colour map of images with a sign (kernels, differences): blue–white–red.
    diverging: str = "RdBu_r"
    #: The colour map of images of magnitudes (feature maps, attributions).
    sequential: str = "viridis"
    background: str = "#ffffff"
    ink: str = "#000000"
    dpi: int = 300


STYLES: dict[str, FigureStyle] = {
    # One column of a two-column paper (IEEE, ACM, NeurIPS' column is 3.25-3.5 in): small type.
    "paper": FigureStyle("paper", width_in=3.5, height_in=None),
    # The full text width of a one-column page.
    "page": FigureStyle("page", width_in=7.0, height_in=None, font_size=9.0, title_size=10.0, tick_size=8.0),
    # A 16:9 slide (13.33 × 7.5 in, PowerPoint's and Beamer's 16:9 at full size): large type, thick lines.
    "slide": FigureStyle("slide", width_in=13.33, height_in=7.5, font_size=20.0, title_size=24.0, tick_size=18.0,
                         line_width=2.5, dpi=150),
}
DEFAULT_STYLE = "paper"


def figure_style(name: str) -> FigureStyle:
    """The preset called ``name`` (``paper``, ``page`` or ``slide``); KeyError names the choices."""
    try:
        return STYLES[name]
    except KeyError:
        raise KeyError(f"no figure style {name!r}: choose {', '.join(STYLES)}") from None
