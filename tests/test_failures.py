"""The failure catalogue: every way a careful but unlucky user can go wrong gets one line, the right exit
code and no traceback, and nothing under a final name is created or removed."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
from tiny import temporaries, write_experiment

from seqjax import cli
from seqjax.data.metadata import Metadata

LOCK = ".lock"


def snapshot(root: pathlib.Path) -> dict[str, tuple[int, int]]:
    """Every file under `root` (but the workdir lock) with its size and modification time."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file() and p.name != LOCK}


def fails(capsys, *argv: str, code: int = 2) -> str:
    """Run the command line in this process; it must exit with `code` and print exactly one error line."""
    assert cli.main(list(argv)) == code
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("seqjax: error:")]
    assert "Traceback" not in err and len(errors) == 1, err
    return errors[0]


@pytest.fixture
def spec(tmp_path) -> pathlib.Path:
    return write_experiment(tmp_path, steps=4, every=2, eval_every=2, dropout=0.0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> pathlib.Path:
    """A run trained, exported and inferred once; tests copy it before changing anything."""
    path = write_experiment(tmp_path_factory.mktemp("trained"), steps=4, every=2, eval_every=2, dropout=0.0)
    assert cli.main(["run", str(path), "--no-progress"]) == 0
    return path


@pytest.fixture
def run(trained, tmp_path) -> pathlib.Path:
    """A private copy of the trained run (spec, table and workdir)."""
    shutil.copytree(trained.parent, tmp_path / "copy")
    return tmp_path / "copy" / "spec.toml"


# ----------------------------------------------------------------------------- the spec alone


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.schedule={kind=cosine}", "--set 'train.schedule={kind=cosine}': '{kind=cosine}' is not a TOML value"),
        ("infer.output='x", "\"'x\" is not a TOML value"),
        ("train.optimizer={lr=nan}", "train.optimizer.lr = nan: must be a finite number"),
        ("model.dropout=inf", "model.dropout = inf: must be a finite number"),
        ("mesh={data=1, tensor=3}", "mesh.tensor = 3: must divide model.heads = 4"),
        ("mesh={data=1, fsdp=3}", "mesh.fsdp = 3: must divide model.dim = 16"),
        ("train.targets=['event', 'amount']", None),  # fine for predict
        ("infer.mode='probabilities'", None),
        ("infer.embed.layer=5", "infer.embed.layer = 5: must be -1 (final normed state) or a block index 0..1"),
        ("infer.output='out.csv'", "infer.output = 'out.csv': must end in .parquet"),
        ("data.format='parquet'", "data.format = 'parquet': must be one of 'arrayrecord'"),
        ("data.columns=[{name='event', kind='categorical', min_count=0}]", "min_count = 0: must be at least 1"),
    ],
)
def test_spec_errors_are_found_by_validate(spec, capsys, override, message):
    if message is None:
        assert cli.main(["validate", str(spec), "--set", override]) == 0
        return
    line = fails(capsys, "validate", str(spec), "--set", override)
    assert message in line, line


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["train.targets=['event', 'amount']", "infer.mode='generate'"], "infer.mode = 'generate' needs every column as a target"),
        (["train.targets=['amount']", "infer.mode='probabilities'"], "infer.mode = 'probabilities' needs a categorical target"),
    ],
)
def test_infer_modes_the_targets_cannot_serve_fail_at_load(spec, capsys, overrides, message):
    argv = ["validate", str(spec)] + [x for o in overrides for x in ("--set", o)]
    assert message in fails(capsys, *argv)


# ----------------------------------------------------------------------------- files seqjax did not write


def test_a_data_folder_seqjax_did_not_write_is_never_replaced(spec, capsys):
    mine = spec.parent / "run" / "data"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")
    before = snapshot(spec.parent)
    line = fails(capsys, "run", str(spec), "--no-progress")
    assert f"{mine}: is a folder that seqjax did not write" in line
    assert snapshot(spec.parent) == before


def test_an_export_folder_seqjax_did_not_write_is_never_replaced(run, capsys):
    export = run.parent / "run" / "export"
    shutil.rmtree(export)
    export.mkdir()
    (export / "model.onnx").write_text("mine")
    before = snapshot(run.parent)
    assert f"{export}: is a folder that seqjax did not write" in fails(capsys, "export", str(run))
    assert snapshot(run.parent) == before


def test_infer_output_naming_a_folder_is_refused(run, capsys):
    folder = run.parent / "results"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    before = snapshot(run.parent)
    line = fails(capsys, "infer", str(run), "--no-progress", "--set", f"infer.output='{folder}'")
    assert "infer.output" in line or str(folder) in line
    assert snapshot(run.parent) == before


def test_new_data_named_like_a_split_keeps_the_splits_results(run, capsys):
    predictions = run.parent / "run" / "predictions"
    before = snapshot(predictions)
    other = run.parent / "elsewhere"
    other.mkdir()
    for folder in (run.parent, other):
        pl.read_parquet(run.parent / "table.parquet").head(50).write_parquet(folder / "test.parquet")
        assert cli.main(["infer", str(run), "--no-progress", "--input", str(folder / "test.parquet")]) == 0
    after = snapshot(predictions)
    assert {k: v for k, v in after.items() if k in before} == before  # test.parquet, test-quality.json untouched
    assert len([k for k in after if k.startswith("input-test-")]) == 2  # two inputs, two results


# ----------------------------------------------------------------------------- input tables


def test_csv_position_that_is_not_a_number_names_row_and_value(spec, capsys):
    table = pl.read_parquet(spec.parent / "table.parquet").with_columns(pl.col("itemPosition").cast(pl.String))
    table = table.with_columns(pl.when(pl.int_range(pl.len()) == 7).then(pl.lit("7b")).otherwise(pl.col("itemPosition")).alias("itemPosition"))
    table.write_csv(spec.parent / "table.csv")
    line = fails(capsys, "preprocess", str(spec), "--set", f"data.input='{spec.parent / 'table.csv'}'")
    assert "column 'itemPosition' has value '7b' at row 7; allowed: integers" in line


def test_a_file_of_a_folder_without_the_columns_is_named(spec, capsys):
    folder = spec.parent / "parts"
    folder.mkdir()
    shutil.copy(spec.parent / "table.parquet", folder / "a.parquet")
    pl.DataFrame({"sequenceId": [1], "note": ["stray"]}).write_parquet(folder / "b.parquet")
    line = fails(capsys, "preprocess", str(spec), "--set", f"data.input='{folder}'")
    assert f"{folder / 'b.parquet'}: has no column 'itemPosition'" in line


def test_sequences_of_one_item_only_fail_in_preprocess(spec, capsys):
    pl.DataFrame({"sequenceId": range(20), "itemPosition": [0] * 20, "event": ["a"] * 20, "channel": [1] * 20, "amount": [1.0] * 20, "duration": [2.0] * 20}).write_parquet(
        spec.parent / "table.parquet"
    )
    line = fails(capsys, "preprocess", str(spec))
    assert "the training split has no windows (20 of 20 sequences have a single item" in line
    assert not (spec.parent / "run" / "data").exists()


def test_fractional_values_of_an_integer_category_at_inference(run, capsys):
    new = pl.read_parquet(run.parent / "table.parquet").head(30).with_columns(pl.col("channel").cast(pl.Float64) + 0.5)
    new.write_parquet(run.parent / "new.parquet")
    line = fails(capsys, "infer", str(run), "--no-progress", "--input", str(run.parent / "new.parquet"))
    assert "categorical column 'channel' has value 1.5" in line or "categorical column 'channel' has value" in line and "whole numbers" in line


def test_positions_past_int64_fail_before_inference(run, capsys):
    new = pl.read_parquet(run.parent / "table.parquet").head(30)
    new = new.with_columns((pl.col("itemPosition") - pl.col("itemPosition").max() + np.iinfo(np.int64).max).alias("itemPosition"))
    new.write_parquet(run.parent / "new.parquet")
    line = fails(capsys, "infer", str(run), "--no-progress", "--input", str(run.parent / "new.parquet"))
    assert f"ends at position {np.iinfo(np.int64).max}" in line


# ----------------------------------------------------------------------------- stale or damaged state


def test_training_on_data_preprocessed_with_other_settings_names_the_change(run, capsys):
    line = fails(capsys, "train", str(run), "--no-progress", "--set", "data.context=6")
    assert "was preprocessed from other settings" in line and "data.context: 8 -> 6" in line and "seqjax preprocess" in line


def test_resuming_with_another_batch_size_names_it_and_restart_starts_over(run, capsys):
    before = snapshot(run.parent / "run" / "checkpoints")
    line = fails(capsys, "train", str(run), "--no-progress", "--set", "train.batch_size=8", "--set", "train.steps=6")
    assert "train.batch_size: 16 -> 8" in line and "--restart" in line
    assert snapshot(run.parent / "run" / "checkpoints") == before
    assert cli.main(["train", str(run), "--no-progress", "--set", "train.batch_size=8", "--set", "train.steps=6", "--restart"]) == 0
    assert "resuming from the checkpoint" not in capsys.readouterr().out


def test_inference_on_data_preprocessed_again_after_training(run, capsys):
    table = pl.read_parquet(run.parent / "table.parquet")
    table.with_columns(pl.col("event") + "x").write_parquet(run.parent / "table.parquet")
    assert cli.main(["preprocess", str(run)]) == 0
    line = fails(capsys, "infer", str(run), "--no-progress")
    assert "the checkpoints were trained on other preprocessed data" in line


@pytest.mark.parametrize("damage", ["delete", "truncate"])
def test_a_missing_or_cut_shard_is_named_and_preprocess_rebuilds_it(run, capsys, damage):
    data = run.parent / "run" / "data"
    shard = data / Metadata.read(data).splits["train"].files[0]
    if damage == "delete":
        shard.unlink()
    else:
        shard.write_bytes(shard.read_bytes()[:100])
    line = fails(capsys, "train", str(run), "--no-progress", "--set", "train.steps=6", code=1)
    assert f"{shard}: shard of the train split" in line
    assert cli.main(["preprocess", str(run)]) == 0
    assert "reusing" not in capsys.readouterr().out
    Metadata.read(data).check_shards(data)


def test_damaged_metadata_is_one_line_and_preprocess_rebuilds_it(run, capsys):
    meta = run.parent / "run" / "data" / "metadata.json"
    meta.write_text(meta.read_text()[:200])
    line = fails(capsys, "train", str(run), "--no-progress", "--set", "train.steps=6", code=1)
    assert f"{meta}: damaged" in line and "seqjax preprocess" in line
    assert cli.main(["preprocess", str(run)]) == 0
    assert json.loads(meta.read_text())["version"] == 2


def test_a_line_cut_short_in_metrics_does_not_block_resuming(run, capsys):
    metrics = run.parent / "run" / "metrics.jsonl"
    with metrics.open("a") as f:
        f.write('{"step": 5, "spl')
    assert cli.main(["train", str(run), "--no-progress", "--set", "train.steps=6", "--set", "train.schedule={kind='constant'}", "--restart"]) == 0
    lines = metrics.read_text().splitlines()
    assert all(json.loads(line) for line in lines)


def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(run, capsys):
    checkpoints = run.parent / "run" / "checkpoints"
    for path in (checkpoints / "4").rglob("*"):
        if path.is_file() and path.stat().st_size > 0 and "state" in str(path.relative_to(checkpoints)):
            path.write_bytes(b"\0" * 7)
    assert cli.main(["infer", str(run), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "seqjax: warning:" in err and "the checkpoint at step 4 cannot be read" in err and "using step 2" in err


def test_a_second_command_on_the_same_workdir_is_refused(run, capsys):
    workdir = run.parent / "run"
    hold = f"from seqjax.workdir import Workdir; held = Workdir({str(workdir)!r}).lock(); held.__enter__(); print('held', flush=True); input()"
    holder = subprocess.Popen([sys.executable, "-c", hold], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = snapshot(run.parent)
        line = fails(capsys, "infer", str(run), "--no-progress")
        assert f"{workdir}: another seqjax command (process {holder.pid}) is working in this workdir" in line
        assert snapshot(run.parent) == before
    finally:
        holder.kill()
        holder.wait()
    assert cli.main(["infer", str(run), "--no-progress"]) == 0  # the lock went with its process


# ----------------------------------------------------------------------------- names and values


def test_a_column_named_like_an_output_field(tmp_path, capsys):
    spec = write_experiment(tmp_path, steps=2, every=2, eval_every=2)
    table = pl.read_parquet(tmp_path / "table.parquet").rename({"amount": "event.probs"})
    table.write_parquet(tmp_path / "table.parquet")
    spec.write_text(spec.read_text().replace('"amount"', '"event.probs"'))
    assert cli.main(["run", str(spec), "--no-progress", "--set", "infer.mode='probabilities'"]) == 0, capsys.readouterr().err
    probs = pl.read_parquet(tmp_path / "run" / "predictions" / "probabilities-test.parquet")
    assert any(c.startswith("event=") for c in probs.columns)


def test_an_identifier_column_gets_a_warning_and_a_bounded_vocabulary(spec, capsys):
    table = pl.read_parquet(spec.parent / "table.parquet").with_columns(pl.int_range(pl.len()).cast(pl.String).alias("event"))
    table.write_parquet(spec.parent / "table.parquet")
    text = spec.read_text().replace('{ name = "event", kind = "categorical" }', '{ name = "event", kind = "categorical", max_categories = 50 }')
    spec.write_text(text)
    assert cli.main(["preprocess", str(spec)]) == 0
    err = capsys.readouterr().err
    assert "seqjax: warning: categorical column 'event' has" in err and "looks like an identifier" in err and "kept the 50 most frequent" in err
    meta = Metadata.read(spec.parent / "run" / "data")
    assert len(meta.column("event").vocab) == 50


def test_pooling_that_does_not_exist_names_the_parameter(run):
    import seqjax
    from seqjax.spec import SpecError

    with pytest.raises(SpecError, match=r"pooling = 'maxx': must be one of 'last', 'mean', 'max', 'sum'"):
        seqjax.load(run).embed(pl.read_parquet(run.parent / "table.parquet").head(20), pooling="maxx")


# ----------------------------------------------------------------------------- full disks


def _fill_disk(folder: pathlib.Path, free: int) -> pathlib.Path:
    """A tmpfs of `free` bytes mounted at `folder` (root only; skipped elsewhere)."""
    folder.mkdir()
    if os.geteuid() != 0 or os.system(f"mount -t tmpfs -o size={free} tmpfs {folder} 2>/dev/null") != 0:
        pytest.skip("mounting a small tmpfs needs root; the disk-full cases run where it can")
    return folder


@pytest.mark.parametrize("command, free", [("preprocess", 40_000), ("run", 300_000)])
def test_a_full_disk_is_one_line_and_leaves_no_temporary_file(spec, capsys, command, free):
    disk = _fill_disk(spec.parent / "disk", free)
    try:
        shutil.copy(spec.parent / "table.parquet", disk / "table.parquet")
        line = fails(capsys, command, str(spec), "--no-progress", "--set", f"workdir='{disk / 'run'}'", "--set", f"data.input='{disk / 'table.parquet'}'")
        assert "no space left on the device" in line
        assert not temporaries(disk)
    finally:
        os.system(f"umount {disk}")


def test_a_full_disk_while_saving_a_checkpoint_is_one_line(run, capsys):
    disk = _fill_disk(run.parent / "disk", 60_000)
    try:
        os.symlink(run.parent / "run" / "data", disk / "data")  # the shards fit elsewhere; checkpoints do not
        line = fails(capsys, "train", str(run), "--no-progress", "--set", f"workdir='{disk}'")
        assert "no space left on the device" in line
        assert not temporaries(disk)
    finally:
        os.system(f"umount {disk}")


def test_data_and_checkpoints_of_another_format_version_say_what_to_run(run, capsys):
    meta = run.parent / "run" / "data" / "metadata.json"
    meta.write_text(meta.read_text().replace('"version": 2', '"version": 1'))
    line = fails(capsys, "train", str(run), "--no-progress", code=1)
    assert f"{meta}: written in data format 1, this seqjax reads format 2; run `seqjax preprocess`" in line
    meta.write_text(meta.read_text().replace('"version": 1', '"version": 2'))
    for progress in (run.parent / "run" / "checkpoints").glob("*/progress/metadata"):
        record = json.loads(progress.read_text())
        progress.write_text(json.dumps({**record, "format": 0}))
    line = fails(capsys, "train", str(run), "--no-progress", "--set", "train.steps=6")
    assert "checkpoints of format 0, this seqjax resumes format 2" in line and "--restart" in line
    assert "checkpoints of format 0" in fails(capsys, "infer", str(run), "--no-progress")


def test_the_compilation_cache_is_private_to_its_user(tmp_path):
    import jax

    folder = tmp_path / "cache" / "seqjax" / "jax"
    folder.mkdir(parents=True)
    folder.chmod(0o777)
    assert "others may write to it (mode 777)" in cli._unsafe(str(folder))
    folder.chmod(0o700)
    assert cli._unsafe(str(folder)) == ""
    fresh = tmp_path / "new" / "seqjax" / "jax"
    assert cli._unsafe(str(fresh)) == "" and (fresh.stat().st_mode & 0o777) == 0o700
    before = jax.config.jax_enable_compilation_cache
    try:
        cli.compilation_cache({}, enabled=False)  # the spec's compilation_cache = false
        assert jax.config.jax_enable_compilation_cache is False
    finally:
        jax.config.update("jax_enable_compilation_cache", before)
