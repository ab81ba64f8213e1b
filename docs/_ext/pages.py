"""What the pages read from the code, without Sphinx: names resolved, catalog checks chosen and run.

``refnet_docs`` (the Sphinx extension) renders what these return; tests/test_docs.py calls them
directly, so a page naming a function that moved, or a class no check covers, fails the test
suite before anyone builds the site.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent.parent
SEED = 0  # the catalog's default seed: the rows are those `gradcheck` prints


class UnknownName(LookupError):
    """A dotted name on a page that names nothing importable."""


def resolve(name: str) -> Any:
    """The object a dotted name refers to: the longest importable module prefix, then attributes."""
    parts = name.split(".")
    for split in range(len(parts), 0, -1):
        try:
            value: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            if not hasattr(value, attribute):
                raise UnknownName(f"{name!r}: {'.'.join(parts[:split])} has no {attribute!r}")
            value = getattr(value, attribute)
        return value
    raise UnknownName(f"cannot import {name!r}")


@functools.cache
def run_check(name: str) -> list[Any]:
    """The results of one catalog check, run as ``gradcheck`` runs it (its own seeded Generator)."""
    from gradcheck.core.guard import guarded
    from gradcheck.suite.catalog import CATALOG, CATALOG_TOLERANCES, check_rng

    (check,) = [check for check in CATALOG if check.name == name]
    report = guarded(check.name, functools.partial(check.run, check_rng(SEED, name), CATALOG_TOLERANCES, False), 120)
    return [replace(result, component=check.name) for result in report.results]


def catalog_checks(classes: Sequence[type], patterns: Sequence[str], kind: str) -> list[str]:
    """Names of the catalog checks a page shows: those covering a class and named after it, plus patterns."""
    from gradcheck.suite.catalog import CATALOG

    def wanted(check: Any) -> bool:
        own = any(cls in check.covers and check.name.startswith(cls.__name__) for cls in classes)
        return own or any(pattern.lower() in check.name.lower() for pattern in patterns)

    is_reference = {"reference": True, "gradient": False}[kind]
    return [check.name for check in CATALOG if wanted(check) and check.name.endswith(" reference") == is_reference]


#: A directive in a page: ```{name} arguments, then its :option: lines.
DIRECTIVE = re.compile(r"^```\{(?P<name>[\w-]+)\}[ \t]*(?P<arguments>[^\n]*)\n(?P<options>(?::[\w-]+:[^\n]*\n)*)", re.M)


EXAMPLE = re.compile(r"^````.*?^````", re.M | re.S)


def directives_in(text: str, name: str) -> list[tuple[list[str], dict[str, str]]]:
    """(arguments, options) of every ``name`` directive in a MyST page."""
    found = []
    text = EXAMPLE.sub("", text)  # a directive shown as an example, inside a ```` fence, is not one
    for match in DIRECTIVE.finditer(text):
        if match.group("name") == name:
            options = dict(re.findall(r"^:([\w-]+):[ \t]*(.*)$", match.group("options"), flags=re.M))
            found.append((match.group("arguments").split(), options))
    return found


def table_checks(arguments: Sequence[str], options: dict[str, str]) -> list[str]:
    """The catalog checks a ``gradcheck-table`` directive shows."""
    classes = [resolve(name) for name in arguments]
    patterns = [part.strip() for part in options.get("pattern", "").split(";") if part.strip()]
    return catalog_checks(classes, patterns, options.get("kind", "gradient"))


#: The methods a component page shows, when the class defines them itself: its math.
MATH_METHODS = (
    "function",
    "gradient",
    "forward",
    "backward",
    "forward_many",
    "backward_many",
    "loss",
    "value_and_gradient",
    "update",
    "penalty",
    "add_gradient",
)


def shown_on_pages(texts: Sequence[str]) -> set[type]:
    """The classes some page's ``gradcheck-table`` names."""
    return {resolve(name) for text in texts for args, _ in directives_in(text, "gradcheck-table") for name in args}


def page_texts() -> list[str]:
    """The text of every page of the site's sources."""
    paths = [path for path in DOCS.rglob("*.md") if not {"_build", "_generated"} & set(path.parts)]
    return [path.read_text(encoding="utf-8") for path in sorted(paths)]


def gallery_components(texts: Sequence[str]) -> list[type]:
    """Public components that no page shows (nor a subclass of them): the gallery shows them, from the code alone."""
    from gradcheck.suite.catalog import public_components

    shown = shown_on_pages(texts)
    return [cls for cls in public_components() if not any(issubclass(other, cls) for other in shown)]


def math_methods(cls: type) -> list[str]:
    """Dotted names of the math methods ``cls`` defines itself."""
    return [f"{cls.__module__}.{cls.__qualname__}.{name}" for name in MATH_METHODS if name in vars(cls)]


def gallery_checks(cls: type, kind: str) -> list[str]:
    """The checks named after ``cls``, or else every check covering it (of that kind)."""
    from gradcheck.suite.catalog import CATALOG

    named = catalog_checks([cls], [], kind)
    if named:
        return named
    is_reference = kind == "reference"
    return [c.name for c in CATALOG if cls in c.covers and c.name.endswith(" reference") == is_reference]
