"""Fine-tuning the served model per role: datasets, LoRA training, the model registry.

Heavy imports (torch, peft, transformers) happen inside `train`, so listing models or reading
datasets stays fast.
"""

from .dataset import ROLES, Dataset, Role, RowProblem, TrainingExample, load_examples, seed_dataset
from .registry import ModelRecord, ModelRegistry
from .train import LoraRecipe, TrainingOutcome, TrainingRun, train

__all__ = [
    "ROLES",
    "Dataset",
    "LoraRecipe",
    "ModelRecord",
    "ModelRegistry",
    "Role",
    "RowProblem",
    "TrainingExample",
    "TrainingOutcome",
    "TrainingRun",
    "load_examples",
    "seed_dataset",
    "train",
]
