"""DIN and DIEN: shapes, learning, masking of padded history, the auxiliary loss, ONNX parity."""

from pathlib import Path
from typing import TypeAlias

import numpy as np
import onnxruntime as ort
import pytest
import torch
from sklearn.metrics import roc_auc_score
from tests.model_fixtures import SPEC, learnable
from torch import nn

from sparrow.artifacts.inputs import INPUTS, PAD
from sparrow.models.dien import DIEN, DIENConfig
from sparrow.models.din import DIN, DINConfig
from sparrow.training.export import export_model

torch.set_num_threads(1)

Model: TypeAlias = DIN | DIEN
BUILDERS = {"din": lambda: DIN(SPEC, DINConfig()), "dien": lambda: DIEN(SPEC, DIENConfig())}


def build(name: str, seed: int = 0) -> Model:
    torch.manual_seed(seed)
    model: Model = BUILDERS[name]()
    return model


def tensors(inputs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v) for k, v in inputs.items()}


def score(model: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        out: torch.Tensor = model(*(inputs[k] for k in INPUTS))
    return out


def negatives_for(history: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Uniform negatives in 2..movies-1, different from the positive in the same slot."""
    neg = torch.randint(2, SPEC.movies, history.shape, generator=generator)
    clash = neg == history
    return torch.where(clash, (neg - 2 + 1) % (SPEC.movies - 2) + 2, neg)


@pytest.mark.parametrize("name", ["din", "dien"])
def test_shape_and_finite(name: str) -> None:
    inputs, _ = learnable(n=33)
    out = score(build(name), tensors(inputs))
    assert out.shape == (33,)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["din", "dien"])
def test_learns_interaction(name: str) -> None:
    inputs, labels = learnable(n=2048, interaction=True)
    x, y = tensors(inputs), torch.from_numpy(labels)
    model = build(name)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(12):
        for batch in torch.randperm(len(y), generator=generator).split(256):
            xb = {k: v[batch] for k, v in x.items()}
            loss = nn.functional.binary_cross_entropy_with_logits(
                model(*(xb[k] for k in INPUTS)), y[batch]
            )
            if isinstance(model, DIEN):
                negatives = negatives_for(xb["history"], generator)
                loss = loss + model.config.aux_weight * model.auxiliary_loss(xb, negatives)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    auc = roc_auc_score(labels, score(model, x).numpy())
    assert auc > 0.95, auc


def short_histories() -> dict[str, torch.Tensor]:
    """Rows with every history length 0..5, several of each."""
    inputs, _ = learnable(n=60, seed=3)
    x = tensors(inputs)
    lengths = torch.arange(60) % (SPEC.history + 1)
    x["history"][torch.arange(SPEC.history)[None, :] >= lengths[:, None]] = PAD
    return x


@pytest.mark.parametrize("name", ["din", "dien"])
def test_padding_row_changes_nothing(name: str) -> None:
    model, x = build(name), short_histories()
    before = score(model, x)
    with torch.no_grad():
        model.embeddings.movie.weight[PAD] = torch.randn(model.config.dim) * 10
    after = score(model, x)
    assert torch.equal(before, after)


@pytest.mark.parametrize("name", ["din", "dien"])
def test_row_scores_do_not_depend_on_the_batch(name: str) -> None:
    model, x = build(name), short_histories()
    together = score(model, x)
    alone = torch.cat([score(model, {k: v[i : i + 1] for k, v in x.items()}) for i in range(6)])
    torch.testing.assert_close(alone, together[:6], rtol=0, atol=1e-6)


def test_din_empty_history_gives_zero_interest() -> None:
    model = build("din")
    with torch.no_grad():
        model.embeddings.movie.weight[PAD] = torch.randn(model.config.dim)
        candidate = model.embeddings.movie(torch.tensor([5, 7]))
        history = torch.tensor([[0, 0, 0, 0, 0], [3, 4, 0, 0, 0]])
        interest = model.interest(candidate, history)
    assert torch.equal(interest[0], torch.zeros(model.config.dim))
    assert interest[1].abs().sum() > 0


def test_dien_extractor_runs_oldest_to_newest() -> None:
    model = build("dien")
    history = torch.tensor([[9, 8, 7, 0, 0]])  # 9 most recent
    with torch.no_grad():
        states, mask = model.interest_states(history)
        h = torch.zeros(1, model.config.interest)
        for movie in (7, 8, 9):
            h = model.extractor(model.embeddings.movie(torch.tensor([movie])), h)
    assert mask.tolist() == [[0, 0, 1, 1, 1]]
    assert torch.equal(states[:, :2], torch.zeros(1, 2, model.config.interest))
    torch.testing.assert_close(states[:, -1], h, rtol=0, atol=1e-6)


def test_dien_auxiliary_loss() -> None:
    model = build("dien")
    model.train()
    x = short_histories()
    generator = torch.Generator().manual_seed(1)
    negatives = negatives_for(x["history"], generator)
    loss = model.auxiliary_loss(x, negatives)
    assert loss.ndim == 0
    assert torch.isfinite(loss)
    assert loss.item() >= 0
    assert loss.item() > 0  # some rows have >= 2 behaviours

    # only pairs of real behaviours count: negatives in padded slots and at the oldest are ignored
    lengths = (x["history"] != PAD).sum(1, keepdim=True)
    ignored = torch.arange(SPEC.history)[None, :] >= (lengths - 1).clamp(min=0)
    changed = torch.where(ignored, negatives_for(x["history"], generator), negatives)
    assert not torch.equal(changed, negatives)
    assert torch.equal(model.auxiliary_loss(x, changed), loss)
    # but the negatives of real pairs do
    moved = torch.where(ignored, negatives, (negatives - 2 + 1) % (SPEC.movies - 2) + 2)
    assert not torch.equal(model.auxiliary_loss(x, moved), loss)
    # and so does the padding embedding not
    with torch.no_grad():
        model.embeddings.movie.weight[PAD] = torch.randn(model.config.dim)
    assert torch.equal(model.auxiliary_loss(x, negatives), loss)


def test_dien_auxiliary_loss_without_pairs_is_zero() -> None:
    model = build("dien")
    history = torch.tensor([[0, 0, 0, 0, 0], [4, 0, 0, 0, 0]])
    loss = model.auxiliary_loss({"history": history}, torch.full_like(history, 3))
    assert loss.item() == 0.0


@pytest.mark.parametrize("name", ["din", "dien"])
def test_onnx_parity(name: str, tmp_path: Path) -> None:
    model = build(name)
    inputs, _ = learnable(n=64, seed=5)
    error = export_model(model, inputs, tmp_path / "m.onnx")
    assert error <= 1e-5

    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert set(names) <= set(INPUTS)
    assert "history" in names
    other, _ = learnable(n=7, seed=6)
    other["history"][0] = PAD  # an empty history too
    got = session.run(None, {k: other[k] for k in names})[0]
    assert got.shape == (7,)
    expected = torch.sigmoid(score(model, tensors(other))).numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
