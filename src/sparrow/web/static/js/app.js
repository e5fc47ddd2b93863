/* Sparrow RecSys web UI: what every page shares (API calls, header and search, movie cards).
 *
 * Plain JavaScript, no framework, nothing loaded from elsewhere. The API is on the same origin.
 * Every text that comes from data is inserted with textContent / text nodes / setAttribute,
 * never as markup (a movie titled "<script>..." shows as that text).
 */
(function () {
  "use strict";

  const API = window.location.origin;
  const SEARCH_DELAY_MS = 200;

  class ApiError extends Error {
    constructor(message, status, body) {
      super(message);
      this.name = "ApiError";
      this.status = status;
      this.body = body;
    }
  }

  /** fetch `path` (query `params`); resolves {body, headers}; throws ApiError with the
   *  service's JSON `error` message on a 4xx/5xx or when the service does not answer. */
  async function api(path, params, init) {
    const url = new URL(path, API);
    for (const [key, value] of Object.entries(params || {})) {
      if (value !== undefined && value !== null && value !== "") {
        url.searchParams.set(key, String(value));
      }
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (err) {
      throw new ApiError("the service does not answer", 0, null);
    }
    const text = await response.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch (err) {
      body = null;
    }
    if (!response.ok) {
      const message = body && typeof body.error === "string" ? body.error : "HTTP " + response.status;
      throw new ApiError(message, response.status, body);
    }
    return { body: body, headers: response.headers };
  }

  async function getJSON(path, params) {
    return (await api(path, params)).body;
  }

  async function postJSON(path, data) {
    return api(path, null, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(data),
    });
  }

  /** Create an element: h("a", {href: url, class: "x"}, "text", child). Strings become text
   *  nodes; attributes are set with setAttribute; "on<event>" attributes add listeners. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") el.className = value;
      else if (key.startsWith("on") && typeof value === "function") {
        el.addEventListener(key.slice(2), value);
      } else el.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      el.append(child instanceof Node ? child : String(child));
    }
    return el;
  }

  /** A query parameter of the page, names case-insensitive (as the original's pages). */
  function param(...names) {
    const wanted = names.map((n) => n.toLowerCase());
    for (const [key, value] of new URLSearchParams(window.location.search)) {
      if (wanted.includes(key.toLowerCase())) return value;
    }
    return null;
  }

  function positiveInt(text) {
    return text !== null && /^[0-9]{1,10}$/.test(text) && Number(text) > 0 ? Number(text) : null;
  }

  const url = {
    movie: (id) => "movie.html?movieId=" + encodeURIComponent(id),
    user: (id) => "user.html?id=" + encodeURIComponent(id),
    genre: (genre) => "collection.html?genre=" + encodeURIComponent(genre),
    search: (q) => "collection.html?q=" + encodeURIComponent(q),
  };

  function stars(value) {
    return typeof value === "number" && isFinite(value) ? value.toFixed(1) : "–";
  }

  // ---- posters: ask once which exist, so a missing poster is never requested ----------------
  let posterIds = null; // Set of movie ids with a poster; null: unknown (then rely on onerror)
  const postersReady = getJSON("/api/posters").then(
    (body) => { posterIds = new Set(body.ids); },
    () => { posterIds = null; },
  );

  /** A card with the title in place of a poster (colour from the movie id). */
  function titleCard(movie, className) {
    const card = h(
      "div",
      { class: "title-card " + (className || ""), role: "img", "aria-label": movie.title },
      h("span", { class: "title-card-title" }, movie.title),
      movie.releaseYear ? h("span", { class: "title-card-year" }, String(movie.releaseYear)) : null,
    );
    card.style.setProperty("--hue", String((Number(movie.movieId) * 47) % 360));
    return card;
  }

  /** The poster of a movie, or its title card when it has none (or the image fails). */
  function poster(movie, className) {
    const id = Number(movie.movieId);
    if (!Number.isInteger(id) || (posterIds !== null && !posterIds.has(id))) {
      return titleCard(movie, className);
    }
    const img = h("img", {
      class: "poster " + (className || ""), alt: "Poster of " + movie.title,
      width: 185, height: 278, loading: "lazy", decoding: "async",
    });
    img.addEventListener("error", () => img.replaceWith(titleCard(movie, className)), { once: true });
    img.src = "/posters/" + id + ".jpg";
    return img;
  }

  function genreLinks(genres, className) {
    return h(
      "ul", { class: className || "genres" },
      (genres || []).map((g) => h("li", null, h("a", { class: "chip", href: url.genre(g) }, g))),
    );
  }

  /** Why a movie was recommended: its recall channels, score and the model that ranked it. */
  function why(movie) {
    const channels = (movie.recallChannels || []).join(" + ") || "–";
    const s = movie.score;
    const score = typeof s === "number" && isFinite(s) ? s.toFixed(Math.abs(s) >= 10 ? 0 : 3) : "–";
    return h(
      "p", { class: "why", "data-ranked-by": movie.rankedBy || "" },
      h("span", { class: "why-label" }, "why: "),
      h("span", { class: "why-channels", title: "recall channels" }, channels),
      " · score ", h("span", { class: "why-score" }, score),
      " · ", h("span", { class: "why-model", title: "ranked by" }, movie.rankedBy || "–"),
    );
  }

  /** A movie card: poster (or title card) and title linking to the movie page, rating, year,
   *  genre links; `opts.own`: a user's own rating shown instead of the average; `opts.why`: the
   *  recommendation's channels/score/model; `opts.onopen(movie)`: called when it is opened. */
  function movieCard(movie, opts) {
    const o = opts || {};
    const own = typeof o.own === "number";
    const link = h(
      "a", { class: "card-link", href: url.movie(movie.movieId) },
      poster(movie, "card-poster"), h("span", { class: "card-title" }, movie.title),
    );
    if (o.onopen) link.addEventListener("click", () => o.onopen(movie));
    const count = typeof movie.ratingNumber === "number" ? movie.ratingNumber : null;
    return h(
      "article", { class: "card", "data-movie-id": movie.movieId },
      link,
      h(
        "p", { class: "card-meta" },
        h(
          "span",
          { class: "card-rating", title: own ? "this user's rating" : "average rating" },
          (own ? "rated " : "★ ") + stars(own ? o.own : movie.averageRating),
        ),
        h("span", { class: "card-year" }, movie.releaseYear ? String(movie.releaseYear) : ""),
      ),
      genreLinks((movie.genres || []).slice(0, 3), "genres card-genres"),
      count !== null ? h("p", { class: "card-count" }, count + (count === 1 ? " rating" : " ratings")) : null,
      o.why ? why(movie) : null,
    );
  }

  /** A titled row of cards: {el, row, status}; the title links to `href` when given. */
  function section(title, href, id, grid) {
    const heading = h("h2", { class: "row-title" }, href ? h("a", { href: href }, title) : title);
    const row = h("div", { class: grid ? "grid" : "row", role: "list" });
    const status = h("p", { class: "status", role: "status" }, "Loading…");
    return { el: h("section", { class: "row-section", id: id }, heading, status, row), row, status };
  }

  function fill(target, movies, opts) {
    target.row.replaceChildren(
      ...movies.map((m) => {
        const card = movieCard(m, typeof opts === "function" ? opts(m) : opts);
        card.setAttribute("role", "listitem");
        return card;
      }),
    );
    target.status.textContent = movies.length ? "" : "No movies.";
    target.status.hidden = movies.length > 0;
  }

  function fail(status, err, what) {
    status.hidden = false;
    status.classList.add("error");
    status.textContent = (what ? what + ": " : "") + (err && err.message ? err.message : String(err));
  }

  // ---- header, search, footer ----------------------------------------------------------------
  function header() {
    const target = document.getElementById("site-header");
    if (!target) return;
    const input = h("input", {
      id: "search-input", type: "search", name: "q", placeholder: "Search titles, e.g. Toy Story",
      autocomplete: "off", maxlength: 200, "aria-describedby": "search-help",
      "aria-controls": "search-suggestions",
    });
    const current = param("q");
    if (current) input.value = current;
    const suggestions = h("ul", { id: "search-suggestions", class: "suggestions", hidden: true });
    const form = h(
      "form", { class: "search", role: "search", action: "collection.html", method: "get" },
      h("label", { class: "visually-hidden", for: "search-input" }, "Search movies by title"),
      input,
      h("button", { type: "submit" }, "Search"),
      h("span", { id: "search-help", class: "visually-hidden" }, "Suggestions appear below; press the down arrow to reach them."),
      suggestions,
    );
    target.replaceChildren(
      h("a", { class: "logo", href: "./" }, h("span", { class: "logo-mark", "aria-hidden": "true" }, "◆"), " Sparrow RecSys"),
      h(
        "nav", { class: "site-nav", "aria-label": "Main" },
        h("a", { href: "./" }, "Home"),
        h("a", { href: "collection.html?sort=popularity" }, "Popular"),
        h("a", { href: "dashboard.html" }, "Dashboard"),
      ),
      form,
    );
    search(form, input, suggestions);
  }

  function search(form, input, list) {
    let seq = 0;
    let timer = null;
    const close = () => { list.hidden = true; list.replaceChildren(); };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const q = input.value.trim();
      if (q) window.location.href = url.search(q);
    });
    input.addEventListener("input", () => {
      clearTimeout(timer);
      const q = input.value.trim();
      if (q.length < 2) { seq += 1; close(); return; }
      timer = setTimeout(async () => {
        const mine = ++seq;
        try {
          const found = await getJSON("/api/search", { q: q, size: 8 });
          if (mine !== seq) return;
          list.replaceChildren(
            ...found.results.map((m) => h(
              "li", null,
              h("a", { href: url.movie(m.movieId) }, m.title, m.releaseYear ? " (" + m.releaseYear + ")" : ""),
            )),
          );
          if (!found.results.length) list.append(h("li", { class: "none" }, "No title matches."));
          list.hidden = false;
        } catch (err) {
          if (mine === seq) close();
        }
      }, SEARCH_DELAY_MS);
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown" && !list.hidden) {
        const first = list.querySelector("a");
        if (first) { event.preventDefault(); first.focus(); }
      } else if (event.key === "Escape") close();
    });
    list.addEventListener("keydown", (event) => {
      const links = [...list.querySelectorAll("a")];
      const at = links.indexOf(document.activeElement);
      if (event.key === "ArrowDown" && at < links.length - 1) { event.preventDefault(); links[at + 1].focus(); }
      else if (event.key === "ArrowUp") { event.preventDefault(); (at > 0 ? links[at - 1] : input).focus(); }
      else if (event.key === "Escape") { close(); input.focus(); }
    });
    form.addEventListener("focusout", (event) => {
      if (!form.contains(event.relatedTarget)) setTimeout(close, 150);
    });
  }

  function footer() {
    const target = document.getElementById("site-footer");
    if (!target) return;
    target.replaceChildren(
      h("p", null, "Sparrow RecSys in Python — a re-implementation of Wang Zhe's Sparrow RecSys. ",
        "Data: ", h("a", { href: "https://grouplens.org/datasets/movielens/" }, "MovieLens"), " (GroupLens)."),
      h("p", null, h("a", { href: "/docs" }, "API docs"), " · ", h("a", { href: "dashboard.html" }, "Dashboard")),
    );
  }

  function init() {
    header();
    footer();
  }

  window.Sparrow = {
    ApiError, api, getJSON, postJSON, h, param, positiveInt, url, stars, postersReady,
    titleCard, poster, genreLinks, why, movieCard, section, fill, fail, init,
  };
})();
