"""sparrow.serving.experiments: exact splits, stable and independent layers, strict validation."""

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import chi2_contingency, chisquare

from sparrow.errors import ConfigError
from sparrow.serving.experiments import (
    HEADER,
    Experiments,
    Layer,
    Variant,
    header,
    java_string_hash,
    ranking_model,
    recall_sizes,
)

EXAMPLE = Path(__file__).parents[2] / "examples" / "experiments.toml"
IDS = range(100_000)


def _layer(salt: str, weights: list[int]) -> Layer:
    variants = tuple((Variant(f"v{i}"), w) for i, w in enumerate(weights))
    return Layer(salt, salt, variants)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.toml"
    path.write_text(text)
    return path


def test_no_file_means_no_layers() -> None:
    experiments = Experiments.load(None)
    assert experiments.layers == ()
    assert experiments.assign(7) == {}
    assert header(experiments.assign(7)) == ""


def test_example_file() -> None:
    experiments = Experiments.load(EXAMPLE)
    ranking, recall = experiments.layers
    assert (ranking.name, ranking.salt, recall.salt) == ("ranking", "ranking", "recall-2026-11")
    assert [(v.name, v.model, w) for v, w in ranking.variants] == [
        ("control", "deepfm", 50),
        ("din", "din", 50),
    ]
    assert recall.variants[0][0].recall.get("popularity") == 200
    assert recall.variants[1][0].recall.get("popularity") is None
    assert list(experiments.assign(1)) == ["ranking", "recall"]  # file order


@pytest.mark.parametrize("weights", [[50, 50], [10, 30, 60], [1, 99], [100]])
def test_split_matches_weights(weights: list[int]) -> None:
    layer = _layer("split", weights)
    counts = Counter(layer.assign(u).name for u in IDS)
    observed = np.array([counts[f"v{i}"] for i in range(len(weights))])
    assert observed.sum() == len(IDS)
    for share, weight in zip(observed / len(IDS), weights, strict=True):
        assert abs(share - weight / 100) < 0.01
    if len(weights) > 1:
        expected = np.array(weights) / 100 * len(IDS)
        assert chisquare(observed, expected).pvalue > 0.001


def test_same_user_same_variant_across_loads() -> None:
    first, second = Experiments.load(EXAMPLE), Experiments.load(EXAMPLE)
    assert all(first.assign(u) == second.assign(u) for u in range(10_000))
    # pinned: blake2b gives these on every machine and process (Python's hash() would not)
    assert [first.layers[0].bucket(u) for u in (1, 42, 170, 10351)] == [9616, 5625, 5976, 6991]
    assert header(first.assign(1)) == "ranking=din,recall=more-popular"
    assert header(first.assign(170)) == "ranking=din,recall=default"


def test_layers_are_independent() -> None:
    experiments = Experiments.load(EXAMPLE)
    pairs = Counter(tuple(v.name for v in experiments.assign(u).values()) for u in IDS)
    table = np.array(
        [[pairs[(r, c)] for c in ("more-popular", "default")] for r in ("control", "din")]
    )
    assert chi2_contingency(table).pvalue > 0.001
    marginal = table[:, 0].sum() / table.sum()
    assert abs(marginal - 0.20) < 0.01
    for row in table:  # P(recall arm | ranking arm) is the marginal share
        assert abs(row[0] / row.sum() - marginal) < 0.01


def test_independent_with_three_by_three() -> None:
    a, b = _layer("a", [20, 30, 50]), _layer("b", [40, 40, 20])
    pairs = Counter((a.assign(u).name, b.assign(u).name) for u in IDS)
    table = np.array([[pairs[(f"v{i}", f"v{j}")] for j in range(3)] for i in range(3)])
    assert chi2_contingency(table).pvalue > 0.001


def test_new_salt_reshuffles_users() -> None:
    old, new = _layer("recall-2026-10", [50, 50]), _layer("recall-2026-11", [50, 50])
    moved = sum(old.assign(u) != new.assign(u) for u in IDS) / len(IDS)
    assert 0.48 < moved < 0.52  # as if drawn afresh: half the users change arm


def test_header_and_helpers() -> None:
    experiments = Experiments.load(EXAMPLE)
    ranking, recall = experiments.layers
    assignment = {"ranking": ranking.variants[1][0], "recall": recall.variants[0][0]}
    assert header(assignment) == "ranking=din,recall=more-popular"
    assert Experiments.header(assignment) == header(assignment)
    assert HEADER == "X-Sparrow-Experiments"
    assert ranking_model(assignment) == "din"
    assert recall_sizes(assignment) == {"popularity": 200}
    assert ranking_model({"recall": recall.variants[1][0]}) is None
    assert recall_sizes({}) == {}
    assert len({Variant("a", None, {"x": 1}), Variant("a", None, {"x": 1})}) == 1  # hashable


def test_first_layer_setting_a_value_wins() -> None:
    a = Variant("a", None, {"popularity": 10})
    b = Variant("b", "din", {"popularity": 20, "item2vec": 5})
    c = Variant("c", "deepfm")
    assert ranking_model({"x": a, "y": b, "z": c}) == "din"
    assert recall_sizes({"x": a, "y": b}) == {"popularity": 10, "item2vec": 5}


LAYER = '[[layer]]\nname = "{name}"\n'
ARM = '[[layer.variant]]\nname = "{name}"\nweight = {weight}\n'
GOOD = LAYER.format(name="l") + ARM.format(name="a", weight=50) + ARM.format(name="b", weight=50)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (LAYER.format(name="l") + ARM.format(name="a", weight=60), "sum to 100"),
        (GOOD.replace("weight = 50", "weight = 40", 1), "sum to 100"),
        (LAYER.format(name="l"), "at least one variant"),
        (GOOD + GOOD.replace('"a"', '"c"'), "names must be unique"),
        (GOOD + GOOD.replace('name = "l"', 'name = "m"\nsalt = "l"'), "salts .* must be unique"),
        ("[[layer]\nname = 1", "invalid TOML"),
        (GOOD.replace("weight = 50", "weight = 0", 1), "positive integers"),
        (GOOD.replace("weight = 50", "weight = 50.0", 1), "positive integers"),
        (GOOD.replace("weight = 50", "weight = true", 1), "positive integers"),
        (GOOD.replace("weight = 50", "weigth = 50", 1), "unknown key"),
        (GOOD.replace('"a"', '"a,b"'), "bad variant name"),
        (GOOD.replace('"l"', '"l=1"'), "a name is"),
        (GOOD.replace('"a"', '"b"'), "variant names must be unique"),
        (GOOD + "recall = { popularity = -1 }\n", "recall must be"),
        (GOOD.replace('name = "l"\n', 'name = "l"\nhash = "md5"\n'), "hash must be"),
        (GOOD.replace('name = "l"\n', ""), "'name' must be"),
        ("extra = 1\n" + GOOD, "unknown key"),
        ("layer = 3\n", "array of tables"),
    ],
)
def test_mistakes_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as raised:
        Experiments.load(path)
    assert str(raised.value).startswith(f"{path}: ")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"exp\.toml: cannot read"):
        Experiments.load(tmp_path / "exp.toml")


def test_layer_checks_itself() -> None:
    with pytest.raises(ConfigError, match="sum to 100"):
        _layer("x", [50, 40])


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("", 0),
        ("a", 97),
        ("Aa", 2112),
        ("BB", 2112),
        ("10351", 46733200),
        ("polygenelubricants", -(2**31)),
        ("\U0001f600", 1772899),
    ],  # UTF-16 surrogate pair
)
def test_java_string_hash(text: str, value: int) -> None:
    assert java_string_hash(text) == value


ORIGINAL = """
[[layer]]
name = "abtest"
hash = "java"
[[layer.variant]]
name = "emb"
model = "emb"
weight = 20
[[layer.variant]]
name = "nerualcf"
model = "nerualcf"
weight = 20
[[layer.variant]]
name = "default"
model = "emb"
weight = 60
"""


def test_java_layer_reproduces_the_original(tmp_path: Path) -> None:
    (layer,) = Experiments.load(_write(tmp_path, ORIGINAL)).layers
    counts = Counter(layer.assign(u).name for u in range(1, 30_001))
    assert counts == {"emb": 6_000, "nerualcf": 6_000, "default": 18_000}
    assert layer.assign(10351).name == "emb"
    assert {layer.assign(u).name for u in (1, 6, 136, 170)} == {"default"}  # remainders 4, 4, 4, 2
    # a negative hashCode keeps its sign under Java's %: -1..-4 fall to the default, 0 is bucket A
    assert java_string_hash("557019485") == -436_874_960  # Java remainder 0
    assert layer.assign(557019485).name == "emb"
    assert java_string_hash("828307999") == -1_525_321_891  # Java remainder -1; Python's % gives 4
    assert java_string_hash("904170602") == -1_829_482_517  # Java remainder -2; Python's 3
    assert [layer.assign(u).name for u in (828307999, 904170602)] == ["default", "default"]


def test_only_one_java_layer(tmp_path: Path) -> None:
    text = ORIGINAL + ORIGINAL.replace('"abtest"', '"again"')
    with pytest.raises(ConfigError, match="at most one layer"):
        Experiments.load(_write(tmp_path, text))
