"""Every registered ranking model (but DIN/DIEN, tested on their own): shapes, learning a known
signal, ONNX parity with a dynamic batch; the two-tower export, Wide&Deep's padded crosses,
DeepFM's shared embeddings, the pooling and FM against their definitions, the registry's
errors.
"""

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from sklearn.metrics import roc_auc_score
from tests.model_fixtures import SPEC, learnable
from torch import nn

from sparrow.artifacts.inputs import INPUTS, NUMERIC
from sparrow.errors import ConfigError
from sparrow.models.deepfm import DeepFM
from sparrow.models.layers import Fields, LinearTerm, masked_mean
from sparrow.models.neural_cf import TwoTower
from sparrow.models.registry import BASELINES, MODELS, NEURAL, create, make_config, model_names
from sparrow.models.wide_deep import WideDeep
from sparrow.training.export import export_model, to_onnx

torch.set_num_threads(1)

NAMES = [n for n in model_names() if n not in ("din", "dien")]
CASES = [(n, {}) for n in NAMES] + [("pnn", {"product": "outer"})]
IDS = [n if not o else f"{n}-{'-'.join(map(str, o.values()))}" for n, o in CASES]


def model(name: str, **overrides: Any) -> nn.Module:
    torch.manual_seed(0)
    return create(name, SPEC, **overrides)


def tensors(inputs: dict[str, np.ndarray]) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(inputs[name]) for name in INPUTS)


def rows(inputs: dict[str, np.ndarray], index: slice) -> dict[str, np.ndarray]:
    return {name: inputs[name][index] for name in INPUTS}


def scores(module: nn.Module, inputs: dict[str, np.ndarray]) -> np.ndarray:
    with torch.no_grad():
        out: np.ndarray = module.eval()(*tensors(inputs)).numpy()
    return out


def fit(module: nn.Module, interaction: bool, steps: int = 80, lr: float = 0.03) -> float:
    """Training AUC after `steps` full-batch Adam steps on the learnable fixture."""
    inputs, labels = learnable(interaction=interaction)
    x, y = tensors(inputs), torch.from_numpy(labels)
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    module.train()
    for _ in range(steps):
        optimizer.zero_grad()
        nn.functional.binary_cross_entropy_with_logits(module(*x), y).backward()
        optimizer.step()
    return float(roc_auc_score(labels, scores(module, inputs)))


def run_onnx(path: Path, inputs: dict[str, np.ndarray]) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    wanted = {i.name for i in session.get_inputs()}
    out: np.ndarray = session.run(None, {k: v for k, v in inputs.items() if k in wanted})[0]
    return out


@pytest.mark.parametrize(("name", "overrides"), CASES, ids=IDS)
def test_logits_have_one_finite_value_per_row(name: str, overrides: dict[str, Any]) -> None:
    inputs, _ = learnable(n=33)
    out = scores(model(name, **overrides), inputs)
    assert out.shape == (33,)
    assert out.dtype == np.float32
    assert np.isfinite(out).all()


CROSSING = [(c, i) for c, i in zip(CASES, IDS, strict=True) if c[0] in ("mf", *NEURAL)]


@pytest.mark.parametrize(
    ("name", "overrides"), [c for c, _ in CROSSING], ids=[i for _, i in CROSSING]
)
def test_crossing_models_learn_a_user_movie_interaction(
    name: str, overrides: dict[str, Any]
) -> None:
    assert fit(model(name, **overrides), interaction=True) > 0.95


def test_logistic_learns_an_additive_signal_but_no_interaction() -> None:
    assert fit(model("logistic"), interaction=False) > 0.9
    assert fit(model("logistic"), interaction=True) < 0.75  # the crossing test needs crossing


def test_popularity_ranks_by_the_movie_rating_count() -> None:
    popularity = model("popularity")
    fit(popularity, interaction=False, steps=30)
    inputs, labels = learnable(interaction=False)
    count = inputs["numeric"][:, NUMERIC.index("movieRatingCount")]
    out = scores(popularity, inputs)
    assert np.array_equal(np.argsort(out), np.argsort(count))
    assert roc_auc_score(labels, out) == roc_auc_score(labels, count)


@pytest.mark.parametrize(("name", "overrides"), CASES, ids=IDS)
def test_onnx_matches_torch_on_any_batch_size(
    name: str, overrides: dict[str, Any], tmp_path: Path
) -> None:
    module = model(name, **overrides)
    fit(module, interaction=True, steps=5)  # move weights off their initial values
    inputs, _ = learnable(n=80, seed=1)
    path = tmp_path / "m.onnx"
    assert export_model(module, rows(inputs, slice(0, 64)), path) <= 1e-5
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert not ops & {"Loop", "Scan", "If"}  # plain arithmetic, no per-row loops
    other = rows(inputs, slice(64, 71))  # 7 rows: the batch dimension is dynamic
    expected = 1 / (1 + np.exp(-scores(module, other)))
    np.testing.assert_allclose(run_onnx(path, other), expected, rtol=0, atol=1e-5)


def test_two_tower_vectors_export_apart_and_reproduce_the_logit(tmp_path: Path) -> None:
    two_tower = model("two_tower")
    assert isinstance(two_tower, TwoTower)
    fit(two_tower, interaction=True, steps=5)
    inputs, _ = learnable(n=80, seed=2)
    vectors = {}
    for tower, (module, names) in two_tower.towers().items():
        path = tmp_path / f"{tower}.onnx"
        assert to_onnx(module, {k: inputs[k][:64] for k in names}, path, output="vector") <= 1e-5
        vectors[tower] = run_onnx(path, {k: inputs[k][64:71] for k in names})
    users, items = vectors["user_tower"], vectors["item_tower"]
    assert users.shape == items.shape == (7, two_tower.config.vector)
    np.testing.assert_allclose(np.linalg.norm(users, axis=1), 1.0, atol=1e-5)
    with torch.no_grad():
        logits = two_tower.score(torch.from_numpy(users), torch.from_numpy(items)).numpy()
    np.testing.assert_allclose(logits, scores(two_tower, rows(inputs, slice(64, 71))), atol=1e-5)


def test_wide_crosses_with_padding_contribute_nothing() -> None:
    wide_deep = model("wide_deep", crosses=[["movie_id", "history1"], ["user_genre2", "user_id"]])
    assert isinstance(wide_deep, WideDeep)
    nn.init.normal_(wide_deep.wide.weight.weight)  # every bucket, padding keys included, weighs
    inputs, _ = learnable(n=64)
    inputs["history"][:32, 0] = 0
    inputs["user_genres"][:32, 1] = 0
    x = tensors(inputs)
    wide_deep.eval()
    with torch.no_grad():
        wide = wide_deep.wide(*x[:5]).numpy()  # the crosses read the five id inputs
        total = wide_deep(*x).numpy()
        deep = wide_deep.deep(*x).numpy()
    assert (wide[:32] == 0).all()
    assert (wide[32:] != 0).all()
    np.testing.assert_array_equal(total[:32], deep[:32])
    for crosses in ([["movie_id", "history9"]], [["movie_id"]], []):
        with pytest.raises(ConfigError, match="history1"):
            create("wide_deep", SPEC, crosses=crosses)


def test_deepfm_fm_and_deep_parts_share_one_embedding_set() -> None:
    deepfm = model("deepfm", dim=8)
    assert isinstance(deepfm, DeepFM)
    tables = deepfm.fields.embeddings
    dim_8 = [m for m in deepfm.modules() if isinstance(m, nn.Embedding) and m.embedding_dim == 8]
    assert dim_8 == [tables.movie, tables.user, tables.genre]  # no second set for the deep part
    n = SPEC.numeric
    fields = (Fields.count + n) * 8
    mlp = (fields * 128 + 128) + (128 * 64 + 64) + (64 + 1)
    first = sum(p.numel() for p in LinearTerm(SPEC).parameters())
    vectors = (SPEC.movies + SPEC.users + SPEC.genres) * 8 + n * 8
    assert sum(p.numel() for p in deepfm.parameters()) == vectors + first + mlp
    # both parts' gradients reach the same movie table
    x = deepfm.field_vectors(*tensors(learnable(n=16)[0]))
    for part in (deepfm.fm(x), deepfm.deep(x.flatten(1))):
        tables.movie.weight.grad = None
        part.sum().backward(retain_graph=True)
        assert tables.movie.weight.grad is not None
        assert tables.movie.weight.grad.abs().sum() > 0


def test_pooling_and_fm_equal_their_definitions() -> None:
    torch.manual_seed(3)
    x = torch.randn(6, 4, 3, dtype=torch.float64)  # (B, K, D)
    ids = torch.tensor(
        [[1, 2, 0, 0], [0, 0, 0, 0], [5, 6, 7, 8], [0, 3, 0, 4], [9, 0, 0, 0], [1, 1, 1, 0]]
    )
    pooled = masked_mean(x, ids)
    for row in range(len(ids)):
        kept = x[row][ids[row] != 0]
        expected = kept.mean(0) if len(kept) else torch.zeros(3, dtype=x.dtype)
        torch.testing.assert_close(pooled[row], expected)
    pairs = sum((x[:, i] * x[:, j]).sum(1) for i in range(4) for j in range(i + 1, 4))
    torch.testing.assert_close(DeepFM.fm(x), pairs)


def test_registry_names_every_model_and_rejects_unknown_names_and_options() -> None:
    assert {"din", "dien", *NAMES} == set(MODELS)
    assert set(BASELINES) < set(MODELS)
    assert make_config("emb_mlp", dim=8, hidden=[32]).hidden == (32,)
    assert create("pnn", SPEC, product="outer").config.product == "outer"
    with pytest.raises(ConfigError, match=r"emb_mlp.*deepfm"):
        create("transformer", SPEC)
    with pytest.raises(ConfigError, match="dim, hidden, dropout"):
        create("emb_mlp", SPEC, width=3)
    with pytest.raises(ConfigError, match="inner"):
        create("pnn", SPEC, product="kernel")
