"""DistributedDataParallel through torchrun: two CPU processes with the gloo backend."""

import json
import os
import subprocess
import sys

import pytest

from tests.training.conftest import make_training_set
from tests.training.sequence_fixtures import add_sequences

RANKS = (0, 1)


@pytest.fixture(scope="module")
def torchrun(tmp_path_factory):
    """Run torchrun once for the module and return the finished process and its folder."""
    folder = tmp_path_factory.mktemp("ddp")
    training_set = folder / "training_set.parquet"
    add_sequences(make_training_set(users=40, snapshots=30)).to_parquet(training_set)
    command = [
        sys.executable, "-m", "torch.distributed.run",
        "--rdzv-backend=loopback", "--nnodes=1", "--nproc-per-node=2",
        "-m", "training.ddp_train",
        "--backend", "gloo",
        "--model", "cnn_lstm",
        "--training-set", str(training_set),
        "--output", str(folder / "reports"),
        "--home", str(folder / "home"),
        "--param", "loop.max_epochs=4",
        "--param", "loop.batch_size=32",
        "--param", "loop.learning_rate=0.005",
        "--param", "sequence.sequence_length=8",
    ]
    # Gloo connects the ranks over the loopback interface; the rendezvous store is on 127.0.0.1 too.
    environment = {**os.environ, "GLOO_SOCKET_IFNAME": "lo"}
    # The folder is the working directory so that no build output of the checkout shadows the
    # installed package metadata, which registers the loopback rendezvous backend.
    completed = subprocess.run(command, cwd=folder, env=environment, capture_output=True, text=True, timeout=300)
    return completed, folder


@pytest.fixture(scope="module")
def reports(torchrun):
    completed, folder = torchrun
    if completed.returncode != 0:
        pytest.fail(f"torchrun exited with {completed.returncode}:\n{completed.stderr[-4000:]}")
    return [json.loads((folder / "reports" / f"rank-{rank}.json").read_text()) for rank in RANKS]


def test_torchrun_exits_cleanly(torchrun):
    completed, _ = torchrun
    assert completed.returncode == 0, completed.stderr[-4000:]


def test_both_ranks_finish(reports):
    assert [report["rank"] for report in reports] == list(RANKS)
    assert all(report["world_size"] == 2 for report in reports)


def test_ranks_end_with_identical_parameters(reports):
    assert reports[0]["parameter_sha256"] == reports[1]["parameter_sha256"]


def test_training_loss_goes_down(reports):
    losses = reports[0]["history"]["train_loss"]
    assert losses[-1] < losses[0]


def test_ranks_share_loss_history(reports):
    assert reports[0]["history"]["train_loss"] == reports[1]["history"]["train_loss"]


def test_rank_zero_saves_model(reports):
    folder = reports[0]["checkpoint_dir"]
    assert os.path.exists(os.path.join(folder, "model.pt"))
    assert reports[1]["checkpoint_dir"] == folder
