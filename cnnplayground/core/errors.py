"""One vocabulary for errors: :class:`UserError` and :func:`one_line`.

Every error the project raises on purpose derives from :class:`UserError`: its
``str()`` is a one-line message a user can act on ("the input shape must be
positive whole numbers …"), so the window shows it in a message box, the command
line prints it and exits with code 2, and neither needs a traceback. Each error
keeps the built-in base its callers rely on (``class GraphError(UserError,
ValueError)``), so ``except ValueError`` still catches it; the interface catches
``UserError`` and names a built-in only for a library's own errors.

:func:`one_line` is how any other exception (a library's, a bug's) becomes part
of such a message: the first line, whitespace collapsed, cut at a length.

Core is the bottom layer: every package may import this module.
"""

from __future__ import annotations

__all__ = ["UserError", "one_line"]


class UserError(Exception):
    """An error whose ``str()`` is a one-line message for the user (no traceback needed).

    Subclasses keep their built-in base too (``ValueError``, ``KeyError``, ``OSError``…); the
    first built-in in the bases decides ``str()`` (a ``KeyError``'s message is quoted).
    """


def one_line(exc: BaseException, limit: int | None = None, *, lines: int | None = 1,
             with_type: bool = False) -> str:
    """``exc`` as one line of text: its message's first ``lines`` lines (``None``: all), joined by one space.

    Runs of whitespace become one space. An empty message gives the exception's class name;
    ``with_type`` puts the class name first (``"KeyError: 'x'"``). Text longer than ``limit``
    characters is cut to ``limit`` characters, the last an ellipsis (``…``).
    """
    kept = str(exc).strip().splitlines()
    text = " ".join(" ".join(kept if lines is None else kept[:lines]).split())
    name = type(exc).__name__
    if not text:
        text = name
    elif with_type:
        text = f"{name}: {text}"
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    return text
