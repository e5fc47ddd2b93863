"""A tiny hand-made dataset whose features the unit tests compute by hand."""

from pathlib import Path

MOVIES = """movieId,title,genres
1,"Alpha, The (2000)",Action|Comedy
2,Beta (1990),Drama
3,Gamma,(no genres listed)
4,"Delta ""D"" (2010)",Comedy|Drama
"""
# user 1 rates movies 2 and 3 in the same second; user 2 has two ratings
RATINGS = """userId,movieId,rating,timestamp
1,1,4.0,100
1,2,3.0,200
1,3,5.0,200
1,4,4.5,300
2,1,2.0,150
2,4,5.0,250
"""


def write_dataset(folder: Path, ratings: str = RATINGS) -> Path:
    folder.mkdir()
    (folder / "movies.csv").write_text(MOVIES)
    (folder / "ratings.csv").write_text(ratings)
    return folder
