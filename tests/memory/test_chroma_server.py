"""Memory through a real `chroma run` server on loopback (`memory.url`): two processes ingest and
query one store at once without errors, the embedding-model check applies as it does to a folder,
and a server that is not there is a clear error naming its address and how to start one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scriptorium.errors import EmbeddingMismatch, MemoryStoreError
from scriptorium.memory import LocalEmbedder, MemoryStore
from scriptorium.memory.embeddings import bundled_model_dir

from ..conftest import free_port
from ..helpers import CORPUS

CHROMA = Path(sys.executable).parent / "chroma"

WORKER = """
import sys
from pathlib import Path
from scriptorium.memory import MemoryStore

url, folder, word = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
with MemoryStore(Path("unused"), "shared", url=url) as store:
    for round in range(3):
        notes = folder / f"{word}-{round}.md"
        notes.write_text(f"# {word} {round}\\n\\n" + f"{word} notes, part {round}. " * 40)
        store.ingest([notes])
        hits = store.query(f"{word} notes part {round}", k=3)
        assert hits and hits[0].source.endswith(notes.name), hits[0].source
print("ok")
"""


@pytest.fixture
def chroma_url(tmp_path: Path) -> Iterator[str]:
    """A real Chroma server on 127.0.0.1, stopped after the test."""
    port = free_port()
    server = subprocess.Popen(
        [str(CHROMA), "run", "--path", str(tmp_path / "chroma"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "RUST_LOG": "warn"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        server.kill()
        pytest.fail("chroma run did not answer within 60 s")
    yield url
    server.terminate()
    server.wait(timeout=30)


def test_two_processes_ingest_and_query_one_server_at_once(chroma_url: str, tmp_path: Path) -> None:
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, chroma_url, str(tmp_path), word],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for word in ("alpha", "beta")
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err[-2000:]
    with MemoryStore(tmp_path / "unused", "shared", url=chroma_url) as store:
        sources = set(store.sources())
    assert {f"{w}-{r}.md" for w in ("alpha", "beta") for r in range(3)} <= {Path(s).name for s in sources}
    assert not (tmp_path / "unused").exists()  # a server store keeps no local folder


def test_a_server_store_checks_the_embedding_model(
    chroma_url: str, tmp_path: Path, embedder: LocalEmbedder
) -> None:
    with MemoryStore(tmp_path, "p", embedder=embedder, url=chroma_url) as store:
        store.ingest([CORPUS / "rag.md"])
        assert store.query("retrieval-augmented generation", k=1)[0].key.startswith("rag")
    other = LocalEmbedder(bundled_model_dir(), name="another-embedder")
    with pytest.raises(EmbeddingMismatch, match=chroma_url):
        MemoryStore(tmp_path, "p", embedder=other, url=chroma_url)


def test_a_server_that_is_not_there_is_named_with_how_to_start_one(
    tmp_path: Path, embedder: LocalEmbedder
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(MemoryStoreError) as caught:
        MemoryStore(tmp_path, "p", embedder=embedder, url=url)
    assert url in caught.value.message and "chroma run" in str(caught.value.hint)
