"""The documentation site's sources hold together, without building it (``nox -s docs`` builds it).

What a page reads from the code is named in its directives: every name resolves, every
gradcheck table selects checks that exist, every public component has a page showing its
checks, and every tutorial is a notebook the site executes. The exercises are in
test_docs_exercises.py.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from gradcheck.suite.catalog import public_components

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

import pages  # noqa: E402  (docs/_ext/pages.py: the Sphinx-free half of the extension)

SOURCES = sorted(path for path in DOCS.rglob("*.md") if not {"_build", "_generated"} & set(path.parts))
TEXTS = {path.relative_to(DOCS).as_posix(): path.read_text(encoding="utf-8") for path in SOURCES}
TABLES = [
    (page, args, options)
    for page, text in TEXTS.items()
    for args, options in pages.directives_in(text, "gradcheck-table")
]
SOURCE_NAMES = [
    (page, name)
    for page, text in TEXTS.items()
    for args, _ in pages.directives_in(text, "refnet-source")
    for name in args
]
TUTORIALS = sorted(path for path in (DOCS / "tutorials").glob("*.md") if path.name != "index.md")


def test_the_directive_parser_reads_arguments_and_options() -> None:
    text = "x\n```{gradcheck-table} refnet.A refnet.B\n:kind: reference\n:pattern: a;b\n```\n"
    assert pages.directives_in(text, "gradcheck-table") == [
        (["refnet.A", "refnet.B"], {"kind": "reference", "pattern": "a;b"})
    ]
    assert pages.directives_in(text, "refnet-source") == []


def test_the_pages_name_code_and_tables_to_generate() -> None:
    assert len(TABLES) >= 20 and len(SOURCE_NAMES) >= 25


@pytest.mark.parametrize(("page", "name"), SOURCE_NAMES, ids=[f"{page}:{name}" for page, name in SOURCE_NAMES])
def test_every_included_source_names_a_function_or_class_of_this_checkout(page: str, name: str) -> None:
    value = pages.resolve(name)
    assert callable(value) or isinstance(value, type), f"{page}: {name} is not a function or class"


def test_an_unknown_name_is_refused() -> None:
    with pytest.raises(pages.UnknownName, match="no 'forwardd'"):
        pages.resolve("refnet.layer.Dense.forwardd")


@pytest.mark.parametrize(("page", "arguments", "options"), TABLES, ids=[f"{p}:{' '.join(a)}" for p, a, _ in TABLES])
def test_every_gradcheck_table_selects_checks_of_the_catalog(
    page: str, arguments: list[str], options: dict[str, str]
) -> None:
    names = pages.table_checks(arguments, options)
    assert names, f"{page}: the gradcheck table of {arguments} selects no check"
    if options.get("kind") == "reference":
        assert all(name.endswith(" reference") for name in names)


def test_a_table_shows_the_checks_named_after_its_class_only() -> None:
    names = pages.table_checks(["refnet.functions.ReLU"], {})
    assert names == ["ReLU"]  # not LeakyReLU, not Dense[relu]
    assert pages.table_checks(["refnet.functions.ReLU"], {"kind": "reference"}) == ["ReLU reference"]


def test_a_table_of_functions_names_its_checks_by_pattern_only() -> None:
    names = pages.table_checks([], {"pattern": "initializers[; freezing["})
    assert sorted(names) == [
        "freezing[every optimizer leaves a frozen layer as it is]",
        "initializers[he_uniform, glorot_normal, lecun_normal]",
        "initializers[orthogonal]",
    ]


def test_every_public_component_is_shown_with_its_checks() -> None:
    """On a page of its own, or else in the gallery of components/more.md, which needs a check covering it."""
    shown = pages.shown_on_pages(list(TEXTS.values()))
    gallery = pages.gallery_components(list(TEXTS.values()))
    for cls in public_components():
        assert any(issubclass(other, cls) for other in shown) or cls in gallery
    assert [cls.__name__ for cls in gallery if not pages.gallery_checks(cls, "gradient")] == []


def test_the_gallery_shows_the_components_no_page_shows() -> None:
    from refnet import Dense, Tanh

    everything = list(TEXTS.values())
    without_dense = [text for page, text in TEXTS.items() if page != "components/dense.md"]
    assert Dense not in pages.gallery_components(everything)
    assert Dense in pages.gallery_components(without_dense)
    assert pages.math_methods(Tanh) == ["refnet.functions.Tanh.function", "refnet.functions.Tanh.gradient"]


def test_a_table_runs_its_checks_and_they_pass() -> None:
    results = pages.run_check("Tanh")
    assert results and all(result.passed for result in results)
    assert {result.component for result in results} == {"Tanh"}


def test_every_component_page_is_in_the_components_toctree() -> None:
    index = TEXTS["components/index.md"]
    for path in (DOCS / "components").glob("*.md"):
        if path.name != "index.md":
            assert re.search(rf"^{path.stem}$", index, flags=re.M), f"{path.name} is not listed in components/index.md"


@pytest.mark.parametrize("path", TUTORIALS, ids=[path.stem for path in TUTORIALS])
def test_every_tutorial_is_a_notebook_the_site_executes_and_links(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\njupytext:") and "kernelspec:" in text.split("\n---\n", 1)[0]
    assert "```{code-cell} ipython3" in text
    assert f"/_generated/notebooks/{path.stem}.ipynb" in text, "the page links to its notebook"
    assert re.search(rf"^{path.stem}$", TEXTS["tutorials/index.md"], flags=re.M), "listed in tutorials/index.md"


def test_there_are_at_least_four_tutorials_and_no_committed_notebook() -> None:
    assert {path.stem for path in TUTORIALS} >= {
        "neuron-and-xor",
        "digits-mlp",
        "your-own-layer",
        "gradient-checking-pitfalls",
    }
    stale = [path for path in DOCS.rglob("*.ipynb") if not {"_build", "_generated"} & set(path.parts)]
    assert not stale, f"notebooks are written at build time from the tutorials, never committed: {stale}"


def test_the_readme_links_into_the_site_and_every_link_exists() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert "docs/index.md" in links
    assert [link for link in links if not (ROOT / link).is_file()] == []


def test_the_site_vendors_its_math_renderer_and_loads_nothing_from_a_cdn() -> None:
    conf = (DOCS / "conf.py").read_text(encoding="utf-8")
    assert 'mathjax_path = "mathjax/tex-chtml.js"' in conf
    for text in [conf, *TEXTS.values()]:
        assert not re.search(r"<script[^>]+src=\"https?://", text)


#: A repository path written in backticks: `refnet/optimizers.py`, `gradcheck/core/`.
REPOSITORY_PATH = re.compile(r"`((?:refnet|gradcheck|tests|tools|benchmarks|examples|docs)/[\w./-]*)`")


def test_every_repository_path_the_readme_and_the_docs_name_exists() -> None:
    texts = {"README.md": (ROOT / "README.md").read_text(encoding="utf-8")}
    texts.update({f"docs/{name}": text for name, text in TEXTS.items()})
    missing = [
        f"{name}: {match}"
        for name, text in texts.items()
        for match in REPOSITORY_PATH.findall(text)
        if "_build" not in match.split("/") and not (ROOT / match).exists()  # _build: made by the docs session
    ]
    assert sum(len(REPOSITORY_PATH.findall(text)) for text in texts.values()) > 50  # the pattern finds the paths
    assert not missing, missing
