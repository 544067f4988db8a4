"""Small test-data builders."""

from __future__ import annotations

import json
from pathlib import Path

from scriptorium.events.models import ModelRequest, ModelResponse

CORPUS = Path(__file__).parents[1] / "examples" / "corpus"


def make_pdf(path: Path, title: str, lines: list[str]) -> Path:
    """Write a minimal, valid one-page PDF with Helvetica text lines and a /Title."""

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    content = "BT /F1 12 Tf 14 TL 72 720 Td " + " ".join(f"({escape(line)}) Tj T*" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Title ({escape(title)}) >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    trailer = f"<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>"
    out += f"trailer\n{trailer}\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(out)
    return path


KEPT_SYSTEM = "You are the Writer. Restate the sentence."
KEPT_EVIDENCE = "The fort was built in 1670 at the mouth of the river."
KEPT_SENTENCE = "In 1670 a fort went up where the river meets the sea."


def kept_paper_run(run: Path) -> Path:
    """A finished paper run as `finetune collect` reads it: one restater request in the trace, one
    sentence it wrote and the checks kept, one quotation, one sentence with no request."""
    (run / "outputs").mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({"workflow": "paper", "status": "succeeded"}))
    system = {"role": "system", "content": KEPT_SYSTEM}
    events = [
        ModelRequest(
            step_id="write[0]",
            agent="restater",
            request_id="r1",
            model="m",
            messages=[system, {"role": "user", "content": f"Sentence: {KEPT_EVIDENCE}\n"}],
        ),
        ModelResponse(
            step_id="write[0]",
            agent="restater",
            request_id="r1",
            text='{"sentence": "x"}',
            finish_reason="stop",
            prompt_tokens=1,
            completion_tokens=1,
            latency_s=0.1,
        ),
    ]
    (run / "trace.jsonl").write_text("".join(e.model_dump_json() + "\n" for e in events))
    sentences = [
        {"text": KEPT_SENTENCE, "quote": False, "evidence": KEPT_EVIDENCE},
        {"text": f"\u201c{KEPT_EVIDENCE}\u201d", "quote": True, "evidence": KEPT_EVIDENCE},  # not written
        {"text": "Another sentence.", "quote": False, "evidence": "No request of the trace asked for this."},
    ]
    (run / "outputs" / "citations.json").write_text(json.dumps({"sentences": sentences}))
    return run
