"""One error vocabulary: every error the project defines is a UserError; one_line formats any other."""

import importlib
import inspect
import pkgutil

import pytest

import cnnplayground
from cnnplayground.core.errors import UserError, one_line


def defined_exceptions() -> list[type[BaseException]]:
    """Every exception class defined at the top level of a cnnplayground module (``__main__`` would start the app)."""
    found = []
    for info in pkgutil.walk_packages(cnnplayground.__path__, "cnnplayground."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        found += [obj for obj in vars(module).values()
                  if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == module.__name__]
    return found


def test_every_error_the_project_defines_is_a_user_error():
    found = defined_exceptions()
    names = {f"{cls.__module__}.{cls.__qualname__}" for cls in found}
    # The walk reaches every layer, the window's included.
    assert {"cnnplayground.core.graph.GraphError", "cnnplayground.io.atomic.AtomicWriteError",
            "cnnplayground.export.errors.ExportError", "cnnplayground.ui.export.figures.FigureError",
            "cnnplayground.cli.common.CliError"} <= names
    assert len(found) >= 19
    assert [f"{cls.__module__}.{cls.__qualname__}" for cls in found if not issubclass(cls, UserError)] == []


def test_errors_keep_their_built_in_bases_and_messages():
    from cnnplayground.core.graph import GraphError
    from cnnplayground.core.registry import UnknownKindError, get_kind
    from cnnplayground.data.base import DatasetError
    from cnnplayground.io.atomic import AtomicWriteError

    assert issubclass(GraphError, ValueError) and issubclass(UnknownKindError, KeyError)
    assert issubclass(DatasetError, RuntimeError)
    error = AtomicWriteError("cannot write x.cnnp: the disk is full", errno=28)
    assert isinstance(error, OSError) and error.errno == 28 and str(error) == "cannot write x.cnnp: the disk is full"
    with pytest.raises(UserError) as info:
        get_kind("Conv9d")
    assert str(info.value) == "unknown layer kind 'Conv9d'"  # plain text, not KeyError's quoted repr


def test_there_is_one_export_error():
    from cnnplayground.export import code, formats, script

    assert code.ExportError is formats.ExportError is script.ExportError
    assert issubclass(code.ExportError, UserError) and issubclass(code.ExportError, ValueError)
    assert str(code.ExportError("the network\n  is not valid")) == "the network is not valid"


@pytest.mark.parametrize("exc, kwargs, text", [
    (ValueError("kernel 5 is larger  than\tthe input\nsecond line"), {}, "kernel 5 is larger than the input"),
    (ValueError("\n  first\nsecond\nthird\nfourth"), {"lines": 3}, "first second third"),
    (ValueError("first\n  second"), {"lines": None}, "first second"),
    (ValueError(""), {}, "ValueError"),
    (ValueError("   \n "), {"with_type": True}, "ValueError"),
    (KeyError("x"), {"with_type": True}, "KeyError: 'x'"),
    (RuntimeError("a" * 10), {"limit": 10}, "a" * 10),
    (RuntimeError("a" * 11), {"limit": 10}, "a" * 9 + "…"),
    (RuntimeError("boom " * 3), {"limit": 12, "with_type": True}, "RuntimeErro…"),
])
def test_one_line(exc, kwargs, text):
    assert one_line(exc, **kwargs) == text
