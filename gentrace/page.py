"""The replay page's HTML: its front end (``gentrace/assets``) filled in with a trace's data.

The page's markup, style and script are package data, ``assets/replay.html``, ``replay.css`` and
``replay.js``, read the first time a page is built (never on import) and kept. `page` puts the
style, the script and the data (as `script_json`) into the markup, under a Content-Security-Policy
that allows that script and that style only, by their sha256 hashes. `PageFile` is where a page
goes. What the page's DOM holds is described in `gentrace.replay`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
from importlib import resources
from typing import Any

from gentrace.sinks import open_log


@functools.cache
def _asset(name: str) -> str:
    """The text of ``gentrace/assets/NAME``, read once."""
    return (resources.files("gentrace") / "assets" / name).read_text(encoding="utf-8")


def script_json(data: Any) -> str:
    """`data` as JSON that cannot end the ``<script>`` element holding it, nor any other."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def page(data: dict[str, Any]) -> str:
    """The HTML page for the data `Replay.finish` made (plus its ``title``)."""
    style, script = _asset("replay.css"), _asset("replay.js")
    csp = (
        f"default-src 'none'; script-src {_sha256(script)}; style-src {_sha256(style)}; "
        "base-uri 'none'; form-action 'none'"
    )
    return (
        _asset("replay.html")
        .replace("@CSP@", csp)
        .replace("@STYLE@", style)
        .replace("@SCRIPT@", script)
        .replace("@DATA@", script_json(data))
    )


class PageFile:
    """Where a page goes: checked writable at once, written whole at the end, or not at all.

    Opening it to append creates it without touching what is there; a file this made and never
    wrote is removed by `discard`, and one that already existed keeps its old content.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._made = not os.path.lexists(path)
        with open(path, "a", encoding="utf-8"):
            pass

    def write(self, text: str) -> None:
        """Write the page; a page cut short by an error is removed (the error propagates)."""
        try:
            with open_log(self.path) as stream:
                stream.write(text)
        except OSError:
            if os.path.isfile(self.path):
                os.unlink(self.path)
            raise

    def discard(self) -> None:
        """Leave no page behind: remove the file if it was made for it."""
        if self._made and os.path.isfile(self.path):
            os.unlink(self.path)
