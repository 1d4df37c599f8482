/* llmtrail trail explorer (SPEC §12): the project's trails with filters kept in the URL,
 * cursor paging, and one trail shown whole. Same key handling as the dashboard (the key is
 * kept in this tab's sessionStorage, shared with the dashboard of the project); everything
 * user-supplied is written with textContent, never as HTML. */
(function () {
  "use strict";

  var body = document.body;
  var project = body.dataset.project;
  var base = body.dataset.base || "";
  var messageId = body.dataset.message || "";
  var STORAGE = "llmtrail.dashboard.key." + project;
  var FILTERS = ["since", "until", "model", "provider", "status", "messageIdPrefix", "metadata"];
  var PAGE = 50;
  var LONG = 600; // reasoning steps longer than this start collapsed
  var $ = function (id) { return document.getElementById(id); };
  var state = { cursors: [], next: null, items: [] };
  window.llmtrailExplorer = state;

  function getKey() { try { return sessionStorage.getItem(STORAGE); } catch (e) { return null; } }
  function setKey(k) {
    try { if (k) sessionStorage.setItem(STORAGE, k); else sessionStorage.removeItem(STORAGE); } catch (e) { /* */ }
  }
  function api(path, key) {
    return fetch(base + "/api/projects/" + encodeURIComponent(project) + path, {
      headers: { Authorization: "Bearer " + key, Accept: "application/json" }, cache: "no-store"
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (payload) {
        if (res.ok) return payload;
        var err = new Error((payload && (payload.detail || payload.title)) || ("HTTP " + res.status));
        err.status = res.status;
        throw err;
      });
    });
  }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function usd(v) { return v === undefined || v === null ? "–" : "$" + String(v); }
  function when(iso) { return iso ? iso.replace("T", " ").replace("Z", " UTC") : "–"; }
  function trailUrl(mid) {
    return base + "/projects/" + encodeURIComponent(project) + "/trails/" + encodeURIComponent(mid) + location.search;
  }

  // -- the list ----------------------------------------------------------------------------
  function filtersFromUrl() {
    var q = new URLSearchParams(location.search), form = $("filters");
    FILTERS.forEach(function (f) {
      var v = q.get(f) || "";
      if ((f === "since" || f === "until") && v) v = v.replace("Z", "").slice(0, 19);
      form.elements[f].value = v;
    });
  }
  function query() {
    var form = $("filters"), q = new URLSearchParams();
    FILTERS.forEach(function (f) {
      var v = form.elements[f].value.trim();
      if (!v) return;
      if (f === "since" || f === "until") v = new Date(v).toISOString();
      q.set(f, v);
    });
    return q;
  }
  function loadPage(key, cursor) {
    var q = query();
    q.set("limit", String(PAGE));
    if (cursor) q.set("cursor", cursor);
    body.dataset.state = "loading";
    return api("/audit-trails?" + q.toString(), key).then(function (page) {
      setKey(key);
      state.items = page.items;
      state.next = page.nextCursor;
      showOnly("list");
      renderList(page.items);
      body.dataset.state = "ready";
    });
  }
  function renderList(items) {
    var tbody = $("trails-table").tBodies[0];
    tbody.textContent = "";
    items.forEach(function (t) {
      var tr = el("tr");
      tr.appendChild(el("td", when(t.timestamp), "mono"));
      var cell = el("td"), a = el("a", t.messageId, "mono");
      a.href = trailUrl(t.messageId);
      cell.appendChild(a);
      tr.appendChild(cell);
      tr.appendChild(el("td", t.model));
      tr.appendChild(el("td", t.provider || "–"));
      tr.appendChild(el("td", t.status, "status " + t.status));
      tr.appendChild(el("td", (t.tokens && t.tokens.total) || 0, "num"));
      tr.appendChild(el("td", usd(t.cost && t.cost.total), "num"));
      tbody.appendChild(tr);
    });
    $("list-empty").hidden = items.length > 0;
    $("next").hidden = !state.next;
    $("first").hidden = state.cursors.length === 0;
  }

  // -- one trail ---------------------------------------------------------------------------
  function pairs(dl, rows) {
    dl.textContent = "";
    rows.forEach(function (r) {
      if (r[1] === undefined) return;
      dl.appendChild(el("dt", r[0]));
      dl.appendChild(el("dd", r[1] === null ? "–" : r[1], r[2]));
    });
  }
  function loadTrail(key) {
    body.dataset.state = "loading";
    return api("/audit-trails/" + encodeURIComponent(messageId), key).then(function (t) {
      setKey(key);
      showOnly("detail");
      renderTrail(t);
      body.dataset.state = "ready";
    });
  }
  function renderTrail(t) {
    $("detail-title").textContent = t.messageId;
    $("detail-status").textContent = t.status;
    pairs($("detail-fields"), [
      ["Model", t.model], ["Provider", t.provider], ["Timestamp", when(t.timestamp)],
      ["Context layers", t.contextLayers], ["Created", when(t.createdAt)],
      ["Updated", when(t.updatedAt)], ["Content redacted", t.contentRedactedAt ? when(t.contentRedactedAt) : null],
      ["Id", t.id, "mono"]
    ]);
    var tk = t.tokens || {};
    pairs($("detail-tokens"), [
      ["Prompt (incl. cache)", tk.prompt], ["Completion (incl. reasoning)", tk.completion],
      ["Total", tk.total], ["Cache read", tk.cacheRead], ["Cache write", tk.cacheWrite],
      ["Cache write, 1 h", tk.cacheWrite1h], ["Reasoning", tk.reasoning]
    ]);
    var c = t.cost || {};
    pairs($("detail-cost"), [
      ["Prompt", usd(c.prompt)], ["Completion", usd(c.completion)], ["Total", usd(c.total)],
      ["Source", t.costSource], ["Price version", t.priceVersion]
    ]);
    var md = t.metadata || {};
    var keys = Object.keys(md).sort();
    pairs($("detail-metadata"), keys.length ? keys.map(function (k) { return [k, JSON.stringify(md[k]), "mono"]; }) : [["–", null]]);
    var box = $("detail-reasoning");
    box.textContent = "";
    (t.reasoning || []).forEach(function (step, i) {
      var d = el("details", undefined, "step");
      d.open = step.length <= LONG;
      d.appendChild(el("summary", "Step " + (i + 1) + " · " + step.length + " characters"));
      d.appendChild(el("pre", step, "reasoning"));
      box.appendChild(d);
    });
    if (!t.reasoning || !t.reasoning.length) box.appendChild(el("p", "No reasoning recorded.", "muted"));
  }

  // -- shell -------------------------------------------------------------------------------
  function showOnly(which) {
    $("login").hidden = true;
    $("controls").hidden = false;
    $("list").hidden = which !== "list";
    $("detail").hidden = which !== "detail";
    $("board-error").hidden = true;
  }
  function showLogin(message) {
    $("login").hidden = false;
    $("list").hidden = true;
    $("detail").hidden = true;
    $("controls").hidden = true;
    $("login-error").textContent = message || "";
    body.dataset.state = "locked";
  }
  function failed(err) {
    if (err.status === 401 || err.status === 403) {
      setKey(null);
      showLogin(err.status === 403 ? "This key does not reach project “" + project + "”." : "Unknown or revoked key.");
    } else if (err.status === 404) {
      showLogin(messageId ? "There is no trail “" + messageId + "” in this project." : "There is no project “" + project + "”.");
    } else {
      var banner = $("board-error");
      banner.textContent = "Could not load trails: " + err.message;
      banner.hidden = false;
      body.dataset.state = "error";
    }
  }
  function start(key) {
    return (messageId ? loadTrail(key) : loadPage(key, null)).catch(failed);
  }

  document.addEventListener("DOMContentLoaded", function () {
    filtersFromUrl();
    $("login-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      start($("key").value.trim());
    });
    $("filters").addEventListener("submit", function (ev) {
      ev.preventDefault();
      state.cursors = [];
      var q = query();
      history.replaceState(null, "", location.pathname + (q.toString() ? "?" + q.toString() : ""));
      loadPage(getKey(), null).catch(failed);
    });
    $("clear").addEventListener("click", function () {
      FILTERS.forEach(function (f) { $("filters").elements[f].value = ""; });
      history.replaceState(null, "", location.pathname);
      state.cursors = [];
      loadPage(getKey(), null).catch(failed);
    });
    $("next").addEventListener("click", function () {
      state.cursors.push(state.next);
      loadPage(getKey(), state.next).catch(failed);
    });
    $("first").addEventListener("click", function () {
      state.cursors = [];
      loadPage(getKey(), null).catch(failed);
    });
    $("forget").addEventListener("click", function () { setKey(null); showLogin(""); });
    var key = getKey();
    if (key) start(key); else showLogin("");
  });
})();
