"""MovieLens loaders: every official layout -> the canonical tables (`artifacts/schema.py`).

Layouts: "csv" (ml-latest-small, ml-latest, ml-20m, ml-25m, ml-32m), "ml-1m" and "ml-10m"
(`::`-separated .dat files; ml-1m has users.dat, ml-10m has tags.dat) and "ml-100k" (u.data,
u.item, u.user). Large numeric files are read by pyarrow.csv
(multi-threaded); the small movie and user files are parsed line by line. Bad input raises one
DataError naming the file and, where known, the 1-based line.
"""

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from sparrow.artifacts.schema import ITEMS, LINKS, RATINGS, TAGS, USERS
from sparrow.data.schema import Dataset
from sparrow.errors import DataError

Row = list[object]

RATING_RANGE = (0.5, 5.0)
NO_GENRES = "(no genres listed)"
GENRES_100K = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
OCCUPATIONS_1M = (
    "other or not specified", "academic/educator", "artist", "clerical/admin",
    "college/grad student", "customer service", "doctor/health care", "executive/managerial",
    "farmer", "homemaker", "K-12 student", "lawyer", "programmer", "retired", "sales/marketing",
    "scientist", "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed",
    "writer",
)  # fmt: skip

_YEAR = re.compile(r"(.+?)\s*\((\d{4})\)")
_INT = re.compile(r"[+-]?\d+")
_BLOCK_BYTES = 1 << 22  # error path: pyarrow re-reads blocks this big to find the bad one


@dataclass(frozen=True)
class _Spec:
    """One delimited file: its name, typed columns in file order, and its dialect."""

    name: str
    fields: tuple[pa.Field, ...]
    delimiter: str
    encoding: str = "latin-1"
    header: tuple[str, ...] | None = None  # CSV layouts: headers, UTF-8, RFC-4180 quoting

    @property
    def quoted(self) -> bool:
        return self.header is not None

    @property
    def splittable(self) -> bool:
        """pyarrow can split it: one-character delimiter, or `::` with no text field to hold ':'."""
        return len(self.delimiter) == 1 or not _strings(self)


@dataclass(frozen=True)
class _Layout:
    """Where each canonical table comes from in one layout."""

    ratings: _Spec
    movies: _Spec
    to_item: Callable[[Row], Row]
    links: _Spec | None = None
    tags: _Spec | None = None
    users: _Spec | None = None
    to_user: Callable[[Row], Row] | None = None
    marker: str | None = None  # a file that tells this layout from the next one with its files


def _csv(name: str, header: str, fields: tuple[pa.Field, ...]) -> _Spec:
    return _Spec(name, fields, ",", "utf-8", tuple(header.split(",")))


def _dat(name: str, delimiter: str, *fields: pa.Field) -> _Spec:
    return _Spec(name, fields, delimiter)


def _split_title(title: str) -> tuple[str, int | None]:
    """("Toy Story (1995)") -> ("Toy Story", 1995); no trailing (YYYY) -> (title, None)."""
    match = _YEAR.fullmatch(title.strip())
    return (match[1].strip(), int(match[2])) if match else (title.strip(), None)


def _item(item_id: object, title: object, genres: list[str]) -> Row:
    return [item_id, *_split_title(str(title)), genres]


def _item_from_text(values: Row) -> Row:
    """movies.csv / movies.dat: id, title, "A|B" genres."""
    text = str(values[2])
    return _item(values[0], values[1], [] if text in ("", NO_GENRES) else text.split("|"))


def _item_from_flags(values: Row) -> Row:
    """u.item: id, title, dates, URL, then one 0/1 flag per genre ("unknown" means none)."""
    flags = values[5:]
    if any(flag not in (0, 1) for flag in flags):
        raise ValueError("genre flags must be 0 or 1")
    return _item(
        values[0], values[1], [g for g, f in zip(GENRES_100K[1:], flags[1:], strict=True) if f]
    )


def _user_1m(values: Row) -> Row:
    """users.dat: id, gender, age, occupation code, zip."""
    user_id, gender, age, code, zip_code = values
    if not isinstance(code, int) or not 0 <= code < len(OCCUPATIONS_1M):
        raise ValueError(f"unknown occupation code {code}")
    return [user_id, gender, age, OCCUPATIONS_1M[code], zip_code]


def _user_100k(values: Row) -> Row:
    """u.user: id, age, gender, occupation, zip."""
    user_id, age, gender, occupation, zip_code = values
    return [user_id, gender, age, occupation, zip_code]


_MOVIE_FIELDS = (ITEMS.field("item_id"), ITEMS.field("title"), pa.field("genres", pa.string()))
_100K_ITEM = (
    *_MOVIE_FIELDS[:2],
    *(pa.field(name, pa.string()) for name in ("release_date", "video_release_date", "imdb_url")),
    *(pa.field(genre, pa.int32(), nullable=False) for genre in GENRES_100K),
)
_1M_USER = (
    *(USERS.field(name) for name in ("user_id", "gender", "age")),
    pa.field("occupation_code", pa.int32(), nullable=False),
    USERS.field("zip_code"),
)
_100K_USER = tuple(USERS.field(n) for n in ("user_id", "age", "gender", "occupation", "zip_code"))
_DAT_RATINGS = _dat("ratings.dat", "::", *RATINGS)  # ml-1m and ml-10m
_DAT_MOVIES = _dat("movies.dat", "::", *_MOVIE_FIELDS)
LAYOUTS = {
    "csv": _Layout(
        ratings=_csv("ratings.csv", "userId,movieId,rating,timestamp", tuple(RATINGS)),
        movies=_csv("movies.csv", "movieId,title,genres", _MOVIE_FIELDS),
        to_item=_item_from_text,
        links=_csv("links.csv", "movieId,imdbId,tmdbId", tuple(LINKS)),
        tags=_csv("tags.csv", "userId,movieId,tag,timestamp", tuple(TAGS)),
    ),
    "ml-1m": _Layout(
        ratings=_DAT_RATINGS,
        movies=_DAT_MOVIES,
        to_item=_item_from_text,
        users=_dat("users.dat", "::", *_1M_USER),
        to_user=_user_1m,
        marker="users.dat",
    ),
    "ml-10m": _Layout(
        ratings=_DAT_RATINGS,
        movies=_DAT_MOVIES,
        to_item=_item_from_text,
        tags=_dat("tags.dat", "::", *TAGS),
    ),
    "ml-100k": _Layout(
        ratings=_dat("u.data", "\t", *RATINGS),
        movies=_dat("u.item", "|", *_100K_ITEM),
        to_item=_item_from_flags,
        users=_dat("u.user", "|", *_100K_USER),
        to_user=_user_100k,
    ),
}


def _error(path: Path, line: int | None, message: str) -> DataError:
    return DataError(f"{path} line {line}: {message}" if line else f"{path}: {message}")


def _lines(path: Path, raw: Iterable[bytes], encoding: str, first: int) -> Iterator[str]:
    """Decoded lines, numbered from `first`; a line that does not decode is a DataError."""
    for number, line in enumerate(raw, first):
        try:
            yield line.decode(encoding)
        except UnicodeDecodeError:
            raise _error(path, number, f"invalid {encoding} text") from None


def _records(
    path: Path, spec: _Spec, raw: Iterable[bytes], first: int
) -> Iterator[tuple[int, list[str]]]:
    """(line where it starts, fields) of each record."""
    lines = _lines(path, raw, spec.encoding, first)
    if not spec.quoted:
        yield from ((n, s.rstrip("\r\n").split(spec.delimiter)) for n, s in enumerate(lines, first))
        return
    reader = csv.reader(lines, strict=True)
    start = first
    try:
        for record in reader:
            yield start, record
            start = first + reader.line_num
    except csv.Error as exc:
        raise _error(path, start, f"malformed CSV ({exc})") from None


def _rows(
    path: Path, spec: _Spec, raw: Iterable[bytes], first: int = 1
) -> Iterator[tuple[int, list[str]]]:
    """(line, fields) of each non-blank data line; checks the header when `first` is line 1."""
    records = _records(path, spec, raw, first)
    if spec.header and first == 1:
        found = next(records, (1, []))[1]
        if tuple(cell.lstrip("\ufeff") for cell in found) != spec.header:
            expected, text = ",".join(spec.header), ",".join(found)
            raise _error(path, 1, f"expected header {expected!r}, found {text!r}")
    for number, fields in records:
        if fields in ([], [""]):
            continue
        if spec.header and tuple(fields) == spec.header:
            raise _error(path, number, "duplicate header line")
        yield number, fields


def _value(field: pa.Field, text: str) -> object:
    """One field's text as a Python value; ValueError saying why when it is invalid."""
    if pa.types.is_string(field.type):
        return None if not text and field.nullable else text
    if not text:
        if field.nullable:
            return None
        raise ValueError(f"missing {field.name}")
    if pa.types.is_integer(field.type):
        limit = 2 ** (field.type.bit_width - 1)
        if not _INT.fullmatch(text) or not -limit <= int(text) < limit:
            raise ValueError(f"{field.name} is not a valid {field.type}: {text!r}")
        return int(text)
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{field.name} is not a number: {text!r}") from None
    if field.name == "rating" and not RATING_RANGE[0] <= value <= RATING_RANGE[1]:
        raise ValueError(f"rating {text} outside {RATING_RANGE[0]}..{RATING_RANGE[1]:g}")
    return value


def _parse(
    path: Path, spec: _Spec, raw: Iterable[bytes], first: int = 1
) -> Iterator[tuple[int, Row]]:
    """(line, typed values) of each data line, every value checked."""
    for number, fields in _rows(path, spec, raw, first):
        if len(fields) != len(spec.fields):
            raise _error(path, number, f"expected {len(spec.fields)} fields, found {len(fields)}")
        try:
            values = [_value(field, text) for field, text in zip(spec.fields, fields, strict=True)]
        except ValueError as exc:
            raise _error(path, number, str(exc)) from None
        yield number, values


def _strings(spec: _Spec) -> list[pa.Field]:
    return [field for field in spec.fields if pa.types.is_string(field.type)]


def _arrow(source: object, spec: _Spec, header: bool) -> pa.Table | str:
    """Read with pyarrow.csv (explicit types), check nulls and ratings: the table or the problem."""
    names = [field.name for field in spec.fields]
    columns, delimiter = names, spec.delimiter
    if len(delimiter) == 2 and delimiter[0] == delimiter[1]:  # "::": ':' with empty columns between
        columns, delimiter = [c for n in names for c in (n, f"_{n}")][:-1], delimiter[0]
    read = pacsv.ReadOptions(column_names=columns, skip_rows=int(header), encoding=spec.encoding)
    parse = pacsv.ParseOptions(
        delimiter=delimiter,
        quote_char='"' if spec.quoted else False,
        newlines_in_values=spec.quoted and bool(_strings(spec)),
    )
    convert = pacsv.ConvertOptions(
        column_types={field.name: field.type for field in spec.fields},
        include_columns=names,
        null_values=[""],
        strings_can_be_null=any(field.nullable for field in _strings(spec)),
    )
    try:
        table = pacsv.read_csv(source, read, parse, convert)
    except (pa.ArrowException, ValueError) as exc:
        return str(exc).splitlines()[0]
    if any(table[field.name].null_count for field in spec.fields if not field.nullable):
        return "missing value"
    if "rating" in names:
        ratings, (low, high) = table["rating"], RATING_RANGE
        in_range = pc.and_(pc.greater_equal(ratings, low), pc.less_equal(ratings, high))
        if not pc.all(in_range, min_count=0).as_py():
            return "rating out of range"
    return table


def _blocks(path: Path, spec: _Spec) -> Iterator[bytes]:
    """The file in line-aligned blocks (whole, when a quoted text field may hold a newline)."""
    if spec.quoted and _strings(spec):
        yield path.read_bytes()
        return
    rest = b""
    with path.open("rb") as file:
        while chunk := file.read(_BLOCK_BYTES):
            block = rest + chunk
            cut = block.rfind(b"\n") + 1
            rest = block[cut:]
            if cut:
                yield block[:cut]
    if rest:
        yield rest


def _locate(path: Path, spec: _Spec, problem: str) -> DataError:
    """Error path: the first bad line. pyarrow re-reads blocks; Python scans the first bad one."""
    first = 1
    for block in _blocks(path, spec):
        header = first == 1 and spec.quoted
        if isinstance(_arrow(pa.BufferReader(block), spec, header), str):
            try:
                for _ in _parse(path, spec, io.BytesIO(block), first):
                    pass
            except DataError as exc:
                return exc
        first += block.count(b"\n")
    return _error(path, None, problem)


def _require(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise DataError(f"{folder}: missing {name}")
    if path.stat().st_size == 0:
        raise _error(path, None, "file is empty")
    return path


def _checked(folder: Path, spec: _Spec) -> Path:
    """The path of a required, non-empty file whose header (CSV layouts) is the expected one."""
    path = _require(folder, spec.name)
    with path.open("rb") as file:
        next(_rows(path, spec, file), None)  # checks the header
    return path


def ratings_file(folder: Path, layout: str) -> Path:
    """The ratings file of a dataset folder, checked as far as its header, for engines that
    read it themselves (Spark)."""
    return _checked(Path(folder), LAYOUTS[layout].ratings)


def _read_fast(folder: Path, spec: _Spec, schema: pa.Schema) -> pa.Table:
    """A large file through pyarrow.csv (multi-threaded), cast to `schema`."""
    path = _checked(folder, spec)
    table = _arrow(path, spec, header=bool(spec.header))
    if isinstance(table, str):
        raise _locate(path, spec, table)
    return table.cast(schema)


def _read_small(
    folder: Path, spec: _Spec, convert: Callable[[Row], Row], schema: pa.Schema
) -> pa.Table:
    """A small file parsed line by line, each row mapped by `convert` to `schema`'s columns."""
    path = _require(folder, spec.name)
    rows = []
    with path.open("rb") as file:
        for number, values in _parse(path, spec, file):
            try:
                rows.append(convert(values))
            except ValueError as exc:
                raise _error(path, number, str(exc)) from None
    columns = list(zip(*rows, strict=True)) or [()] * len(schema)
    arrays = [pa.array(column, f.type) for column, f in zip(columns, schema, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema)


def _non_empty(table: pa.Table, folder: Path, spec: _Spec) -> pa.Table:
    if table.num_rows == 0:
        raise _error(folder / spec.name, None, "no data rows")
    return table


def _optional(folder: Path, spec: _Spec | None, schema: pa.Schema) -> pa.Table:
    """links/tags: empty tables when the layout or the folder has none."""
    if spec is None or not (folder / spec.name).exists():
        return schema.empty_table()
    if not spec.splittable:  # ml-10m tags.dat: a tag may contain ':'
        return _read_small(folder, spec, list, schema)
    return _read_fast(folder, spec, schema)


def detect_layout(path: Path) -> str:
    """The layout of a dataset folder (a key of LAYOUTS), from the files in it."""
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(f"dataset folder not found: {folder}")
    for name, layout in LAYOUTS.items():
        if any((folder / spec.name).is_file() for spec in (layout.ratings, layout.movies)) and (
            layout.marker is None or (folder / layout.marker).is_file()
        ):
            return name
    expected = " | ".join(
        f"{layout.ratings.name} + {layout.movies.name}" for layout in LAYOUTS.values()
    )
    raise DataError(f"{folder}: no MovieLens files found (expected {expected})")


def _ratings(folder: Path, layout: _Layout) -> pa.Table:
    return _non_empty(_read_fast(folder, layout.ratings, RATINGS), folder, layout.ratings)


def _items(folder: Path, layout: _Layout) -> pa.Table:
    items = _read_small(folder, layout.movies, layout.to_item, ITEMS)
    return _non_empty(items, folder, layout.movies)


def load_ratings(path: Path) -> pa.Table:
    """The ratings table (user_id, item_id, rating, ts) of a dataset folder."""
    return _ratings(Path(path), LAYOUTS[detect_layout(path)])


def load_items(path: Path) -> pa.Table:
    """The items table (item_id, title, year, genres) of a dataset folder."""
    return _items(Path(path), LAYOUTS[detect_layout(path)])


def load(path: Path, *, ratings: bool = True) -> Dataset:
    """Every table of a dataset folder, in the canonical schemas.

    With `ratings=False` the ratings table is left empty (an engine that reads the ratings
    itself, such as Spark, takes the small tables from here).
    """
    folder = Path(path)
    name = detect_layout(folder)
    layout = LAYOUTS[name]
    users = None
    if layout.users and layout.to_user:
        users = _read_small(folder, layout.users, layout.to_user, USERS)
    return Dataset(
        name=folder.resolve().name,
        layout=name,
        ratings=_ratings(folder, layout) if ratings else RATINGS.empty_table(),
        items=_items(folder, layout),
        links=_optional(folder, layout.links, LINKS),
        tags=_optional(folder, layout.tags, TAGS),
        users=users,
    )
