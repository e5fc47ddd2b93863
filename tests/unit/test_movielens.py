"""`sparrow.data.movielens` on small real files written in each official MovieLens layout."""

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from sparrow.artifacts.schema import ITEMS, LINKS, RATINGS, TAGS, USERS
from sparrow.data.movielens import detect_layout, load, load_items, load_ratings
from sparrow.errors import DataError

Files = dict[str, str | bytes | None]  # file name -> text (bytes: written as is; None: absent)

CSV: Files = {
    "ratings.csv": "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,0.5,964981247\n"
    "2,1,5.0,1445714994\n",
    "movies.csv": "movieId,title,genres\n"
    "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n"
    '3,"American President, The (1995)",Comedy|Drama|Romance\n'
    '7,"""Great Performances"" Cats (1998)",Musical\n'
    "9,Babylon 5,Sci-Fi\n"
    "11,Hyena Road,(no genres listed)\n"
    "13,From Dusk Till Dawn 2: Texas Blood Money (1999) ,Comedy|Horror\n"
    "15,Death Note: Desu nôto (2006\u20132007),(no genres listed)\n",
    "links.csv": "movieId,imdbId,tmdbId\n1,0114709,862\n3,0112346,\n",
    "tags.csv": 'userId,movieId,tag,timestamp\n2,1,funny,1445714994\n2,3,"politics, ""US""",7\n',
}
ML1M: Files = {
    "ratings.dat": "1::1193::5::978300760\n1::661::3::978302109\n2::1::1::978300275\n",
    "movies.dat": "1::Toy Story (1995)::Animation|Children's|Comedy\n"
    "2::Café au lait (Métisse) (1993)::Comedy\n"
    "3::City of Lost Children, The (1995)::Adventure|Sci-Fi\n"
    "4::Untitled: Part 2::Drama\n",
    "users.dat": "1::F::1::10::48067\n2::M::56::16::70072\n3::M::25::20::55117\n",
}
ML10M: Files = {
    "ratings.dat": "1::122::5::838985046\n1::185::4.5::1230782529\n",
    "movies.dat": "122::Boomerang (1992)::Comedy|Romance\n185::Net, The (1995)::Action|Crime\n",
    "tags.dat": "15::4973::excellent!::1215184630\n20::1747::Star Wars: Episode I::1188263880\n",
}
_FLAGS = "|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0"  # Animation, Children's, Comedy
ML100K: Files = {
    "u.data": "196\t242\t3\t881250949\n186\t302\t5\t891717742\n",
    "u.item": "1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story"
    + _FLAGS
    + "\n267|unknown||||1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
    "1650|Café, The (1997)|01-Jan-1997|||0|0|0|0|0|0|0|0|1|0|0|0|0|0|0|0|0|1|1\n",
    "u.user": "1|24|M|technician|85711\n2|53|F|other|94043\n",
}
LAYOUT_FILES = {"csv": CSV, "ml-1m": ML1M, "ml-10m": ML10M, "ml-100k": ML100K}


def write(folder: Path, files: Files) -> Path:
    """Write `files` into `folder` (UTF-8 for CSV, Latin-1 for .dat and u.*)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if content is None:
            continue
        if isinstance(content, str):
            content = content.encode("utf-8" if name.endswith(".csv") else "latin-1")
        (folder / name).write_bytes(content)
    return folder


def table(schema: pa.Schema, rows: list[tuple[object, ...]]) -> pa.Table:
    return pa.Table.from_pylist([dict(zip(schema.names, row, strict=True)) for row in rows], schema)


def assert_table(actual: pa.Table, expected: pa.Table) -> None:
    assert actual.schema.equals(expected.schema)
    assert actual.to_pylist() == expected.to_pylist()


def test_csv_layout(tmp_path: Path) -> None:
    data = load(write(tmp_path / "ml-latest-small", CSV))
    assert (data.name, data.layout, data.users) == ("ml-latest-small", "csv", None)
    assert_table(
        data.ratings,
        table(RATINGS, [(1, 1, 4.0, 964982703), (1, 3, 0.5, 964981247), (2, 1, 5.0, 1445714994)]),
    )
    assert_table(
        data.items,
        table(
            ITEMS,
            [
                (1, "Toy Story", 1995, ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]),
                (3, "American President, The", 1995, ["Comedy", "Drama", "Romance"]),
                (7, '"Great Performances" Cats', 1998, ["Musical"]),
                (9, "Babylon 5", None, ["Sci-Fi"]),
                (11, "Hyena Road", None, []),
                (13, "From Dusk Till Dawn 2: Texas Blood Money", 1999, ["Comedy", "Horror"]),
                (15, "Death Note: Desu nôto (2006\u20132007)", None, []),
            ],
        ),
    )
    assert_table(data.links, table(LINKS, [(1, "0114709", 862), (3, "0112346", None)]))
    assert_table(data.tags, table(TAGS, [(2, 1, "funny", 1445714994), (2, 3, 'politics, "US"', 7)]))


def test_csv_layout_without_links_and_tags(tmp_path: Path) -> None:
    files = {**CSV, "links.csv": None, "tags.csv": None}
    data = load(write(tmp_path / "ml", files))
    assert_table(data.links, LINKS.empty_table())
    assert_table(data.tags, TAGS.empty_table())


def test_csv_quoted_newline_and_blank_lines_keep_line_numbers(tmp_path: Path) -> None:
    tags = 'userId,movieId,tag,timestamp\n1,1,"two\nlines",5\n\n1,1,ok,6\n'
    data = load(write(tmp_path / "ml", {**CSV, "tags.csv": tags}))
    assert data.tags["tag"].to_pylist() == ["two\nlines", "ok"]
    bad = tags + "1,x,bad,7\n"
    with pytest.raises(DataError, match=r"tags\.csv line 6: item_id is not a valid int32: 'x'"):
        load(write(tmp_path / "bad", {**CSV, "tags.csv": bad}))


@pytest.mark.parametrize("layout", list(LAYOUT_FILES))
def test_windows_line_endings_load_the_same(tmp_path: Path, layout: str) -> None:
    files = LAYOUT_FILES[layout]
    crlf = {name: str(text).replace("\n", "\r\n") for name, text in files.items()}
    expected, actual = load(write(tmp_path / "lf", files)), load(write(tmp_path / "crlf", crlf))
    for name in ("ratings", "items", "links", "tags", "users"):
        assert getattr(actual, name) == getattr(expected, name)


def test_ml_1m_layout(tmp_path: Path) -> None:
    data = load(write(tmp_path / "ml-1m", ML1M))
    assert (data.name, data.layout) == ("ml-1m", "ml-1m")
    assert_table(
        data.ratings,
        table(
            RATINGS, [(1, 1193, 5.0, 978300760), (1, 661, 3.0, 978302109), (2, 1, 1.0, 978300275)]
        ),
    )
    assert_table(
        data.items,
        table(
            ITEMS,
            [
                (1, "Toy Story", 1995, ["Animation", "Children's", "Comedy"]),
                (2, "Café au lait (Métisse)", 1993, ["Comedy"]),
                (3, "City of Lost Children, The", 1995, ["Adventure", "Sci-Fi"]),
                (4, "Untitled: Part 2", None, ["Drama"]),
            ],
        ),
    )
    assert data.users is not None
    assert_table(
        data.users,
        table(
            USERS,
            [
                (1, "F", 1, "K-12 student", "48067"),
                (2, "M", 56, "self-employed", "70072"),
                (3, "M", 25, "writer", "55117"),
            ],
        ),
    )
    assert_table(data.links, LINKS.empty_table())
    assert_table(data.tags, TAGS.empty_table())


def test_ml_10m_layout_has_tags_and_no_users(tmp_path: Path) -> None:
    data = load(write(tmp_path / "ml-10M100K", ML10M))
    assert data.layout == "ml-10m"
    assert data.users is None
    assert data.ratings["rating"].to_pylist() == [5.0, 4.5]
    assert data.items["title"].to_pylist() == ["Boomerang", "Net, The"]
    assert_table(
        data.tags,
        table(
            TAGS,
            [(15, 4973, "excellent!", 1215184630), (20, 1747, "Star Wars: Episode I", 1188263880)],
        ),
    )


def test_ml_100k_layout(tmp_path: Path) -> None:
    data = load(write(tmp_path / "ml-100k", ML100K))
    assert (data.name, data.layout) == ("ml-100k", "ml-100k")
    assert_table(
        data.ratings, table(RATINGS, [(196, 242, 3.0, 881250949), (186, 302, 5.0, 891717742)])
    )
    assert_table(
        data.items,
        table(
            ITEMS,
            [
                (1, "Toy Story", 1995, ["Animation", "Children's", "Comedy"]),
                (267, "unknown", None, []),
                (1650, "Café, The", 1997, ["Drama", "War", "Western"]),
            ],
        ),
    )
    assert data.users is not None
    assert_table(
        data.users,
        table(USERS, [(1, "M", 24, "technician", "85711"), (2, "F", 53, "other", "94043")]),
    )
    assert_table(data.links, LINKS.empty_table())
    assert_table(data.tags, TAGS.empty_table())


@pytest.mark.parametrize("layout", list(LAYOUT_FILES))
def test_detect_layout_and_partial_loaders(tmp_path: Path, layout: str) -> None:
    folder = write(tmp_path / "data", LAYOUT_FILES[layout])
    assert detect_layout(folder) == layout
    data = load(folder)
    assert_table(load_ratings(folder), data.ratings)
    assert_table(load_items(folder), data.items)


def test_load_items_needs_only_the_movies_file(tmp_path: Path) -> None:
    folder = write(tmp_path / "catalogue", {"movies.csv": CSV["movies.csv"]})
    assert load_items(folder).num_rows == 7
    with pytest.raises(DataError, match=r"missing ratings\.csv"):
        load_ratings(folder)


def test_detect_layout_refuses_missing_and_unknown_folders(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="dataset folder not found"):
        detect_layout(tmp_path / "nope")
    write(tmp_path / "other", {"notes.txt": "hello"})
    with pytest.raises(DataError) as error:
        detect_layout(tmp_path / "other")
    for name in ("ratings.csv", "movies.csv", "ratings.dat", "movies.dat", "u.data", "u.item"):
        assert name in str(error.value)


def test_ratings_error_path_finds_the_line_beyond_the_first_block(tmp_path: Path) -> None:
    rows = "".join(f"{u},{u % 500},3.5,{1_000_000 + u}\n" for u in range(1, 400_001))  # ~9 MB
    ratings = "userId,movieId,rating,timestamp\n" + rows + "7,7,9.5,1\n"
    with pytest.raises(DataError, match=r"ratings\.csv line 400002: rating 9\.5 outside 0\.5\.\.5"):
        load_ratings(write(tmp_path / "big", {**CSV, "ratings.csv": ratings}))


R = "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n"
M = "movieId,title,genres\n1,Toy Story (1995),Comedy\n"
BAD_INPUT = [
    # (case, layout, files replaced, file named, line (None: no line), message fragment)
    ("no ratings file", "csv", {"ratings.csv": None}, "ml", None, "missing ratings.csv"),
    ("no movies file", "csv", {"movies.csv": None}, "ml", None, "missing movies.csv"),
    ("empty file", "csv", {"ratings.csv": ""}, "ratings.csv", None, "file is empty"),
    ("header only", "csv", {"ratings.csv": R[:32]}, "ratings.csv", None, "no data rows"),
    ("truncated csv", "csv", {"ratings.csv": R + "1,2,3."}, "ratings.csv", 3, "expected 4 fields"),
    ("truncated dat", "ml-1m", {"ratings.dat": "1::1::5::9\n1::2"}, "ratings.dat", 2, "found 2"),
    ("truncated tsv", "ml-100k", {"u.data": "1\t1\t5\t9\n1\t2\t5"}, "u.data", 2, "found 3"),
    ("truncated movie", "ml-1m", {"movies.dat": "1::Toy"}, "movies.dat", 1, "expected 3 fields"),
    ("extra field", "csv", {"ratings.csv": R + "1,2,3,4,5\n"}, "ratings.csv", 3, "found 5"),
    (
        "single colon",
        "ml-1m",
        {"ratings.dat": "1::1::5::9\n2:1::5::9\n"},
        "ratings.dat",
        2,
        "found 3",
    ),
    (
        "missing value",
        "csv",
        {"ratings.csv": R + "1,,4.0,5\n"},
        "ratings.csv",
        3,
        "missing item_id",
    ),
    ("open quote", "csv", {"movies.csv": M + '2,"Heat (1995),A\n3,B,C\n'}, "movies.csv", 3, "CSV"),
    ("few movie fields", "csv", {"movies.csv": M + "2,Heat (1995)\n"}, "movies.csv", 3, "found 2"),
    ("text user id", "csv", {"ratings.csv": R + "x,1,4.0,5\n"}, "ratings.csv", 3, "user_id is not"),
    (
        "text movie id",
        "ml-1m",
        {"movies.dat": "a::B (1995)::C\n"},
        "movies.dat",
        1,
        "item_id is not",
    ),
    (
        "text tmdb id",
        "csv",
        {"links.csv": "movieId,imdbId,tmdbId\n1,01,x\n"},
        "links.csv",
        2,
        "tmdb",
    ),
    ("id overflow", "csv", {"ratings.csv": R + "1,3000000000,4,5\n"}, "ratings.csv", 3, "int32"),
    ("text rating", "ml-100k", {"u.data": "1\t1\tfive\t9\n"}, "u.data", 1, "not a number"),
    ("duplicate header", "csv", {"ratings.csv": R + R}, "ratings.csv", 3, "duplicate header"),
    ("duplicate movie header", "csv", {"movies.csv": M + M}, "movies.csv", 3, "duplicate header"),
    (
        "wrong header",
        "csv",
        {"ratings.csv": "user,movie,rating,ts\n1,1,4,5\n"},
        "ratings.csv",
        1,
        "header",
    ),
    (
        "missing header",
        "csv",
        {"movies.csv": "1,Toy Story (1995),Comedy\n"},
        "movies.csv",
        1,
        "expected header",
    ),
    ("rating too high", "csv", {"ratings.csv": R + "1,2,5.5,5\n"}, "ratings.csv", 3, "outside"),
    ("rating zero", "ml-100k", {"u.data": "1\t1\t0\t9\n"}, "u.data", 1, "rating 0 outside 0.5..5"),
    ("rating nan", "csv", {"ratings.csv": R + "1,2,nan,5\n"}, "ratings.csv", 3, "outside"),
    (
        "bad utf-8 ratings",
        "csv",
        {"ratings.csv": R.encode() + b"1,\xff,4,5\n"},
        "ratings.csv",
        3,
        "invalid utf-8",
    ),
    (
        "bad utf-8 movies",
        "csv",
        {"movies.csv": M.encode() + b"2,Caf\xe9,A\n"},
        "movies.csv",
        3,
        "invalid utf-8",
    ),
    (
        "bad utf-8 tags",
        "csv",
        {"tags.csv": b"userId,movieId,tag,timestamp\n1,1,\xe9,5\n"},
        "tags.csv",
        2,
        "utf-8",
    ),
    ("genre flag", "ml-100k", {"u.item": "1|T|||" + "|2" * 19 + "\n"}, "u.item", 1, "0 or 1"),
    ("occupation", "ml-1m", {"users.dat": "1::F::1::21::48067\n"}, "users.dat", 1, "occupation"),
]


@pytest.mark.parametrize(
    ("layout", "files", "named", "line", "fragment"),
    [case[1:] for case in BAD_INPUT],
    ids=[case[0] for case in BAD_INPUT],
)
def test_bad_input_is_one_clear_data_error(
    tmp_path: Path, layout: str, files: Files, named: str, line: int | None, fragment: str
) -> None:
    folder = write(tmp_path / "ml", {**LAYOUT_FILES[layout], **files})
    loaders: list[Callable[[Path], object]] = [load]
    if {"ratings.csv", "ratings.dat", "u.data"} & set(files):
        loaders.append(load_ratings)
    for loader in loaders:
        with pytest.raises(DataError) as error:
            loader(folder)
        message = str(error.value)
        assert "\n" not in message
        assert named in message
        assert fragment in message
        if line is None:
            assert " line " not in message
        else:
            assert f" line {line}: " in message
