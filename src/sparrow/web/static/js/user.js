/* User page (user.html?id=): statistics and favourite genres from /getuser plus one batched
 * /api/movies call, the watched movies, and "recommended for you" from /getrecforyou with a
 * choice of model (/api/methods); each recommendation says why (channels, score, model). */
(async function () {
  "use strict";
  const S = window.Sparrow;
  const h = S.h;
  const ROW = 24; // watched movies shown before "show all"
  const BATCH = 1000; // most recent ratings whose movies are fetched (one /api/movies call)
  S.init();
  const status = document.getElementById("user-status");
  const detail = document.getElementById("user-detail");
  const userId = S.positiveInt(S.param("id"));
  if (userId === null) {
    S.fail(status, "give a user id, e.g. user.html?id=1", "No user");
    document.body.dataset.ready = "true";
    return;
  }
  const watched = S.section("Watched movies", null, "watched", false);
  const recs = S.section("Recommended for you", null, "recommended", false);
  const models = h("select", { id: "rec-model" }, h("option", { value: "" }, "default"));
  const note = h("p", { class: "muted", id: "rec-note" });
  recs.el.querySelector("h2").after(
    h("p", { class: "controls" }, h("label", { for: "rec-model" }, "Model: "), models), note,
  );

  await S.postersReady;
  let user;
  try {
    user = await S.getJSON("/getuser", { id: userId });
  } catch (err) {
    S.fail(status, err, "Could not load user " + userId);
    document.body.dataset.ready = "true";
    return;
  }
  status.hidden = true;
  document.title = "User " + userId + " – Sparrow RecSys";
  const ratings = user.ratings.map((r) => r.rating).sort((a, b) => b.timestamp - a.timestamp || b.movieId - a.movieId);
  const favourite = h("dd", { id: "favourite-genres" }, "…");
  detail.replaceChildren(
    h("div", { class: "avatar", "aria-hidden": "true" }, "U" + userId),
    h(
      "div", { class: "detail-info" },
      h("h1", null, "User " + userId),
      h("dl", { class: "facts", id: "user-stats" },
        h("dt", null, "Watched movies"), h("dd", { id: "stat-count" }, String(user.ratingCount)),
        h("dt", null, "Average rating"), h("dd", { id: "stat-average" }, user.averageRating.toFixed(2)),
        h("dt", null, "Highest rating"), h("dd", { id: "stat-highest" }, S.stars(user.highestRating)),
        h("dt", null, "Lowest rating"), h("dd", { id: "stat-lowest" }, S.stars(user.lowestRating)),
        h("dt", null, "Favourite genres"), favourite,
      ),
    ),
  );
  detail.after(watched.el, recs.el);

  const history = (async () => {
    const recent = ratings.slice(0, BATCH);
    if (!recent.length) { S.fill(watched, []); favourite.textContent = "none yet"; return; }
    try {
      const found = await S.getJSON("/api/movies", { ids: recent.map((r) => r.movieId).join(",") });
      const byId = new Map(found.movies.map((m) => [m.movieId, m]));
      const known = recent.filter((r) => byId.has(r.movieId));
      showFavourites(known, byId, recent.length < ratings.length);
      const own = new Map(known.map((r) => [r.movieId, r.score]));
      const show = (n) => S.fill(watched, known.slice(0, n).map((r) => byId.get(r.movieId)),
        (m) => ({ own: own.get(m.movieId) }));
      show(ROW);
      if (known.length > ROW) {
        const more = h("button", { type: "button", class: "more" }, "Show all " + known.length);
        more.addEventListener("click", () => { show(known.length); more.remove(); });
        watched.el.append(more);
      }
    } catch (err) {
      favourite.textContent = "unknown";
      S.fail(watched.status, err, "Could not load the watched movies");
    }
  })();

  function showFavourites(known, byId, partial) {
    // liked = rated at least 3.5 (the build's positive threshold); none liked: every rating
    const liked = known.filter((r) => r.score >= 3.5);
    const counts = new Map();
    for (const r of liked.length ? liked : known) {
      for (const g of byId.get(r.movieId).genres) counts.set(g, (counts.get(g) || 0) + 1);
    }
    const top = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 3);
    favourite.replaceChildren(
      ...top.flatMap(([g, n], i) => [i ? ", " : "", h("a", { href: S.url.genre(g) }, g), " (" + n + ")"]),
      top.length ? "" : "none yet",
      partial ? h("span", { class: "muted" }, " — from the latest " + known.length + " ratings") : "",
    );
    favourite.title = liked.length ? "genres of the movies rated 3.5 or more" : "genres of the movies rated";
  }

  async function loadRecs() {
    recs.status.hidden = false;
    recs.status.classList.remove("error");
    recs.status.textContent = "Loading…";
    try {
      const { body, headers } = await S.api("/getrecforyou", { id: userId, size: 32, model: models.value });
      S.fill(recs, body, { why: true, onopen: (m) => click(m.movieId) });
      const parts = [];
      const ranking = headers.get("X-Sparrow-Ranking");
      const experiments = headers.get("X-Sparrow-Experiments");
      if (experiments) parts.push("experiments: " + experiments);
      if (ranking) parts.push("ranking: " + ranking);
      note.textContent = parts.join(" · ");
    } catch (err) {
      recs.row.replaceChildren();
      S.fail(recs.status, err, "Could not load recommendations");
    }
  }

  function click(movieId) {
    // a click event for the nearline pipeline; keepalive: it survives the navigation
    fetch("/events", {
      method: "POST", keepalive: true, headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ type: "click", userId: userId, movieId: movieId }),
    }).catch(() => {});
  }

  models.addEventListener("change", loadRecs);
  try {
    const found = await S.getJSON("/api/methods");
    if (found.defaultModel) models.options[0].textContent = "default (" + found.defaultModel + " or the experiment's)";
    for (const m of found.models) {
      if (m.served !== false) models.append(h("option", { value: m.name }, m.name));
    }
    models.append(h("option", { value: "emb" }, "emb (embedding similarity)"));
  } catch (err) {
    models.append(h("option", { value: "emb" }, "emb"));
  }
  await Promise.all([loadRecs(), history]);
  document.body.dataset.ready = "true";
})();
