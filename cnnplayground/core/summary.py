"""A text summary of a network, like ``torchinfo.summary`` or Keras ``model.summary()``."""

from __future__ import annotations

from .graph import Graph
from .inference import InferenceResult, infer
from .shapes import Shape, format_shape

#: Column titles of :func:`summary_rows`.
HEADERS = ("Layer", "Kind", "Settings", "Output shape", "Params", "Receptive field")
_HEADERS = HEADERS


def format_bytes(n: float) -> str:
    """``512 B``, ``1.5 KB`` ... ``3.2 GB``; any size (ints beyond float range too) gives short text."""
    if isinstance(n, int) and abs(n) >= 2**1000:  # dividing would overflow a float
        power = (abs(n) >> 30).bit_length() - 1
        return f"more than 2^{power} GB" if n > 0 else f"less than -2^{power} GB"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            if unit == "GB" and abs(n) >= 1e6:
                return f"{n:.3g} GB"  # no 300-digit numbers
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


def summary_rows(graph: Graph, result: InferenceResult) -> list[tuple[str, ...]]:
    """One row per node in execution order: the columns of :data:`_HEADERS`."""
    rows: list[tuple[str, ...]] = []
    for nid in result.order_all():
        node = graph.nodes[nid]
        info = result[nid]
        if info.error:
            shape = "error"
        elif info.blocked_by:
            shape = f"(after {info.blocked_by})"
        else:
            shape = format_shape(info.shape)
        field = info.receptive_field
        rf = "" if field is None else (f"{field.size_text()} (all)" if field.flat else field.describe())
        params = f"{info.params:,}" if info.shape is not None else ""
        rows.append((nid, node.kind, node.layer.key_params_text(node.params), shape, params, rf))
    return rows


def summarize(graph: Graph, input_shape: Shape | None = None, batch_size: int = 1, title: str = "") -> str:
    """The summary table plus totals, memory estimate and any errors, as plain text."""
    result = infer(graph, input_shape)
    rows = summary_rows(graph, result)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(_HEADERS)]
    right = {4}  # numbers right-aligned

    def line(cells: tuple[str, ...]) -> str:
        cols = (c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
        return "  ".join(cols).rstrip()

    rule = "─" * (sum(widths) + 2 * (len(widths) - 1))
    out = []
    if title:
        out.append(title)
    out += [rule, line(_HEADERS), rule]
    out += [line(r) for r in rows]
    out.append(rule)
    out.append(f"Total parameters: {result.total_params:,}")
    if result.input_shape is not None:
        out.append(f"Input: {format_shape(result.input_shape)}    Output: {format_shape(result.output_shape)}")
    mem = result.memory_estimate(batch_size)
    out.append(
        f"Weights: {format_bytes(mem['weights'])} (float32)    "
        f"Activations per image: {format_bytes(result.activation_values() * 4)}    "
        f"Training memory at batch {batch_size}: ~{format_bytes(mem['total'])}"
    )
    errors = result.errors
    if errors:
        out.append(f"{len(errors)} problem{'s' if len(errors) > 1 else ''}:")
        out += [f"  - {nid + ': ' if nid else ''}{msg}" for nid, msg in errors]
    return "\n".join(out)
