"""``kvs reproduce``: grid expansion, a real smoke grid run in-process and on a two-worker
Dask cluster, resuming after an interruption, the report files, and CLI errors."""

import csv
import json
import os
import sys

import numpy as np
import pytest

from cli.main import main
from keras_voidseg.reproduce import Cell, GridSpec, run_grid, write_report
from keras_voidseg.reproduce.allocator import restore_heap_allocation
from keras_voidseg.reproduce.grid import RESULT_COLUMNS, cell_dir, denoiser_dir
from keras_voidseg.reproduce.report import markdown_table, mean_and_se, summarize

SMOKE = dict(preset="smoke", repeats=1, noises="200", subsets="P1")


def test_grid_expands_every_scheme_once_and_round_trips():
    spec = GridSpec.parse(noises="150,n200", subsets="p1,P3", methods="unet,stardist", schemes="all", repeats=2)
    cells = spec.cells()
    # 2 noises x 2 repeats x 2 subsets x (5 U-Net schemes + 4 StarDist schemes: no joint)
    assert len(cells) == 2 * 2 * 2 * 9
    assert len({c.key for c in cells}) == len(cells)
    assert not any(c.method == "stardist" and c.scheme == "joint" for c in cells)
    assert {c.subset for c in cells} == {"P1", "P3"} and {c.noise for c in cells} == {150.0, 200.0}
    assert GridSpec.from_json(spec.to_json()) == spec
    chosen = GridSpec.parse(schemes="baseline,joint", methods="stardist,unet")
    assert [(c.method, c.scheme) for c in chosen.cells() if c.repeat == 0 and c.subset == "P1"] == [
        ("stardist", "baseline"), ("unet", "baseline"), ("unet", "joint")]


@pytest.mark.parametrize("options, message", [
    (dict(schemes="baseline,sequentail"), "sequentail"),
    (dict(methods="unet,maskrcnn"), "maskrcnn"),
    (dict(subsets="P1,P11"), "P11"),
    (dict(noises="loud"), "loud"),
    (dict(subsets=" , "), "--subsets"),
])
def test_bad_grid_options_name_the_value(options, message):
    with pytest.raises(ValueError, match=message):
        GridSpec.parse(**options)


def test_table_marks_the_best_scheme_per_subset_with_standard_errors():
    rows = [dict(noise=200.0, method="unet", scheme=scheme, subset="P1", n_train=2, ap=ap, seg=ap / 2)
            for scheme, ap in (("baseline", 0.2), ("baseline", 0.4), ("sequential", 0.5), ("sequential", 0.7))]
    summary = summarize(rows)
    assert summary[(200.0, "unet", "baseline", "P1")]["ap"] == pytest.approx(mean_and_se([0.2, 0.4]))
    assert mean_and_se([0.2, 0.4])[1] == pytest.approx(np.std([0.2, 0.4], ddof=1) / np.sqrt(2))
    spec = GridSpec(subsets=("P1",), methods=("unet",), schemes=("baseline", "sequential"))
    table = markdown_table(summary, spec, 200.0, "ap")
    assert "| unet | sequential | **0.600 ± 0.100** |" in table
    assert "| unet | baseline | 0.300 ± 0.100 |" in table
    assert "P1 (n=2)" in table
    alone = summarize(rows[:1])
    assert "| unet | baseline | **0.200 (1 run)** |" in markdown_table(alone, spec, 200.0, "ap")


@pytest.mark.keras
def test_local_grid_trains_resumes_and_reports(tmp_path):
    spec = GridSpec.parse(methods="unet", schemes="baseline,sequential,finetune", batch_size=3, **SMOKE)
    rows = run_grid(spec, tmp_path, executor="local", log=lambda _: None)
    assert [(r["method"], r["scheme"]) for r in rows] == [("unet", "baseline"), ("unet", "sequential"),
                                                            ("unet", "finetune")]
    for row in rows:
        assert tuple(row)[: len(RESULT_COLUMNS)] == RESULT_COLUMNS
        assert 0.0 <= row["ap"] <= 1.0 and 0.0 <= row["seg"] <= 1.0 and row["n_train"] == 2
    # one N2V stage, shared: finetune started from it and sequential feeds it its images
    assert [p.name for p in (tmp_path / "n2v").iterdir()] == ["n200-r0"]
    assert (denoiser_dir(tmp_path, 200.0, 0) / "train" / "done.json").is_file()
    # --batch-size overrides the segmenters' batch (smoke preset: 2); N2V keeps the preset's
    def trained_batch(folder):
        return json.loads((folder / "config.json").read_text())["pipeline"]["train"]["batch_size"]

    assert trained_batch(cell_dir(tmp_path, spec.cells()[0])) == 3
    assert trained_batch(denoiser_dir(tmp_path, 200.0, 0) / "pipeline") == 2
    assert "--batch-size 3" in (cell_dir(tmp_path, spec.cells()[0]) / "README.md").read_text()

    # an interrupted grid: one cell lost its result (and its final folder); the rest is kept
    finished = {c.key: (cell_dir(tmp_path, c) / "result.json").stat().st_mtime_ns for c in spec.cells()}
    lost = spec.cells()[1]
    (cell_dir(tmp_path, lost) / "result.json").unlink()
    (cell_dir(tmp_path, lost) / "metrics.json").unlink()
    log = []
    again = run_grid(spec, tmp_path, executor="local", log=log.append)
    assert log[0].startswith("grid: 3 cells, 2 finished, 1 to train")
    for cell in spec.cells():
        same = (cell_dir(tmp_path, cell) / "result.json").stat().st_mtime_ns == finished[cell.key]
        assert same == (cell != lost), cell.key
    assert [r["scheme"] for r in again] == [r["scheme"] for r in rows]

    paths = write_report(again, spec, tmp_path)
    with open(tmp_path / "results.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [r["scheme"] for r in table] == ["baseline", "sequential", "finetune"]
    assert json.loads(table[0]["thresholds"]) == json.loads(rows[0]["thresholds"])
    assert "## AP at noise 200" in (tmp_path / "table.md").read_text()
    from PIL import Image

    montage = Image.open(tmp_path / "figure4_n200_P1.png")
    assert montage.size[0] > 5 * 64  # noisy, clean, ground truth and three schemes side by side
    assert Image.open(tmp_path / "figure_unet_n200.png").size[0] > 400
    assert len(paths) == 4

    # --report-only rewrites the report from the finished cells without training
    (tmp_path / "table.md").unlink()
    assert main(["reproduce", "--out", str(tmp_path), "--preset", "smoke", "--repeats", "1", "--subsets", "P1",
                 "--methods", "unet", "--schemes", "baseline,sequential,finetune", "--batch-size", "3", "--report-only",
                 "--no-figures"]) == 0
    assert "| unet | finetune |" in (tmp_path / "table.md").read_text()

    # the same folder refuses a grid trained with other settings
    with pytest.raises(ValueError, match="epochs"):
        run_grid(GridSpec.parse(methods="unet", schemes="baseline", epochs=3, **SMOKE), tmp_path,
                 executor="local", log=lambda _: None)


@pytest.mark.keras
def test_two_worker_dask_cluster_runs_the_grid(tmp_path):
    pytest.importorskip("distributed")
    spec = GridSpec.parse(methods="unet,stardist", schemes="baseline,sequential", **SMOKE)
    messages = []
    rows = run_grid(spec, tmp_path, executor="dask", n_workers=2, log=messages.append)
    assert len(rows) == 4 and all(r is not None for r in rows)
    assert len(messages) == 1 + 4 and all("FAILED" not in m for m in messages)
    # both sequential cells waited for and used the one shared N2V stage
    from keras_voidseg.pipeline import Pipeline

    weights = [Pipeline.from_folder(cell_dir(tmp_path, Cell(200.0, "P1", m, "sequential", 0))).denoiser.get_weights()
               for m in ("unet", "stardist")]
    assert all(np.array_equal(a, b) for a, b in zip(*weights))
    assert [p.name for p in (tmp_path / "n2v").iterdir()] == ["n200-r0"]
    # repeating the command trains nothing
    assert run_grid(spec, tmp_path, executor="dask", n_workers=2, log=messages.append) == rows
    assert messages[-1].startswith("grid: 4 cells, 4 finished, 0 to train")


def test_cli_reproduce_errors_are_one_line(tmp_path, capsys):
    assert main(["reproduce", "--out", str(tmp_path), "--schemes", "nope"]) == 1
    assert "unknown scheme 'nope'" in capsys.readouterr().err
    assert main(["reproduce", "--out", str(tmp_path), "--executor", "local", "--address", "tcp://x:1"]) == 2
    assert main(["reproduce", "--out", str(tmp_path), "--report-only"]) == 1
    assert "no finished cells" in capsys.readouterr().err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_jobs_undo_dasks_malloc_trim_setting_in_a_worker():
    # Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which made training steps
    # ~2.2x slower (benchmarks/bench_dask_worker.py); every job raises the thresholds again
    distributed = pytest.importorskip("distributed")
    import logging

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster) as client:
        trim = list(client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_")).values())
        applied = list(client.run(restore_heap_allocation).values())
    assert trim == ["65536"] and applied == [True]
    # outside Dask (no such variable) the allocator is left alone
    assert restore_heap_allocation() == ("MALLOC_TRIM_THRESHOLD_" in os.environ)
