"""TensorBoard event files mirror metrics.jsonl, read back with TensorBoard's own reader."""

import pathlib

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from seqjax.train.metrics import MetricsLog
from seqjax.train.tensorboard import scalars

TRAIN = {"split": "train", "lr": 0.01, "tokens_per_s": 1000.0, "event_loss": 1.5, "amount_loss": 0.5, "loss": 2.0}
VALID = {"split": "valid", "loss": 1.9, "targets": {"event": {"loss": 1.4, "targets": 30, "accuracy": 0.5, "baseline_loss": 2.0, "baseline_accuracy": 0.2}}}


def read_back(folder: pathlib.Path, split: str) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(folder / "tensorboard" / split))
    events.Reload()
    return {tag: [(e.step, round(e.value, 6)) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_scalar_tags():
    assert scalars({**TRAIN, "step": 2, "time": 1.0}) == {"lr": 0.01, "tokens_per_s": 1000.0, "event/loss": 1.5, "amount/loss": 0.5, "loss": 2.0}
    assert scalars({**VALID, "step": 2}) == {"loss": 1.9, "event/loss": 1.4, "event/accuracy": 0.5, "event/baseline_loss": 2.0, "event/baseline_accuracy": 0.2}


def test_events_mirror_the_log_and_a_resume_drops_later_steps(tmp_path):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    for step in (2, 4, 6):
        log.write({"step": step, **TRAIN, "loss": 2.0 - step / 10})
    log.write({"step": 4, **VALID})
    log.close()
    assert read_back(tmp_path, "train")["loss"] == [(2, 1.8), (4, 1.6), (6, 1.4)]
    assert read_back(tmp_path, "valid")["event/accuracy"] == [(4, 0.5)]
    # a run resumed from its checkpoint at step 4 logs steps 5.. again: no step appears twice
    resumed = MetricsLog(tmp_path / "metrics.jsonl")
    resumed.truncate_after(4)
    resumed.write({"step": 6, **TRAIN, "loss": 1.3})
    resumed.close()
    assert read_back(tmp_path, "train")["loss"] == [(2, 1.8), (4, 1.6), (6, 1.3)]
    assert sorted(read_back(tmp_path, "train")) == ["amount/loss", "event/loss", "loss", "lr", "tokens_per_s"]
    assert len(list((tmp_path / "tensorboard" / "train").iterdir())) == 1


def test_disabled_log_writes_nothing(tmp_path):
    log = MetricsLog(tmp_path / "metrics.jsonl", enabled=False)
    log.write({"step": 1, **TRAIN})
    log.close()
    assert list(tmp_path.iterdir()) == []
