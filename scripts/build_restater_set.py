"""Write the paper adapter's training rows (`scriptorium.finetune.restater_set`) to a file.

    .venv/bin/python scripts/build_restater_set.py [OUT.jsonl]

`scriptorium finetune --paper` builds the same rows itself; this writes them out to read or to
train on beside other rows.
"""

from __future__ import annotations

import sys
from pathlib import Path

from scriptorium.finetune.dataset import write_jsonl
from scriptorium.finetune.restater_set import restater_rows


def main(out: Path) -> None:
    kept, dropped = restater_rows()
    write_jsonl(out, kept)
    print(f"{len(kept)} rows written to {out}, {dropped} pairs failed the checks")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("restater.train.jsonl"))
