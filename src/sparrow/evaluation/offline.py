"""`sparrow evaluate`: every trained model on the test split, scored as served (ONNX Runtime).

Per model (its latest version): logloss, ROC-AUC, PR-AUC, accuracy and GAUC on the build's
test samples, next to the test positive rate; ROC and PR curves; optionally the NCF protocol.
Written to `reports/report.json` and a standalone `reports/report.html`.
"""

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from sparrow.artifacts.layout import BuildDir
from sparrow.artifacts.models import latest_versions
from sparrow.artifacts.runtime import OnnxModel
from sparrow.errors import DataError
from sparrow.evaluation import metrics
from sparrow.evaluation.report import curve_points, curves_png, html_page

COLUMNS = ("auc", "gauc", "pr_auc", "logloss", "accuracy")


def score_models(build: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Test metrics of the latest version of every model, and their curve points."""
    latest = latest_versions(build)
    if not latest:
        raise DataError(f"{build} has no trained models; run sparrow train all --build {build}")
    test = BuildDir(build).read_samples("test")
    labels = test["label"].to_numpy().astype("float64")
    users = test["userId"].to_numpy()
    rows, curves = [], {}
    for name, model in sorted(latest.items()):
        scores = OnnxModel(model.path).score(test).astype("float64")
        rows.append(
            {
                "model": name,
                "version": model.version,
                "auc": metrics.roc_auc(labels, scores),
                "gauc": metrics.gauc(users, labels, scores),
                "pr_auc": metrics.pr_auc(labels, scores),
                "logloss": metrics.logloss(labels, scores),
                "accuracy": metrics.accuracy(labels, scores),
            }
        )
        curves[name] = curve_points(labels, scores)
    return sorted(rows, key=lambda r: -r["auc"]), curves


def evaluate_models(
    build: Path, ncf: bool = False, threads: int = 1, console: Console | None = None
) -> Path:
    """Evaluate, print the table(s), write the report; return the HTML report's path.

    `threads`: torch threads of the NCF protocol's training.
    """
    console = console or Console()
    rows, curves = score_models(build)
    table = Table(title=f"test split of {build.name}: every model, scored through ONNX Runtime")
    for column in ("model", "version", *COLUMNS):
        table.add_column(column, justify="left" if column == "model" else "right")
    for row in rows:
        table.add_row(row["model"], str(row["version"]), *(f"{row[c]:.4f}" for c in COLUMNS))
    console.print(table)
    tables: dict[str, list[dict[str, Any]]] = {"test split (CTR)": rows}
    doc: dict[str, Any] = {"test": rows}
    if ncf:
        import torch

        from sparrow.evaluation.ncf import ncf_protocol

        torch.set_num_threads(threads)
        results = ncf_protocol(build)
        doc["ncf"] = [{"model": name, **values} for name, values in results.items()]
        tables["NCF protocol (leave last one out, 1 vs 99)"] = doc["ncf"]
        ncf_table = Table(title="NCF protocol: last interaction vs 99 unseen movies")
        for column in ("model", "HR@10", "NDCG@10"):
            ncf_table.add_column(column, justify="left" if column == "model" else "right")
        for name, values in results.items():
            ncf_table.add_row(name, f"{values['hr@10']:.4f}", f"{values['ndcg@10']:.4f}")
        console.print(ncf_table)
    layout = BuildDir(build)
    layout.reports_dir.mkdir(exist_ok=True)
    layout.report("report.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    png = curves_png(curves)
    layout.report("curves.png").write_bytes(png)
    page = layout.report("report.html")
    page.write_text(html_page(f"Sparrow RecSys: {build.name}", tables, png), encoding="utf-8")
    return page
