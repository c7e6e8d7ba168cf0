"""Results of a grid: ``results.csv``, ``table.md`` (Table 1 style) and figures.

* ``results.csv`` - one row per cell (``grid.RESULT_COLUMNS`` first, then f1/tp/fp/fn/val_ap);
* ``table.md``    - mean AP and SEG per method/scheme (rows) and subset (columns) with the
  standard error over repeats, the best scheme of each method and subset in bold;
* ``figure_<method>_n<noise>.png`` - AP and SEG versus the number of labelled training
  patches, one line per scheme, error bars = standard error (paper Figures 2 and 3);
* ``figure4_n<noise>_<subset>.png`` - noisy test image, clean image and each scheme's label
  image, objects in distinct colours (paper Figure 4), from the repeat-0 pipelines.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from keras_voidseg.data.io import atomic_write
from keras_voidseg.model_card import write_text_atomic

from .grid import RESULT_COLUMNS, Cell, GridSpec, cell_dir


def write_csv(rows: Sequence[dict], path) -> Path:
    """All rows as CSV (columns: RESULT_COLUMNS, then any extra keys in first-seen order)."""
    columns = list(RESULT_COLUMNS) + [k for row in rows for k in row if k not in RESULT_COLUMNS]
    columns = list(dict.fromkeys(columns))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write_text_atomic(Path(path), buffer.getvalue())


def mean_and_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (0 for a single value)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return float(values.mean()), 0.0
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values)))


def summarize(rows: Sequence[dict]) -> dict:
    """``{(noise, method, scheme, subset): {"ap": (mean, se), "seg": (mean, se), "n": k, "n_train": m}}``."""
    groups = defaultdict(list)
    for row in rows:
        groups[(float(row["noise"]), row["method"], row["scheme"], row["subset"])].append(row)
    return {key: {"ap": mean_and_se([r["ap"] for r in group]),
                  "seg": mean_and_se([r["seg"] for r in group]),
                  "n": len(group), "n_train": group[0]["n_train"]}
            for key, group in groups.items()}


def markdown_table(summary: dict, spec: GridSpec, noise: float, metric: str) -> str:
    """One Table-1-style markdown table: rows method/scheme, columns subsets, best in bold."""
    subsets = list(spec.subsets)
    header = "| method | scheme | " + " | ".join(f"{s} (n={_n_train(summary, noise, s)})" for s in subsets) + " |"
    lines = [header, "|---|---|" + "---|" * len(subsets)]
    for method in spec.methods:
        schemes = spec.schemes_for(method)
        best = {s: max((summary[(noise, method, sc, s)][metric][0] for sc in schemes
                        if (noise, method, sc, s) in summary), default=None) for s in subsets}
        for scheme in schemes:
            cells = []
            for s in subsets:
                entry = summary.get((noise, method, scheme, s))
                if entry is None:
                    cells.append("-")
                    continue
                mean, se = entry[metric]
                # a standard error needs two runs: one run says so instead of "± 0.000"
                text = f"{mean:.3f} ± {se:.3f}" if entry["n"] > 1 else f"{mean:.3f} (1 run)"
                cells.append(f"**{text}**" if best[s] is not None and mean == best[s] else text)
            lines.append(f"| {method} | {scheme} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _n_train(summary: dict, noise: float, subset: str):
    return next((v["n_train"] for (n, _, _, s), v in summary.items() if n == noise and s == subset), "?")


def plot_method(summary: dict, spec: GridSpec, noise: float, method: str, path) -> Path:
    """AP and SEG versus labelled patches for every scheme of ``method`` (one PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for axis, metric in zip(axes, ("ap", "seg")):
        for scheme in spec.schemes_for(method):
            points = [(summary[k]["n_train"], *summary[k][metric]) for k in
                      [(noise, method, scheme, s) for s in spec.subsets] if k in summary]
            if points:
                x, mean, se = zip(*sorted(points))
                axis.errorbar(x, mean, yerr=se, marker="o", capsize=3, label=scheme)
        axis.set_xscale("log", base=2)
        axis.set_xlabel("labelled training patches")
        axis.set_ylabel("AP@0.5" if metric == "ap" else "SEG")
        axis.set_ylim(0, 1)
        axis.grid(alpha=0.3)
        axis.set_title(f"{method}, {spec.data} n{noise:g}: {metric.upper()}")
    axes[1].legend(fontsize=8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return atomic_write(Path(path), lambda tmp: Path(tmp).write_bytes(buffer.getvalue()))


def _label_panel(labels: np.ndarray) -> np.ndarray:
    from keras_voidseg.preview import label_overlay

    return label_overlay(np.zeros(labels.shape, np.float32), labels, alpha=1.0, outline=False)


def figure4(spec: GridSpec, out, noise: float, subset: str, path, *, crop: int = 256) -> Path | None:
    """Noisy test image | clean | label image of every repeat-0 scheme (PNG), or None."""
    from keras_voidseg.pipeline import Pipeline
    from keras_voidseg.preview import save_montage

    from .jobs import experiment_data

    data = experiment_data(spec, noise)
    index = int(data.splits["test"][0])
    window = (slice(0, crop), slice(0, crop))
    panels = [(f"noisy n{noise:g}", data.raw[index][window])]
    if data.clean is not None:
        panels.append(("clean", data.clean[index][window]))
    panels.append(("ground truth", _label_panel(data.labels[index][window])))
    for method in spec.methods:
        for scheme in spec.schemes_for(method):
            folder = cell_dir(Path(out), Cell(noise, subset, method, scheme, 0))
            if (folder / "metrics.json").is_file():
                labels = Pipeline.from_folder(folder).predict_instances(data.raw[index])[0]
                panels.append((f"{method} {scheme}", _label_panel(labels[window])))
    return save_montage(path, panels) if len(panels) > 3 else None


def _schedule(spec: GridSpec) -> str:
    """`` (segmenters: 5 epochs x 20 steps; N2V: preset schedule)`` or ``""``."""
    from .jobs import repeat_preset

    seg, n2v = repeat_preset(spec, 0).train, repeat_preset(spec, 0, "n2v").train
    return (f" (segmenters {seg.epochs} epochs x {seg.steps_per_epoch} steps of batch {seg.batch_size}, "
            f"N2V {n2v.epochs} x {n2v.steps_per_epoch} of batch {n2v.batch_size})")


def write_report(rows: Sequence[dict], spec: GridSpec, out, *, figures: bool = True,
                 command: str | None = None, wall_seconds: float | None = None) -> list[Path]:
    """Write results.csv, table.md and (with ``figures``) the PNGs into ``out``; return paths."""
    out = Path(out)
    rows = [row for row in rows if row is not None]
    written = [write_csv(rows, out / "results.csv")]
    summary = summarize(rows)
    parts = ["# keras_voidseg reproduction grid", ""]
    if command:
        parts += [f"Command: `{command}`", ""]
    parts += [f"Preset `{spec.preset}`{_schedule(spec)}, data `{spec.data}`, data seed {spec.seed}, {spec.repeats} repeat(s); "
              f"{len(rows)} finished cells; backend(s) {', '.join(sorted({r['backend'] for r in rows}))}.",
              "Scores on the held-out test split: mean ± standard error over repeats ('(1 run)': "
              "one finished repeat); best scheme per method and subset in bold. "
              "n = labelled training patches.", ""]
    if wall_seconds is not None:
        parts += [f"Wall time of this invocation: {wall_seconds / 60:.1f} min.", ""]
    for noise in spec.noises:
        for metric in ("ap", "seg"):
            parts += [f"## {metric.upper()} at noise {noise:g}", "",
                      markdown_table(summary, spec, float(noise), metric), ""]
    written.append(write_text_atomic(out / "table.md", "\n".join(parts)))
    if figures and rows:
        for noise in spec.noises:
            for method in spec.methods:
                written.append(plot_method(summary, spec, float(noise), method,
                                           out / f"figure_{method}_n{noise:g}.png"))
            montage = figure4(spec, out, float(noise), spec.subsets[0],
                              out / f"figure4_n{noise:g}_{spec.subsets[0]}.png")
            if montage is not None:
                written.append(montage)
    return written
