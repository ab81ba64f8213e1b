"""onnx is an optional extra: imported only when an export or a load runs, with a clear error when it is missing."""

from __future__ import annotations

import importlib
from typing import Any

INSTALL_HINT = "pip install 'refnet[onnx]' (or: pip install onnx)"


def require_onnx() -> Any:
    """The ``onnx`` module, imported now; ImportError saying how to install it when it is missing.

    Typed as Any: refnet type-checks the same with and without the optional extra installed.
    """
    try:
        return importlib.import_module("onnx")
    except ImportError as exc:
        raise ImportError(f"refnet.onnx needs the onnx package, which is not installed: {INSTALL_HINT}") from exc
