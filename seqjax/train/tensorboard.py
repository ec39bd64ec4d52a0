"""TensorBoard event files beside metrics.jsonl, holding the same records as scalars (written with tensorboardX).

    workdir/tensorboard/train/events.out.tfevents...   loss, <target>/loss, lr, tokens_per_s
    workdir/tensorboard/valid/events.out.tfevents...   loss, <target>/loss, <target>/accuracy, <target>/baseline_loss, ...

Train and valid are two TensorBoard runs with the same tags, so each chart overlays them;
`tensorboard --logdir runs/` compares every run, and `--logdir <search workdir>/trials` every trial.
The files mirror metrics.jsonl: a resumed run (whose log drops the lines after its checkpoint)
rewrites them from the log, so no step appears twice.
"""

from __future__ import annotations

import pathlib
import shutil
import time

FOLDER = "tensorboard"
SKIPPED = ("step", "split", "time")


def scalars(record: dict) -> dict[str, float]:
    """A metrics record -> {tag: value}: `loss`, `event_loss` -> `event/loss`, `targets.event.accuracy` -> `event/accuracy`."""
    out = {}
    for key, value in record.items():
        if key in SKIPPED:
            continue
        if key == "targets" and isinstance(value, dict):
            for name, entry in value.items():
                out.update({f"{name}/{metric}": v for metric, v in entry.items() if metric != "targets" and _number(v)})
        elif _number(value):
            name = f"{key[: -len('_loss')]}/loss" if key.endswith("_loss") else key
            out[name] = float(value)
    return out


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class EventLog:
    """One event file per split under `folder`, written synchronously (a killed run loses nothing it logged)."""

    def __init__(self, folder: pathlib.Path):
        self.folder = pathlib.Path(folder)
        self.writers: dict = {}

    def add(self, record: dict) -> None:
        from tensorboardX.proto.event_pb2 import Event
        from tensorboardX.summary import scalar

        writer = self._writer(record.get("split", "train"))
        wall = time.time()
        for tag, value in scalars(record).items():
            writer.write_event(Event(wall_time=wall, step=int(record["step"]), summary=scalar(tag, value)))
        writer.flush()

    def rebuild(self, records: list[dict]) -> None:
        """Start the files afresh from these records (the whole metrics log)."""
        self.close()
        shutil.rmtree(self.folder, ignore_errors=True)
        for record in records:
            self.add(record)

    def _writer(self, split: str):
        if split not in self.writers:
            from tensorboardX.event_file_writer import EventsWriter

            folder = self.folder / split
            folder.mkdir(parents=True, exist_ok=True)
            # a name unique within the folder, also for rebuilds within the same second
            suffix = f".{time.time_ns()}"
            self.writers[split] = EventsWriter(str(folder / "events"), filename_suffix=suffix)
        return self.writers[split]

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers = {}

