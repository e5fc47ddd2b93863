/* Movie page (movie.html?movieId=): details from /getmovie, "similar movies" from
 * /getsimilarmovie with a choice of embedding (/api/methods), and rating stars that POST a
 * rating event to /events for a chosen user id. */
(async function () {
  "use strict";
  const S = window.Sparrow;
  const h = S.h;
  const USER_KEY = "sparrow.userId";
  S.init();
  const detail = document.getElementById("movie-detail");
  const status = document.getElementById("movie-status");
  const movieId = S.positiveInt(S.param("movieId", "id"));
  if (movieId === null) {
    S.fail(status, "give a movie id, e.g. movie.html?movieId=1", "No movie");
    document.body.dataset.ready = "true";
    return;
  }

  const similar = S.section("Similar movies", null, "similar", false);
  const methods = h("select", { id: "similar-method" }, h("option", { value: "emb" }, "emb (default)"));
  similar.el.querySelector("h2").after(
    h("p", { class: "controls" }, h("label", { for: "similar-method" }, "Embedding: "), methods),
  );

  await S.postersReady;
  let movie;
  try {
    movie = await S.getJSON("/getmovie", { id: movieId });
  } catch (err) {
    S.fail(status, err, "Could not load movie " + movieId);
    document.body.dataset.ready = "true";
    return;
  }
  status.hidden = true;
  document.title = movie.title + " – Sparrow RecSys";
  detail.replaceChildren(...info(movie), rating(movie));
  detail.after(similar.el);

  async function loadSimilar() {
    similar.status.hidden = false;
    similar.status.classList.remove("error");
    similar.status.textContent = "Loading…";
    try {
      const movies = await S.getJSON("/getsimilarmovie", { movieId: movieId, size: 16, model: methods.value });
      S.fill(similar, movies, { why: true });
    } catch (err) {
      similar.row.replaceChildren();
      S.fail(similar.status, err, "Could not load similar movies");
    }
  }
  methods.addEventListener("change", loadSimilar);
  try {
    const found = await S.getJSON("/api/methods");
    if (found.similarMethod) methods.options[0].textContent = "emb (" + found.similarMethod + ")";
    for (const e of found.embeddings) {
      if (e.served !== false) methods.append(h("option", { value: e.name }, e.name));
    }
  } catch (err) {
    /* only the default method then */
  }
  await loadSimilar();
  document.body.dataset.ready = "true";

  function info(m) {
    const links = [];
    if (m.imdbId) links.push(h("a", { href: "https://www.imdb.com/title/tt" + encodeURIComponent(m.imdbId) + "/", rel: "noopener noreferrer" }, "IMDb"));
    if (m.tmdbId) links.push(h("a", { href: "https://www.themoviedb.org/movie/" + encodeURIComponent(m.tmdbId), rel: "noopener noreferrer" }, "TMDb"));
    const top = (m.topRatings || []).map((r) => r.rating).slice().reverse(); // highest first
    return [
      h("div", { class: "detail-poster" }, S.poster(m, "big-poster")),
      h(
        "div", { class: "detail-info" },
        h("h1", { id: "movie-title" }, m.title),
        h("dl", { class: "facts" },
          h("dt", null, "Release year"), h("dd", { id: "movie-year" }, m.releaseYear ? String(m.releaseYear) : "unknown"),
          h("dt", null, "Average rating"),
          h("dd", { id: "movie-rating" }, m.ratingNumber ? S.stars(m.averageRating) + " stars from " + m.ratingNumber + (m.ratingNumber === 1 ? " rating" : " ratings") : "no ratings yet"),
          h("dt", null, "Genres"), h("dd", null, S.genreLinks(m.genres, "genres inline")),
          h("dt", null, "Links"), h("dd", { class: "links" }, links.length ? links : "none"),
        ),
        h("h2", { class: "sub" }, "Who rated it highest"),
        top.length
          ? h("ul", { class: "top-ratings", id: "top-ratings" }, top.map((r) => h(
            "li", null, h("a", { href: S.url.user(r.userId) }, "User " + r.userId), " ", h("span", { class: "score" }, "★ " + S.stars(r.score)),
          )))
          : h("p", { class: "muted" }, "Nobody has rated it yet."),
      ),
    ];
  }

  function rating(m) {
    const user = h("input", {
      id: "rate-user", type: "number", min: 1, step: 1, inputmode: "numeric",
      value: localStorage.getItem(USER_KEY) || S.param("user") || "",
    });
    const result = h("p", { id: "rate-status", class: "status", role: "status", "aria-live": "polite" });
    const buttons = [];
    const group = h("div", { class: "stars", role: "group", "aria-label": "Rating in stars" });
    const paint = (value) => buttons.forEach((b) => b.classList.toggle("on", Number(b.value) <= value));
    let chosen = 0;
    for (let i = 1; i <= 10; i += 1) {
      const value = i / 2;
      const button = h(
        "button",
        { type: "button", class: "half " + (i % 2 ? "left" : "right"), value: value, "aria-label": "Rate " + value + " stars", title: value + " stars" },
        h("span", { "aria-hidden": "true" }, "★"),
      );
      button.addEventListener("mouseenter", () => paint(value));
      button.addEventListener("focus", () => paint(value));
      button.addEventListener("click", () => send(value));
      buttons.push(button);
      group.append(button);
    }
    group.addEventListener("mouseleave", () => paint(chosen));
    group.addEventListener("focusout", (e) => { if (!group.contains(e.relatedTarget)) paint(chosen); });

    async function send(value) {
      result.classList.remove("error", "ok");
      result.textContent = "Sending…";
      const userId = user.value.trim() === "" ? null : Number(user.value);
      try {
        const { body } = await S.postJSON("/events", { type: "rating", userId: userId, movieId: m.movieId, rating: value });
        chosen = value;
        paint(chosen);
        localStorage.setItem(USER_KEY, String(userId));
        result.classList.add("ok");
        result.replaceChildren(
          "Thanks! User " + userId + " rated it " + value + " stars (event " + body.id + ", " + body.status + "). ",
          h("a", { id: "rate-recs", href: S.url.user(userId) + "#recommended" }, "Their recommendations"),
          " follow it within a second.",
        );
      } catch (err) {
        result.classList.add("error");
        result.textContent = "Not recorded: " + err.message;
      }
    }

    return h(
      "section", { class: "rate", "aria-labelledby": "rate-title" },
      h("h2", { id: "rate-title", class: "sub" }, "Rate this movie"),
      h("p", { class: "controls" }, h("label", { for: "rate-user" }, "As user id: "), user),
      group,
      result,
    );
  }
})();
