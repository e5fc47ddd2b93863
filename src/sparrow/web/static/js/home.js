/* Home: six genre rows, eight movies each by average rating (as the original's index.html, in
 * the order listed, top to bottom). Calls /getrecommendation?genre=<G>&size=8&sortby=rating. */
(async function () {
  "use strict";
  const S = window.Sparrow;
  const GENRES = ["Action", "Romance", "Thriller", "Comedy", "Drama", "Adventure"];
  S.init();
  const rows = document.getElementById("rows");
  const sections = GENRES.map((genre) => {
    const target = S.section(genre, S.url.genre(genre), "row-" + genre.toLowerCase());
    rows.append(target.el);
    return [genre, target];
  });
  await S.postersReady;
  await Promise.all(sections.map(async ([genre, target]) => {
    try {
      const movies = await S.getJSON("/getrecommendation", { genre: genre, size: 8, sortby: "rating" });
      S.fill(target, movies);
    } catch (err) {
      S.fail(target.status, err, "Could not load " + genre);
    }
  }));
  document.body.dataset.ready = "true";
})();
