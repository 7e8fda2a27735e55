"""Train one sequence candidate with DistributedDataParallel, one process per GPU or CPU slot.

Start it with torchrun; on one machine with two CPU processes:

    python -m torch.distributed.run --standalone --nproc_per_node=2 -m training.ddp_train \\
        --backend gloo --model cnn_lstm --training-set var/data/training_set.parquet --output var/ddp

Each rank writes rank-<r>.json to --output: its loss history, the restored epoch and a SHA-256
digest of its parameters, which is the same on every rank when DDP kept them in step. Rank 0
saves the model under <home>/checkpoints/ and adds the test ROC-AUC to its report.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.metrics import roc_auc_score
from torch import nn

from feature_repo.feature_columns import LABEL_COLUMN
from retention.errors import ConfigurationError, PipelineError, RetentionError
from retention.settings import load_settings
from training import ddp
from training.config import MODEL_TYPES
from training.sequence_candidates import SequenceCandidate
from training.splits import split_by_time

logger = logging.getLogger(__name__)


def parse_arguments(arguments: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.ddp_train", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--backend", choices=ddp.BACKENDS, default=None, help="Process group backend (default: nccl on CUDA, else gloo)."
    )
    parser.add_argument("--model", choices=MODEL_TYPES, default=MODEL_TYPES[0], help="Sequence model to train.")
    parser.add_argument(
        "--training-set",
        type=Path,
        default=None,
        help="Parquet training set with the sequence columns (default: the one under the platform home).",
    )
    parser.add_argument("--output", type=Path, required=True, help="Folder for the per-rank reports.")
    parser.add_argument(
        "--home", type=Path, default=None, help="Platform home for checkpoints (default: RETENTION_HOME or ./var)."
    )
    parser.add_argument("--seed", type=int, default=None, help="Seed of the run (default: [training] seed).")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="Override a run configuration value by its MLflow param name, e.g. loop.max_epochs=3; VALUE is JSON.",
    )
    return parser.parse_args(arguments)


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """Turn NAME=VALUE strings into a dict; VALUE is read as JSON, or kept as text when it is not JSON."""
    params: dict[str, Any] = {}
    for pair in pairs:
        name, separator, text = pair.partition("=")
        if not separator or not name:
            raise ConfigurationError(f"--param {pair!r} is not NAME=VALUE. Write it like loop.max_epochs=3.")
        try:
            params[name] = json.loads(text)
        except json.JSONDecodeError:
            params[name] = text
    return params


def parameter_digest(model: nn.Module) -> str:
    """Return the SHA-256 of all parameters' bytes in named order; equal digests mean equal weights."""
    digest = hashlib.sha256()
    for name, parameter in model.named_parameters():
        digest.update(name.encode())
        digest.update(parameter.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def run(arguments: argparse.Namespace) -> dict[str, Any]:
    """Fit the candidate in this rank's process and return this rank's report."""
    overrides = {"home": arguments.home.resolve()} if arguments.home else {}
    settings = load_settings(**overrides)
    path = arguments.training_set or settings.training_set_path
    if not path.exists():
        raise PipelineError(f"The training set {path} does not exist. Run `retention demo` or pass --training-set.")
    splits = split_by_time(pd.read_parquet(path), settings)
    seed = settings.training.seed if arguments.seed is None else arguments.seed

    candidate = SequenceCandidate(arguments.model, parse_params(arguments.param))
    candidate.fit(splits.train, splits.validation, settings, seed)
    assert candidate.history is not None

    report: dict[str, Any] = {
        "rank": ddp.rank(),
        "world_size": ddp.world_size(),
        "model": arguments.model,
        "history": candidate.history.to_dict(),
        "parameter_sha256": parameter_digest(candidate.model),
        "checkpoint_dir": str(candidate.checkpoint_dir),
    }
    if ddp.is_main_process():
        report["test_roc_auc"] = _roc_auc(splits.test, candidate)
    return report


def _roc_auc(frame: pd.DataFrame, candidate: SequenceCandidate) -> float | None:
    labels = frame[LABEL_COLUMN].to_numpy()
    if len(set(labels.tolist())) < 2:
        return None
    return float(roc_auc_score(labels, candidate.predict_proba(frame)))


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )
    try:
        ddp.init_process_group(arguments.backend)
        report = run(arguments)
        arguments.output.mkdir(parents=True, exist_ok=True)
        (arguments.output / f"rank-{report['rank']}.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
        logger.info("Rank %d of %d finished; report in %s", report["rank"], report["world_size"], arguments.output)
    except RetentionError as error:
        print(f"Error (rank {ddp.rank()}): {error}", file=sys.stderr)
        return 2
    finally:
        ddp.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
