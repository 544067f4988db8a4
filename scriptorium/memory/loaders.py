"""Read Markdown, plain text, HTML and PDF files into plain text with a title.

HTML headings become Markdown headings and block elements become paragraphs, so the chunker treats
every format alike. A file with no text to give (binary, an unknown encoding, an unsupported type)
raises `UnreadableFile`; ingestion reports and skips it. A file that cannot be opened raises the
`OSError`, which ingestion reports as a path it could not read.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from ..errors import MemoryStoreError
from .decoding import NotText, decode_text

__all__ = ["SUPPORTED_SUFFIXES", "Document", "UnreadableFile", "load_document"]

SUPPORTED_SUFFIXES = {".md", ".markdown", ".txt", ".text", ".html", ".htm", ".pdf"}


class UnreadableFile(MemoryStoreError):
    """A file that cannot be turned into text (ingestion reports and skips it)."""


@dataclass(frozen=True)
class Document:
    source: str
    title: str
    text: str
    notes: tuple[str, ...] = ()
    """What the reader should know about how it was read (say, the encoding it was read with)."""


def load_document(path: Path) -> Document:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnreadableFile(f"unsupported file type '{suffix or path.name}'")
    raw = path.read_bytes()  # an OSError here is the path's problem, not the content's: it propagates
    notes: tuple[str, ...] = ()
    try:
        if suffix == ".pdf":
            title, text = _pdf(raw)
        else:
            decoded = decode_text(raw)
            if isinstance(decoded, NotText):
                raise UnreadableFile(decoded.reason)
            notes = (decoded.note,) if decoded.note else ()
            if suffix in (".html", ".htm"):
                title, text = _html(decoded.text)
            else:
                title, text = _markdown_title(decoded.text), decoded.text
    except UnreadableFile:
        raise
    except Exception as exc:
        raise UnreadableFile(f"{type(exc).__name__}: {exc}") from exc
    if not text.strip():
        raise UnreadableFile("no text in it")
    title = title or path.stem.replace("_", " ").replace("-", " ")
    return Document(source=str(path), title=title, text=text, notes=notes)


def _markdown_title(text: str) -> str:
    match = re.search(r"^#[ \t]+(.+?)[ \t#]*$", text, re.M)
    return match.group(1).strip() if match else ""


def _pdf(raw: bytes) -> tuple[str, str]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(raw))
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
