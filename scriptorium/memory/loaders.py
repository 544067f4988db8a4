"""Read Markdown, plain text, HTML and PDF files into plain text with a title.

HTML headings become Markdown headings and block elements become paragraphs, so the chunker treats
every format alike. A file that cannot be read raises `UnreadableFile`; ingestion reports and skips it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from ..errors import MemoryStoreError

__all__ = ["SUPPORTED_SUFFIXES", "Document", "UnreadableFile", "load_document"]

SUPPORTED_SUFFIXES = {".md", ".markdown", ".txt", ".text", ".html", ".htm", ".pdf"}


class UnreadableFile(MemoryStoreError):
    """A file that cannot be turned into text (ingestion reports and skips it)."""


@dataclass(frozen=True)
class Document:
    source: str
    title: str
    text: str


def load_document(path: Path) -> Document:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnreadableFile(f"unsupported file type '{suffix or path.name}'")
    try:
        if suffix == ".pdf":
            title, text = _pdf(path)
        else:
            raw = path.read_text(encoding="utf-8", errors="replace")
            if suffix in (".html", ".htm"):
                title, text = _html(raw)
            else:
                title, text = _markdown_title(raw), raw
    except UnreadableFile:
        raise
    except Exception as exc:
        raise UnreadableFile(f"{type(exc).__name__}: {exc}") from exc
    if not text.strip():
        raise UnreadableFile("no text in it")
    return Document(source=str(path), title=title or path.stem.replace("_", " ").replace("-", " "), text=text)


def _markdown_title(text: str) -> str:
    match = re.search(r"^#[ \t]+(.+?)[ \t#]*$", text, re.M)
    return match.group(1).strip() if match else ""


def _pdf(path: Path) -> tuple[str, str]:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    if reader.is_encrypted:
        raise UnreadableFile("the PDF is encrypted")
    pages = [(page.extract_text() or "").strip() for page in reader.pages]
    title = str(reader.metadata.title) if reader.metadata and reader.metadata.title else ""
    return title, "\n\n".join(page for page in pages if page)


_BLOCKS = {"p", "div", "section", "article", "li", "ul", "ol", "table", "tr", "br", "pre", "blockquote"}
_SKIP = {"script", "style", "noscript", "nav", "footer", "header", "svg", "template"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skipping = 0
        self._in_title = False
        self._heading: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skipping += 1
        elif tag == "title":
            self._in_title = True
        elif re.fullmatch(r"h[1-6]", tag):
            self._heading = tag
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag == "title":
            self._in_title = False
        elif tag == self._heading:
            self._heading = None
            self.parts.append("\n\n")
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skipping:
            self.parts.append(re.sub(r"\s+", " ", data) if self._heading else data)


def _html(raw: str) -> tuple[str, str]:
    parser = _TextExtractor()
    parser.feed(raw)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return parser.title.strip(), text
