"""A :class:`~.scene.Scene` as TikZ source: a ``standalone`` document that pdflatex compiles with the tikz
package alone (and ``fix-cm`` for text at any size, part of LaTeX itself), or the bare ``tikzpicture`` to
``\\input`` into a paper. Sizes in pt, y flipped (TikZ's y points up), colours defined with
``\\definecolor``, text in the document's sans-serif font.
"""

from __future__ import annotations

from ..curves import latex_text
from .scene import Line, Polygon, Scene, Text
from .svg import arrow_head

_SPECIALS = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "#": r"\#", "$": r"\$", "%": r"\%", "&": r"\&",
    "_": r"\_", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}", "<": r"\textless{}",
    ">": r"\textgreater{}", "|": r"\textbar{}",
    "×": r"$\times$", "→": r"$\rightarrow$", "…": r"\ldots{}", "·": r"$\cdot$", "−": r"$-$",
    "ε": r"$\varepsilon$", "²": r"$^2$", "³": r"$^3$", "¹": r"$^1$", "⁻": r"$^-$",
    "₀": r"$_0$", "₁": r"$_1$", "₂": r"$_2$", "₃": r"$_3$",
    "±": r"$\pm$", "≤": r"$\le$", "≥": r"$\ge$", "µ": r"$\mu$", "μ": r"$\mu$", "÷": r"$\div$",
}


def tex_escape(text: str) -> str:
    """``text`` as LaTeX source that prints it: specials escaped, a few symbols in math, the rest as the
    curves' pgfplots write it (dashes, quotes and Latin-1 letters a standard pdflatex prints; others '?')."""
    out = []
    for c in text:
        if c in _SPECIALS:
            out.append(_SPECIALS[c])
        elif " " <= c <= "~":
            out.append(c)
        else:
            out.append(latex_text(c))
    return "".join(out)


def _n(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def scene_tikz(scene: Scene, standalone: bool = True) -> str:
    """TikZ source of ``scene``; ``standalone``: a whole document (``\\documentclass{standalone}``)."""
    colours: dict[str, str] = {}

    def colour(hex_colour: str) -> str:
        key = hex_colour.lower().lstrip("#")
        if len(key) == 3:
            key = "".join(ch * 2 for ch in key)
        if key not in colours:
            colours[key] = f"dc{len(colours)}"
        return colours[key]

    def p(x: float, y: float) -> str:
        return f"({_n(x)}pt,{_n(-y)}pt)"

    body = [f"\\path[use as bounding box] {p(0, 0)} rectangle {p(scene.width, scene.height)};"]
    for item in scene.items:
        if isinstance(item, Polygon):
            opts = [f"line width={_n(item.width)}pt", "line join=round"]
            opts.append(f"draw={colour(item.stroke)}" if item.stroke else "draw=none")
            if item.fill:
                opts.append(f"fill={colour(item.fill)}")
            if item.opacity < 1:
                opts.append(f"opacity={_n(item.opacity)}")
            body.append(f"\\path[{', '.join(opts)}] {' -- '.join(p(*q) for q in item.points)} -- cycle;")
        elif isinstance(item, Line):
            points = list(item.points)
            head = None
            if item.arrow and len(points) >= 2:
                head, stop = arrow_head(item)
                points[-1] = stop
            opts = [f"draw={colour(item.stroke)}", f"line width={_n(item.width)}pt", "line join=round"]
            if item.dashed:
                opts.append(f"dash pattern=on {_n(3 * item.width)}pt off {_n(2 * item.width)}pt")
            body.append(f"\\draw[{', '.join(opts)}] {' -- '.join(p(*q) for q in points)};")
            if head:
                body.append(f"\\fill[{colour(item.stroke)}] {' -- '.join(p(*q) for q in head)} -- cycle;")
        elif isinstance(item, Text):
            anchor = {"start": "base west", "middle": "base", "end": "base east"}[item.anchor]
            font = f"\\fontsize{{{_n(item.size)}}}{{{_n(item.size * 1.2)}}}\\selectfont"
            if item.bold:
                font += "\\bfseries"
            opts = [f"anchor={anchor}", "inner sep=0pt", f"text={colour(item.colour)}", f"font={{{font}}}"]
            if item.rotate:
                opts.append(f"rotate={_n(item.rotate)}")
            body.append(f"\\node[{', '.join(opts)}] at {p(item.x, item.y)} {{{tex_escape(item.text)}}};")
    defs = [f"\\definecolor{{{name}}}{{HTML}}{{{key.upper()}}}" for key, name in colours.items()]
    picture = ["\\begin{tikzpicture}[x=1pt, y=1pt]", *defs, *body, "\\end{tikzpicture}"]
    if not standalone:
        return "\n".join(picture) + "\n"
    preamble = ["% An architecture diagram written by CNN Playground; compile with pdflatex.",
            "\\documentclass[border=0pt]{standalone}", "\\usepackage{fix-cm}", "\\usepackage{tikz}",
            "\\renewcommand{\\familydefault}{\\sfdefault}", "\\begin{document}"]
    return "\n".join([*preamble, *picture, "\\end{document}"]) + "\n"
