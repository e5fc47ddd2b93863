"""Title search over the store's movies (`/api/search`), and the set of known movies.

Read once at start-up from the store the service already loaded (titles and rating counts, the
popularity tie-break). Search is a case- and accent-insensitive match over titles, also in
their natural order ("Shawshank Redemption, The" is found as "the shawshank ...").
"""

import bisect
import re
import unicodedata
from dataclasses import dataclass, field

from sparrow.artifacts.schema import MAX_ID
from sparrow.store.base import OnlineStore

# MovieLens moves a leading article to the end: "Shawshank Redemption, The (aka)".
_ARTICLE = re.compile(
    r"^(?P<rest>.+?), (?P<art>the|a|an|les|la|le|l'|il|el|die|der|das|los|las|un|une|lo)"
    r"(?P<tail> \(.*\))?$",
    re.IGNORECASE,
)
_NON_WORD = re.compile(r"[^0-9a-z]+")
BATCH = 1000  # movies per store read


def normalise(text: str) -> str:
    """Lower case, accents and punctuation removed, single spaces: "Amélie!" -> "amelie"."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return _NON_WORD.sub(" ", plain).strip()


def title_forms(title: str) -> tuple[str, ...]:
    """The normalised title, and its natural-order form when the article was moved to the end."""
    forms = [normalise(title)]
    moved = _ARTICLE.match(title)
    if moved:
        forms.append(normalise(f"{moved['art']} {moved['rest']}{moved['tail'] or ''}"))
    return tuple(forms)


def _tier(query: str, tokens: list[str], form: str, words: list[str]) -> tuple[int, int]:
    """(tier, -matched tokens) of one title form; lower is better; tier 9 = no match."""
    if form == query:
        return 0, 0
    if form.startswith(query):
        return 1 if form[len(query) : len(query) + 1] in ("", " ") else 2, 0
    if f" {query}" in f" {form}":
        return 3, 0
    if query in form:
        return 4, 0
    matched = sum(1 for t in tokens if any(w.startswith(t) for w in words))
    if matched == len(tokens):
        return 5, 0
    if matched and any(len(t) > 1 for t in tokens):
        return 6, -matched
    return 9, 0


@dataclass
class TitleSearch:
    """Every movie of the build: ids, titles and rating counts, indexed by title words."""

    ids: list[int]
    titles: list[str]
    counts: list[int]  # ratings per movie (the tie-break: most rated first)
    index: dict[int, int] = field(init=False, repr=False)  # movie id -> position
    forms: list[tuple[str, ...]] = field(init=False, repr=False)  # normalised titles
    words: list[list[str]] = field(init=False, repr=False)  # their words
    joined: list[str] = field(init=False, repr=False)  # the forms, "|"-joined
    vocab: list[str] = field(init=False, repr=False)  # every title word, sorted
    postings: dict[str, list[int]] = field(init=False, repr=False)  # word -> positions

    def __post_init__(self) -> None:
        self.index = {movie_id: i for i, movie_id in enumerate(self.ids)}
        self.forms = [title_forms(t) for t in self.titles]
        self.words = [sorted({w for f in fs for w in f.split()}) for fs in self.forms]
        self.joined = ["|".join(fs) for fs in self.forms]
        postings: dict[str, list[int]] = {}
        for i, words in enumerate(self.words):
            for w in words:
                postings.setdefault(w, []).append(i)
        self.postings = postings
        self.vocab = sorted(postings)

    @classmethod
    def of(cls, store: OnlineStore) -> "TitleSearch":
        """Every movie of the store's version (read once, at start-up, in batches)."""
        ids = store.top_movies(None, "popularity", MAX_ID)
        found = [store.movies(ids[at : at + BATCH]) for at in range(0, len(ids), BATCH)]
        movies = [m for batch in found for m in batch if m is not None]
        return cls(
            ids=[m.movie_id for m in movies],
            titles=[m.title for m in movies],
            counts=[m.rating_number for m in movies],
        )

    def __contains__(self, movie_id: object) -> bool:
        return movie_id in self.index

    def search(self, query: str, size: int) -> tuple[list[int], int]:
        """The ids of the best `size` matches, and how many titles match at all. Best first:
        exact title, title prefix, phrase, every word, some words; then most rated, shortest."""
        q = normalise(query)
        if not q:
            return [], 0
        tokens = list(dict.fromkeys(q.split()))
        candidates = {i for i, text in enumerate(self.joined) if q in text}  # the phrase
        for token in tokens:  # titles with a word starting with a query word
            lo = bisect.bisect_left(self.vocab, token)
            hi = bisect.bisect_left(self.vocab, token + "\x7f")  # words are [0-9a-z]
            for word in self.vocab[lo:hi]:
                candidates.update(self.postings[word])
        found: list[tuple[int, int, int, int, int]] = []
        for i in candidates:
            tier, partial = min(_tier(q, tokens, f, self.words[i]) for f in self.forms[i])
            if tier < 9:
                found.append((tier, partial, -self.counts[i], len(self.titles[i]), self.ids[i]))
        found.sort()
        return [movie_id for *_, movie_id in found[:size]], len(found)
