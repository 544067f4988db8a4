"""`scriptorium eval`: how good a paper is, measured from its run folder with local embeddings only.

`docs/evaluation.md` defines every metric and its limits. Nothing here writes into a run folder.
"""

from .batch import BatchEval, evaluate_batch
from .paper import EvaluationError, PaperData, load_paper
from .reference import ReferenceOutline, load_reference
from .scoring import PaperEval, evaluate_paper

__all__ = [
    "BatchEval",
    "EvaluationError",
    "PaperData",
    "PaperEval",
    "ReferenceOutline",
    "evaluate_batch",
    "evaluate_paper",
    "load_paper",
    "load_reference",
]
