"""What the pages show from the code, read from the code while the site is built.

Directives (MyST: ```` ```{refnet-source} refnet.layer.Dense.backward ```` and so on):

- ``refnet-source NAME...``: the source of functions, methods or classes, taken with ``inspect``
  from the checkout being documented, with the file and the lines it comes from;
- ``gradcheck-table CLASS...``: runs gradcheck's catalog checks of those classes (every check
  that covers one and whose name starts with its name; ``:pattern:`` adds checks by name) and
  shows their rows: the gradient and closed-form checks, and with ``:kind: reference`` the
  values against the textbook references. A table with no row, or a row that does not pass,
  fails the build;
- ``component-gallery``: every public component no page shows yet, from the code alone (its
  docstring, its math methods, its rows), so a component merged before its page is on the site at once;
- ``activation-plot CLASS``: a figure of f(x) and its f'(x) as the class computes them, with the
  central difference of f at a few points on top;
- ``refnet-docstring NAME``: a docstring shown as written (the file format's, say);
- ``gradcheck-help`` and ``gradcheck-list``: the command's ``--help`` and its catalog;
- ``exercise-diff BROKEN SOLUTION``: the repair of an exercise, as a diff of the two files.

Tutorials (MyST notebooks under tutorials/) are executed by MyST-NB; this extension also writes
each one as a Jupyter notebook (jupytext) to _generated/notebooks/, which the pages link to.
"""

from __future__ import annotations

import difflib
import inspect
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
from docutils import nodes
from docutils.parsers.rst import directives
from pages import (
    DOCS,
    SEED,
    gallery_checks,
    gallery_components,
    math_methods,
    page_texts,
    resolve,
    run_check,
    table_checks,
)
from sphinx.application import Sphinx
from sphinx.directives.code import container_wrapper
from sphinx.util.docutils import SphinxDirective

ROOT = DOCS.parent
GENERATED = DOCS / "_generated"


class RefnetSource(SphinxDirective):
    """The source of each named object, as it is in the code."""

    required_arguments = 1
    optional_arguments = 20
    option_spec = {"caption": directives.unchanged}  # noqa: RUF012

    def run(self) -> list[nodes.Node]:
        found = []
        for name in self.arguments:
            value = inspect.unwrap(resolve(name))
            lines, first = inspect.getsourcelines(value)
            path = Path(inspect.getsourcefile(value) or "").resolve()
            self.env.note_dependency(str(path))
            where = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
            code = textwrap.dedent("".join(lines)).rstrip()
            block = nodes.literal_block(code, code, language="python")
            block["classes"].append("refnet-source")
            caption = self.options.get("caption") or f"{where}, lines {first}–{first + len(lines) - 1}"
            self.set_source_info(block)
            found.append(container_wrapper(self, block, caption))
        return found


COLUMNS = ["check", "tensor", "worst", "analytic", "numerical", "abs err", "rel err", "abs tol", "verdict"]
REFERENCE_COLUMNS = ["check", "value", "worst", "refnet", "textbook", "abs err", "rel err", "abs tol", "verdict"]


def table_node(header: list[str], rows: list[list[str]], classes: list[str]) -> nodes.table:
    table = nodes.table(classes=classes)
    group = nodes.tgroup(cols=len(header))
    table += group
    group += [nodes.colspec(colwidth=1) for _ in header]
    head = nodes.thead()
    group += head
    body = nodes.tbody()
    group += body
    for cells, part in [(header, head), *[(row, body) for row in rows]]:
        row_node = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            entry += nodes.paragraph(text=cell)
            row_node += entry
        part += row_node
    return table


class GradcheckTable(SphinxDirective):
    """The catalog rows of the named classes (and of the checks ``:pattern:`` names), computed now by running them."""

    required_arguments = 0  # a table of functions (initializers, schedules) names its checks by :pattern: only
    optional_arguments = 20
    option_spec = {  # noqa: RUF012
        "pattern": directives.unchanged,
        "kind": lambda text: directives.choice(text, ("gradient", "reference")),
    }

    def run(self) -> list[nodes.Node]:
        kind = self.options.get("kind", "gradient")
        names = table_checks(self.arguments, self.options)
        if not names:
            wanted = ", ".join([*self.arguments, *filter(None, [self.options.get("pattern")])])
            raise self.error(f"gradcheck-table: no {kind} check in the catalog for {wanted}")
        return gradcheck_nodes(self, names, kind)


def gradcheck_nodes(directive: SphinxDirective, names: list[str], kind: str) -> list[nodes.Node]:
    """The rows of the named checks, run now, and their summary; a row that does not pass is a build warning."""
    from gradcheck.core.results import Report
    from gradcheck.core.table import verdict_text

    results = [result for name in names for result in run_check(name)]
    report = Report(results)
    rows = [
        [
            r.component,
            r.tensor,
            r.index,
            f"{r.analytic: .4e}",
            f"{r.numerical: .4e}",
            f"{r.abs_error:.1e}",
            f"{r.rel_error:.1e}",
            f"{r.tolerance:.1e}",
            verdict_text(r),
        ]
        for r in results
    ]
    header = REFERENCE_COLUMNS if kind == "reference" else COLUMNS
    found: list[nodes.Node] = [table_node(header, rows, ["gradcheck-table", f"gradcheck-{kind}"])]
    summary = nodes.paragraph(classes=["gradcheck-summary"])
    summary += nodes.literal(text=report.summary().rsplit(" in ", 1)[0])
    summary += nodes.Text(f" (seed {SEED}, run while this page was built)")
    found.append(summary)
    if not report.passed:
        logger_warning(directive, f"gradcheck rows that do not pass on this page:\n{report.explanations()}")
    return found


class ComponentGallery(SphinxDirective):
    """Every public component no page shows yet: its docstring, its math methods' source, its checks' rows.

    A component merged before its page is written appears here at once, proof included; its own
    page (with the derivation) takes it out of the gallery.
    """

    def run(self) -> list[nodes.Node]:
        found: list[nodes.Node] = []
        components = gallery_components(page_texts())
        if not components:
            found.append(nodes.paragraph(text="Every component has a page of its own.", classes=["gallery-empty"]))
        for cls in components:
            section = nodes.section(ids=[nodes.make_id(f"gallery-{cls.__name__}")], names=[cls.__name__.lower()])
            section += nodes.title(text=cls.__name__)
            doc = inspect.getdoc(cls) or ""
            section += nodes.literal_block(doc, doc, language="text")
            source = RefnetSource(
                "refnet-source",
                math_methods(cls),
                {},
                self.content,
                self.lineno,
                self.content_offset,
                self.block_text,
                self.state,
                self.state_machine,
            )
            section += source.run() if math_methods(cls) else []
            for kind in ("gradient", "reference"):
                names = gallery_checks(cls, kind)
                if names:
                    section += gradcheck_nodes(self, names, kind)
                elif kind == "gradient":
                    raise self.error(f"component-gallery: no catalog check covers {cls.__name__}")
            found.append(section)
        return found


def logger_warning(directive: SphinxDirective, message: str) -> None:
    from sphinx.util import logging

    logging.getLogger(__name__).warning(message, location=directive.get_location())


def central_difference(f: Any, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """(f(x + h) − f(x − h)) / 2h, elementwise: the numerical derivative gradcheck compares with."""
    return (f(x + h) - f(x - h)) / (2 * h)


class ActivationPlot(SphinxDirective):
    """f and f' of an activation, drawn from its own ``function`` and ``gradient``."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        cls = resolve(self.arguments[0])
        activation = cls()
        x = np.linspace(-4, 4, 801)
        y = activation.function(x)
        # gradient() takes the output y, or the input x for an activation whose derivative is written in x
        derivative = activation.gradient(x if getattr(activation, "from_input", False) else y, np.ones_like(x))
        points = np.array([-3.0, -2.0, -1.0, -0.5, 0.5, 1.0, 2.0, 3.0])
        numerical = central_difference(activation.function, points)
        figure, axes = plt.subplots(figsize=(6.4, 3.4), dpi=100)
        axes.plot(x, y, label=f"{cls.__name__}: f(x)")
        axes.plot(x, derivative, label="f'(x), from its gradient method")
        axes.plot(points, numerical, "o", color="black", markersize=4, label="central difference of f")
        axes.axhline(0, color="grey", linewidth=0.5)
        axes.axvline(0, color="grey", linewidth=0.5)
        axes.set_xlabel("x")
        axes.legend(loc="upper left", fontsize=8)
        figure.tight_layout()
        GENERATED.joinpath("figures").mkdir(parents=True, exist_ok=True)
        path = GENERATED / "figures" / f"{cls.__name__.lower()}.png"
        figure.savefig(path)
        plt.close(figure)
        image = nodes.image(uri=f"/_generated/figures/{path.name}", alt=f"{cls.__name__} and its derivative")
        figure_node = nodes.figure("", image)
        figure_node += nodes.caption(
            text=f"{cls.__name__} and its derivative, computed by refnet while this page was built; "
            "the dots are central differences of f."
        )
        return [figure_node]


class RefnetDocstring(SphinxDirective):
    """An object's docstring shown as written (plain text, where rST would misread it)."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        text = inspect.getdoc(resolve(self.arguments[0])) or ""
        return [nodes.literal_block(text, text, language="text")]


class GradcheckHelp(SphinxDirective):
    """``gradcheck --help`` as the command prints it."""

    def run(self) -> list[nodes.Node]:
        from gradcheck.cli import build_parser

        text = build_parser().format_help().rstrip()
        return [nodes.literal_block(text, text, language="text")]


class GradcheckList(SphinxDirective):
    """The catalog: every check's name and the classes it covers."""

    def run(self) -> list[nodes.Node]:
        from gradcheck.suite.catalog import CATALOG

        rows = [[check.name, ", ".join(cls.__name__ for cls in check.covers)] for check in CATALOG]
        return [table_node(["check", "covers"], rows, ["gradcheck-list"])]


class ExerciseDiff(SphinxDirective):
    """The repair of an exercise: a unified diff from the broken file to its solution."""

    required_arguments = 2

    def run(self) -> list[nodes.Node]:
        broken, solution = (DOCS / name.lstrip("/") for name in self.arguments)
        for path in (broken, solution):
            self.env.note_dependency(str(path))
        diff = difflib.unified_diff(
            broken.read_text(encoding="utf-8").splitlines(),
            solution.read_text(encoding="utf-8").splitlines(),
            fromfile=self.arguments[0],
            tofile=self.arguments[1],
            lineterm="",
            n=2,
        )
        text = "\n".join(diff)
        return [nodes.literal_block(text, text, language="diff")]


def docstring_as_written(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """Show each docstring as it is written: refnet's docstrings are plain text (formulas, shapes, |x|), not rST."""
    if lines:
        lines[:] = ["::", "", *(f"    {line}" for line in lines), ""]


def write_notebooks(app: Sphinx) -> None:
    """Each tutorial (a MyST notebook) as a Jupyter notebook, without outputs, for the pages to link to."""
    import jupytext

    target = GENERATED / "notebooks"
    target.mkdir(parents=True, exist_ok=True)
    for source in sorted((DOCS / "tutorials").glob("*.md")):
        if "kernelspec" not in source.read_text(encoding="utf-8")[:500]:
            continue
        notebook = jupytext.read(source, fmt="md:myst")
        for cell in notebook.cells:  # the page's own link to the notebook means nothing inside it
            if cell.cell_type == "markdown":
                cell.source = "\n".join(line for line in cell.source.splitlines() if "{download}" not in line)
        jupytext.write(notebook, target / f"{source.stem}.ipynb", fmt="ipynb")


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("refnet-source", RefnetSource)
    app.add_directive("gradcheck-table", GradcheckTable)
    app.add_directive("activation-plot", ActivationPlot)
    app.add_directive("component-gallery", ComponentGallery)
    app.add_directive("refnet-docstring", RefnetDocstring)
    app.add_directive("gradcheck-help", GradcheckHelp)
    app.add_directive("gradcheck-list", GradcheckList)
    app.add_directive("exercise-diff", ExerciseDiff)
    app.connect("builder-inited", write_notebooks)
    app.connect("autodoc-process-docstring", docstring_as_written)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
