"""`scriptorium eval`: how good a paper is, measured from its run folder with local embeddings only.

`docs/evaluation.md` defines every metric and its limits. Nothing here writes into a run folder.
"""

from .batch import BatchEval, evaluate_batch
from .paper import EvaluationError, PaperData, load_paper
from .reference import ReferenceOutline, load_reference
from .report_file import EVAL_FORMAT, BatchReport, PaperReport, read_eval, write_eval
from .scoring import PaperEval, evaluate_paper

__all__ = [
    "EVAL_FORMAT",
    "BatchEval",
    "BatchReport",
    "EvaluationError",
    "PaperData",
    "PaperEval",
    "PaperReport",
    "ReferenceOutline",
    "evaluate_batch",
    "evaluate_paper",
    "load_paper",
    "load_reference",
    "read_eval",
    "write_eval",
]
