"""Open every page of the built site in a real browser, with the network off, and fail on what a reader would see.

    python docs/browser_check.py docs/_build/html [--chromium /usr/bin/chromium] [--screenshots DIR]

``nox -s docs_browser`` runs it after building the site. The site is served from a local HTTP
server on 127.0.0.1; Chromium (Debian's, driven by Playwright's Python driver) may reach that
server and nothing else: every other request is aborted and reported, and host resolution is
mapped away besides. Every page of the site is opened, and the run fails on

- a console error or an uncaught exception in a page;
- a request that left the machine (a CDN, a web font);
- a broken internal link (a page or file the server does not have, or a #fragment the page lacks)
  or an image that did not load;
- unrendered math: ``$$``, ``\\(`` or ``\\[`` left in the text once MathJax has run, or a math
  element MathJax did not typeset;
- a generated gradcheck table without a row, or a component page without one;
- an executed cell's figure that was not drawn: ``plt.show()`` without an image in the cell's
  output, or a Figure shown as its text (``<Figure size ...>``: no inline backend in the kernel);
- a search for "Adam" that finds nothing.

Screenshots of a few pages go to ``--screenshots`` (default: a ``screenshots`` folder beside the site).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urlparse

#: Pages photographed for the artifacts: the home page, a component, a tutorial, the search.
SCREENSHOTS = {
    "index.html": "home.png",
    "components/dense.html": "dense.png",
    "components/activations.html": "activations.png",
    "tutorials/neuron-and-xor.html": "tutorial-xor.png",
    "search.html?q=Adam": "search-adam.png",
}

#: The text MathJax leaves behind when it did not run: its delimiters (code blocks excluded).
UNRENDERED_MATH_JS = """() => {
    const body = document.querySelector('article') || document.body;
    const copy = body.cloneNode(true);
    copy.querySelectorAll('pre, code, script, style, .highlight, textarea').forEach(e => e.remove());
    const text = copy.innerText;
    const left = ['$$', '\\\\(', '\\\\[', '\\\\)', '\\\\]'].filter(mark => text.includes(mark));
    const untypeset = [...document.querySelectorAll('.math')].filter(e => !e.querySelector('mjx-container')).length;
    return {left, untypeset, math: document.querySelectorAll('mjx-container').length};
}"""

BROKEN_IMAGES_JS = """() => [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"""
LINKS_JS = """() => [...document.querySelectorAll('a[href]')].map(a => a.href)"""
IDS_JS = """() => [...document.querySelectorAll('[id]')].map(e => e.id)"""
#: Per executed cell (MyST-NB): does its code call plt.show(), how many images its output holds, and whether
#: the output shows a Figure as text. textContent, not innerText: a hide-input cell's code is in a closed <details>.
FIGURES_JS = """() => [...document.querySelectorAll('div.cell')].map(cell => {
    const input = cell.querySelector('.cell_input'), output = cell.querySelector('.cell_output');
    return {
        show: !!input && input.textContent.includes('plt.show()'),
        images: output ? output.querySelectorAll('img').length : 0,
        text: !!output && output.textContent.includes('<Figure size'),
    };
})"""
TABLES_JS = """() => [...document.querySelectorAll('table.gradcheck-table')]
    .map(t => t.querySelectorAll('tbody tr').length)"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A browser that drops a connection it no longer needs (a closed page) is not an error of the site."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(QuietHandler, directory=str(site))
    server = QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def wait_for_math(page: Any) -> None:
    """Until MathJax has typeset the page (its script is deferred, so it exists at "load" wherever it is used)."""
    page.evaluate("async () => { if (window.MathJax && MathJax.startup) await MathJax.startup.promise; }")


def check(site: Path, chromium: str, screenshots: Path, search_timeout: float = 30.0) -> list[str]:
    from playwright.sync_api import sync_playwright

    pages = sorted(path.relative_to(site).as_posix() for path in site.rglob("*.html") if "_static" not in path.parts)
    problems: list[str] = []
    server, base = serve(site)
    origin = base.rstrip("/")
    links: dict[str, set[str]] = {}
    ids: dict[str, set[str]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--no-sandbox"],
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900})

        def route(route: Any) -> None:
            if route.request.url.startswith(origin):
                route.continue_()
            else:
                problems.append(f"a request left the machine: {route.request.url}")
                route.abort()

        context.route("**/*", route)
        page = context.new_page()
        current = [""]
        page.on("console", lambda m: m.type == "error" and problems.append(f"{current[0]}: console error: {m.text}"))
        page.on("pageerror", lambda e: problems.append(f"{current[0]}: uncaught exception: {e}"))
        page.on("response", lambda r: r.status >= 400 and problems.append(f"{current[0]}: HTTP {r.status} for {r.url}"))
        for name in pages:
            current[0] = name
            response = page.goto(base + name, wait_until="load")
            if response is None or response.status != 200:
                problems.append(f"{name}: HTTP {response.status if response else 'no response'}")
                continue
            wait_for_math(page)
            math = page.evaluate(UNRENDERED_MATH_JS)
            if math["left"]:
                problems.append(f"{name}: unrendered math, {math['left']} left in the text")
            if math["untypeset"]:
                problems.append(f"{name}: {math['untypeset']} math elements not typeset by MathJax")
            problems += [f"{name}: image did not load: {src}" for src in page.evaluate(BROKEN_IMAGES_JS)]
            for cell in page.evaluate(FIGURES_JS):
                if cell["show"] and not cell["images"]:
                    problems.append(f"{name}: a figure not drawn (plt.show() left no image in its output)")
                if cell["text"]:
                    problems.append(f"{name}: a figure shown as text, not drawn (<Figure size ...>)")
            rows = page.evaluate(TABLES_JS)
            problems += [f"{name}: a gradcheck table without rows" for count in rows if count == 0]
            component_page = name.startswith("components/") and name != "components/index.html"
            if component_page and not rows and not page.locator(".gallery-empty").count():
                problems.append(f"{name}: a component page without a gradcheck table")
            links[name] = {link for link in page.evaluate(LINKS_JS) if link.startswith(origin)}
            ids[name] = set(page.evaluate(IDS_JS))
        problems += broken_links(context, base, links, ids)
        problems += search(page, base, search_timeout)
        screenshots.mkdir(parents=True, exist_ok=True)
        context.close()  # a fresh context: the search's highlighting (kept in local storage) stays out of the pictures
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.route("**/*", route)
        page = context.new_page()
        for name, file in SCREENSHOTS.items():
            if name.split("?")[0] in pages:
                current[0] = name
                page.goto(base + name, wait_until="load")
                wait_for_math(page)
                if "search" in name and not any(p.startswith("search:") for p in problems):
                    page.wait_for_selector("#search-results li", timeout=search_timeout * 1000)
                page.screenshot(path=str(screenshots / file), full_page=False)
        browser.close()
    server.shutdown()
    return problems


def broken_links(context: Any, base: str, links: dict[str, set[str]], ids: dict[str, set[str]]) -> list[str]:
    """Every internal link: its target answers 200, and its #fragment is an id of that page."""
    problems = []
    status: dict[str, int] = {}
    for source, targets in sorted(links.items()):
        for link in sorted(targets):
            url, fragment = urldefrag(link)
            path = urlparse(url).path.lstrip("/")
            if path == "" or path.endswith("/"):
                path += "index.html"
            if url not in status:
                status[url] = context.request.get(url).status
            if status[url] != 200:
                problems.append(f"{source}: broken link to {link} (HTTP {status[url]})")
            elif fragment and path in ids and fragment not in ids[path]:
                problems.append(f"{source}: link to a missing anchor {link}")
    return problems


def search(page: Any, base: str, timeout: float) -> list[str]:
    """The site's search (its local index, in the page) finds pages for "Adam"."""
    page.goto(base + "search.html?q=Adam", wait_until="load")
    try:
        page.wait_for_selector("#search-results li", timeout=timeout * 1000)
    except Exception:  # Playwright's TimeoutError: no result appeared
        return ['search: "Adam" found nothing']
    titles = page.locator("#search-results li").all_inner_texts()
    if not any("optimizer" in title.lower() or "adam" in title.lower() for title in titles):
        return [f'search: "Adam" found {titles}, none about Adam']
    return []


#: A site with one of each problem the check must find, and the words of the report that says so.
BROKEN_SITE = {
    "index.html": """<html><head><title>broken</title></head><body><article>
        <p>Unrendered: $$x^2$$</p>
        <a href="missing.html">a broken link</a> <a href="index.html#nowhere">a missing anchor</a>
        <img src="missing.png" alt="an image that is not there">
        <img src="http://192.0.2.1/remote.png" alt="an image from another machine">
        <table class="gradcheck-table"><thead><tr><th>check</th></tr></thead><tbody></tbody></table>
        <div class="cell"><div class="cell_input"><pre>plt.show()</pre></div></div>
        <div class="cell"><div class="cell_input"><pre>figure</pre></div>
            <div class="cell_output"><pre>&lt;Figure size 640x480 with 1 Axes&gt;</pre></div></div>
        <script>console.error("a deliberate error")</script>
        </article></body></html>""",
    "components/empty.html": "<html><body><article><p>No proof here.</p></article></body></html>",
    "search.html": "<html><body><article><div id='search-results'></div></article></body></html>",
}
EXPECTED = [
    "unrendered math",
    "broken link",
    "missing anchor",
    "image did not load",
    "left the machine",
    "gradcheck table without rows",
    "a figure not drawn",
    "a figure shown as text",
    "component page without a gradcheck table",
    "console error",
    'search: "Adam" found nothing',
]


def self_test(chromium: str) -> list[str]:
    """Run the check on ``BROKEN_SITE``: the report must name every problem it holds."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        site = Path(folder) / "site"
        for name, html in BROKEN_SITE.items():
            (site / name).parent.mkdir(parents=True, exist_ok=True)
            (site / name).write_text(html, encoding="utf-8")
        problems = check(site, chromium, Path(folder) / "screenshots", search_timeout=2.0)
    return [
        f"self-test: the check did not report {words!r}" for words in EXPECTED if not any(words in p for p in problems)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", type=Path, help="the built site (docs/_build/html)")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="the Chromium to drive")
    parser.add_argument("--screenshots", type=Path, help="where the screenshots go")
    parser.add_argument("--self-test", action="store_true", help="first check that a broken site is caught")
    args = parser.parse_args(argv)
    if args.self_test:
        missed = self_test(args.chromium)
        for problem in missed:
            print(problem)
        if missed:
            return 1
        print(f"self-test: a site with {len(EXPECTED)} kinds of problem, every one reported")
    if not (args.site / "index.html").is_file():
        parser.error(f"{args.site} holds no index.html: build the site first (nox -s docs)")
    start = time.perf_counter()
    screenshots = args.screenshots or args.site.parent / "screenshots"
    problems = check(args.site.resolve(), args.chromium, screenshots)
    pages = sum(1 for path in args.site.rglob("*.html") if "_static" not in path.parts)
    for problem in problems:
        print(problem)
    verdict = "FAILED" if problems else "OK"
    print(f"{verdict}: {pages} pages opened, {len(problems)} problems, {time.perf_counter() - start:.1f} s")
    print(f"screenshots in {screenshots}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
