"""Docstring examples (``>>>``) in refnet and gradcheck run as doctests and show what they print."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import gradcheck
import refnet

MODULES = sorted(
    info.name
    for package in (refnet, gradcheck)
    for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + ".")  # subpackages too
    if not info.name.endswith(".__main__")  # importing it would run the CLI
)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _examples(name: str) -> int:
    module = importlib.import_module(name)
    return sum(len(test.examples) for test in doctest.DocTestFinder().find(module))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_give_what_they_show(name: str) -> None:
    module = importlib.import_module(name)
    failed, attempted = doctest.testmod(module, optionflags=FLAGS, report=False)
    assert failed == 0, f"{failed} of the {attempted} docstring examples in {name} failed (the diff is printed above)"


def test_the_public_api_has_docstring_examples() -> None:
    with_examples = [name for name in MODULES if _examples(name)]
    assert {"refnet.callbacks", "refnet.progress", "refnet.network"} <= set(with_examples), with_examples
