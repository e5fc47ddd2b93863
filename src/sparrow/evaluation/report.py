"""The offline evaluation report: ROC and PR curves as PNG, a self-contained HTML page."""

import base64
import html
import io
from typing import Any

import numpy as np
from matplotlib.figure import Figure


def curve_points(labels: np.ndarray, scores: np.ndarray) -> dict[str, np.ndarray]:
    """ROC (fpr, tpr) and PR (recall, precision) points at every distinct score threshold."""
    order = np.argsort(-scores, kind="stable")
    y, s = labels[order], scores[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last row of each distinct score
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    positives, negatives = max(tp[-1], 1), max(fp[-1], 1)
    return {
        "fpr": np.r_[0.0, fp / negatives],
        "tpr": np.r_[0.0, tp / positives],
        "recall": tp / positives,
        "precision": tp / (tp + fp),
    }


def curves_png(curves: dict[str, dict[str, np.ndarray]]) -> bytes:
    """ROC and PR curves of every model, side by side, as PNG bytes."""
    fig = Figure(figsize=(10, 4.2))
    roc, pr = fig.subplots(1, 2)
    for name, c in curves.items():
        roc.plot(c["fpr"], c["tpr"], label=name, linewidth=1.2)
        pr.plot(c["recall"], c["precision"], label=name, linewidth=1.2)
    roc.plot([0, 1], [0, 1], color="grey", linestyle=":")
    roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    pr.set(xlabel="recall", ylabel="precision", title="precision-recall")
    roc.legend(fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def html_page(title: str, tables: dict[str, list[dict[str, Any]]], png: bytes) -> str:
    """A standalone page: one HTML table per section, then the curves (inlined)."""
    parts = [
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font:14px sans-serif;margin:2em}table{border-collapse:collapse;"
        "margin-bottom:2em}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}</style>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for section, rows in tables.items():
        if not rows:
            continue
        columns = list(rows[0])
        parts.append(f"<h2>{html.escape(section)}</h2><table><tr>")
        parts += [f"<th>{html.escape(c)}</th>" for c in columns]
        parts.append("</tr>")
        for row in rows:
            cells = (f"{v:.4f}" if isinstance(v, float) else str(v) for v in row.values())
            parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
        parts.append("</table>")
    image = base64.b64encode(png).decode()
    parts.append(
        f"<h2>curves</h2><img alt='ROC and PR curves' src='data:image/png;base64,{image}'>"
    )
    return "\n".join(parts) + "\n"
