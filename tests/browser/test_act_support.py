"""Shared helpers for the executor tests: a recording fixture server and hand-made ref maps.

The fixture pages live in ``fixtures/pages/actions``. The server serves them, records every form
posted to ``/submit`` (the server-side outcome tests assert on) and answers ``/slow?ms=N`` after a
delay. Refs are stamped by hand, the way an observation stamps them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from functools import partial
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from playwright.async_api import Frame, Page

from operator_agent.observe.refs import REF_ATTRIBUTE, ElementRef, RefMap
from operator_agent.testing.site_server import LocalServer

PAGES = Path(__file__).resolve().parents[2] / "fixtures" / "pages" / "actions"


@dataclass
class Submission:
    """One form the server received."""

    fields: dict[str, list[str]]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)


@dataclass
class Recorder:
    submissions: list[Submission] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, submission: Submission) -> None:
        with self.lock:
            self.submissions.append(submission)

    def last(self) -> Submission:
        with self.lock:
            assert self.submissions, "the server received no form"
            return self.submissions[-1]


class _Handler(SimpleHTTPRequestHandler):
    def __init__(self, *args: Any, recorder: Recorder, **kwargs: Any) -> None:
        self.recorder = recorder
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args: Any) -> None:
        return

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def _html(self, body: str, status: int = 200) -> None:
        data = f"<!doctype html><html><head><title>Result</title></head><body>{body}</body></html>".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/slow":
            time.sleep(int(parse_qs(parts.query).get("ms", ["500"])[0]) / 1000)
            self._html("<h1>Slow report</h1>")
            return
        if parts.path == "/missing":
            self._html("<h1>Not here</h1>", status=404)
            return
        super().do_GET()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("multipart/form-data"):
            message = BytesParser(policy=HTTP).parsebytes(
                b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
            )
            submission = Submission(fields={})
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                filename = part.get_filename()
                payload = part.get_payload(decode=True) or b""
                if filename is not None:
                    submission.files[str(name)] = (filename, payload)
                elif filename is None and part.get_param("filename", header="content-disposition") is None:
                    submission.fields.setdefault(str(name), []).append(payload.decode())
        else:
            submission = Submission(fields=parse_qs(body.decode(), keep_blank_values=True))
        self.recorder.add(submission)
        self._html("<h1>Saved</h1>")


@contextmanager
def recording_server() -> Iterator[tuple[LocalServer, Recorder]]:
    """Serve the action fixture pages; yields the server and what it received."""
    recorder = Recorder()
    handler = partial(_Handler, directory=str(PAGES), recorder=recorder)
    with LocalServer(handler=handler) as server:
        yield server, recorder


_STAMP_JS = """
([selector, attr, ref]) => {
  const el = document.querySelector(selector);
  if (!el) return null;
  el.setAttribute(attr, ref);
  const tag = el.tagName.toLowerCase();
  const type = tag === 'input' ? (el.getAttribute('type') || 'text').toLowerCase() : null;
  const implicit = {
    a: el.hasAttribute('href') ? 'link' : 'generic', button: 'button', textarea: 'textbox',
    select: el.multiple ? 'listbox' : 'combobox', ul: 'list', li: 'listitem', output: 'status',
    h1: 'heading', p: 'paragraph',
  };
  const inputRoles = {
    checkbox: 'checkbox', radio: 'radio', file: 'button', submit: 'button', button: 'button',
  };
  let role = el.getAttribute('role') || implicit[tag] ||
    (tag === 'input' ? (inputRoles[type] || (el.hasAttribute('list') ? 'combobox' : 'textbox')) : 'generic');
  let labelled = '';
  if (el.labels && el.labels.length) {
    const copy = el.labels[0].cloneNode(true);
    copy.querySelectorAll('select, textarea, input').forEach((n) => n.remove());
    labelled = copy.textContent;
  }
  const own = ['input', 'textarea', 'select'].includes(tag) ? '' : el.innerText;
  const name = (el.getAttribute('aria-label') || labelled || own || el.getAttribute('placeholder') || '')
    .replace(/\\s+/g, ' ').trim();
  return { role, name, tag, type };
}
"""


async def stamp(page: Page | Frame, selectors: Mapping[str, str]) -> RefMap:
    """Stamp refs on the elements the CSS selectors find, like an observation does.

    Args:
        page: The page (or frame) holding the elements.
        selectors: ``{"e1": "#save", ...}``.
    """
    frame = page.main_frame if isinstance(page, Page) else page
    refs: dict[str, ElementRef] = {}
    for ref, selector in selectors.items():
        info = await frame.evaluate(_STAMP_JS, [selector, REF_ATTRIBUTE, ref])
        assert info is not None, f"no element matches {selector!r}"
        refs[ref] = ElementRef(
            ref=ref,
            frame=frame,
            selector=f'[{REF_ATTRIBUTE}="{ref}"]',
            role=info["role"],
            name=info["name"],
            tag=info["tag"],
            input_type=info["type"],
        )
    return RefMap(refs)
