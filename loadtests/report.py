"""Output of a run: the JSON file with every figure, a rich summary table, PNG plots."""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: files only

import matplotlib.pyplot as plt  # noqa: E402
import orjson  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from loadtests.figures import TargetResult  # noqa: E402

OUT_DIR = Path(__file__).resolve().parent / "out"


def machine() -> dict[str, Any]:
    """What the run ran on."""
    return {"cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "processor": platform.processor()}


def write_json(*, name: str, figures: Mapping[str, Any], out_dir: Path = OUT_DIR) -> Path:
    """Write `<out_dir>/<name>.json` and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    path.write_bytes(orjson.dumps(
        {"written_at": datetime.now(UTC).isoformat(), "machine": machine(), **figures},
        option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY))
    return path


def fmt(value: Any, unit: str = "") -> str:
    """A figure for the table."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}{unit}" if abs(value) < 10 else f"{value:,.1f}{unit}"
    return f"{value}{unit}"


def summary_table(*, title: str, rows: Sequence[tuple[str, Any]],
                  targets: Sequence[TargetResult] = ()) -> Table:
    """Figures, then each target with a pass/miss mark."""
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in rows:
        table.add_row(name, fmt(value))
    for t in targets:
        mark = "[green]met[/green]" if t.passed else "[red]MISSED[/red]"
        table.add_row(f"target {t.name} {t.op} {t.limit:g}", f"{fmt(t.value)} {mark}")
    return table


def grid_table(*, title: str, rows: Sequence[Mapping[str, str]]) -> Table:
    """One row per mapping, its keys (the first row's) as the columns."""
    table = Table(title=title)
    for name in rows[0] if rows else ():
        table.add_column(name, justify="right")
    for r in rows:
        table.add_row(*r.values())
    return table


def print_table(table: Table, *, width: int | None = None) -> None:
    """Render to the terminal (`width`: columns, when a wide table must not wrap)."""
    Console(width=width).print(table)


def histogram_png(*, path: Path, series: Mapping[str, Sequence[float]], title: str,
                  xlabel: str) -> Path:
    """Overlaid histograms of latency samples."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for label, values in series.items():
        if values:
            ax.hist(values, bins=60, alpha=0.55, label=f"{label} (n={len(values)})")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("requests")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def line_png(*, path: Path, series: Mapping[str, Sequence[float | None]], x: Sequence[float],
             title: str, xlabel: str, ylabel: str) -> Path:
    """One line per series over a shared x axis (None values are gaps)."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for label, ys in series.items():
        ax.plot(list(x), [float("nan") if y is None else y for y in ys], label=label,
                marker="." if len(x) <= 48 else None)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def boxplot_png(*, path: Path, groups: Mapping[str, Mapping[str, Sequence[float]]], title: str,
                ylabel: str) -> Path:
    """Box plots per group (e.g. district), one box per series (e.g. policy) in each."""
    keys = sorted({k for g in groups.values() for k in g})
    fig, ax = plt.subplots(figsize=(max(8, len(keys) * 0.9), 4.8))
    n = max(1, len(groups))
    width = 0.8 / n
    for i, (label, by_key) in enumerate(groups.items()):
        data = [list(by_key.get(k, [])) or [float("nan")] for k in keys]
        pos = [j + (i - (n - 1) / 2) * width for j in range(len(keys))]
        bp = ax.boxplot(data, positions=pos, widths=width * 0.9, showfliers=False,
                        patch_artist=True)
        for box in bp["boxes"]:
            box.set_alpha(0.6)
        bp["boxes"][0].set_label(label)
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels(keys, rotation=30, ha="right")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
