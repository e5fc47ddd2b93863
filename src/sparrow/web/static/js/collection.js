/* Collection page: a genre (collection.html?genre=&sort=&page=; the original's ?type=genre&value=
 * works too), all movies (no genre), or search results (?q=). Genre lists come from
 * /getrecommendation (sortby rating|releaseYear|popularity), search from /api/search. */
(async function () {
  "use strict";
  const S = window.Sparrow;
  const h = S.h;
  const PAGE = 24;
  const MAX = 1000; // the API's largest size
  const SORTS = { rating: "rating", year: "releaseYear", releaseYear: "releaseYear", popularity: "popularity" };
  S.init();
  const main = document.getElementById("collection");
  const q = (S.param("q") || "").trim();
  const genre = S.param("genre") || (S.param("type") === "genre" ? S.param("value") : null);
  const sort = SORTS[S.param("sort", "sortby") || "rating"] || "rating";
  const page = Math.max(1, S.positiveInt(S.param("page")) || 1);

  const link = (changes) => {
    const params = new URLSearchParams();
    const next = Object.assign({ q: q || null, genre: genre, sort: sort === "rating" ? null : sort, page: null }, changes);
    for (const [k, v] of Object.entries(next)) if (v !== null && v !== undefined && v !== "") params.set(k, String(v));
    return "collection.html" + (params.toString() ? "?" + params : "");
  };

  const title = q ? "Search: “" + q + "”" : genre ? genre : "All movies";
  document.title = title + " – Sparrow RecSys";
  const target = S.section(title, null, "collection-row", true);
  const controls = h("div", { class: "controls" });
  if (!q) {
    const select = h(
      "select", { id: "sort" },
      [["rating", "Average rating"], ["releaseYear", "Release year"], ["popularity", "Popularity"]].map(
        ([value, label]) => h("option", { value: value, selected: value === sort }, label),
      ),
    );
    select.addEventListener("change", () => { window.location.href = link({ sort: select.value === "rating" ? null : select.value }); });
    controls.append(h("label", { for: "sort" }, "Sort by: "), select);
  }
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  target.el.querySelector("h2").after(controls);
  main.append(target.el, pager);
  await S.postersReady;

  let movies;
  let total = null;
  try {
    if (q) {
      const found = await S.getJSON("/api/search", { q: q, size: 100 });
      total = found.total;
      movies = found.results;
    } else {
      const size = Math.min(MAX, page * PAGE + 1); // one more: is there a next page?
      movies = await S.getJSON("/getrecommendation", { genre: genre, size: size, sortby: sort });
    }
  } catch (err) {
    S.fail(target.status, err, "Could not load " + title);
    document.body.dataset.ready = "true";
    return;
  }
  const shown = movies.slice((page - 1) * PAGE, page * PAGE);
  const more = movies.length > page * PAGE;
  S.fill(target, shown);
  if (!shown.length && page > 1) target.status.textContent = "No movies on this page.";
  if (q) {
    const summary = total > movies.length ? total + " titles match; the best " + movies.length + " are listed." : total + (total === 1 ? " title matches." : " titles match.");
    controls.append(h("p", { id: "search-summary", class: "muted" }, summary));
  }
  if (page > 1) pager.append(h("a", { href: link({ page: page - 1 > 1 ? page - 1 : null }), rel: "prev", class: "prev" }, "← Previous"));
  pager.append(h("span", { class: "page", "aria-current": "page" }, "Page " + page));
  if (more) pager.append(h("a", { href: link({ page: page + 1 }), rel: "next", class: "next" }, "Next →"));
  document.body.dataset.ready = "true";
})();
