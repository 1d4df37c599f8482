/* llmtrail dashboard: asks for a key, then draws the project's analytics with Chart.js.
 * The key lives in sessionStorage (this tab only) and is sent as a Bearer token to the
 * analytics API of this same server. Nothing is loaded from anywhere else. */
(function () {
  "use strict";

  var body = document.body;
  var project = body.dataset.project;
  var base = body.dataset.base || "";
  var STORAGE = "llmtrail.dashboard.key." + project;
  var WINDOWS = [7, 30, 90];
  var COLORS = ["#4f46e5", "#0d9488", "#f59e0b", "#e11d48", "#0284c7", "#7c3aed",
    "#16a34a", "#ea580c", "#db2777", "#475569", "#65a30d", "#0891b2"];
  var MAX_MODEL_BARS = 10;

  var $ = function (id) { return document.getElementById(id); };
  var state = { days: initialDays(), tz: browserZone(), charts: {}, data: null, loading: false };

  // Exposed for tests and for the curious: the charts and the last analytics payload.
  window.llmtrailDashboard = state;

  function initialDays() {
    var n = parseInt(new URLSearchParams(location.search).get("days") || "30", 10);
    return n >= 1 && n <= 3660 ? n : 30;
  }

  function browserZone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) { return "UTC"; }
  }

  function getKey() {
    try { return sessionStorage.getItem(STORAGE); } catch (e) { return null; }
  }

  function setKey(key) {
    try {
      if (key) sessionStorage.setItem(STORAGE, key); else sessionStorage.removeItem(STORAGE);
    } catch (e) { /* storage disabled: the key lives only in this page */ }
  }

  // -- formatting --------------------------------------------------------------------------
  var intFmt = new Intl.NumberFormat("en-US");
  var compactFmt = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });

  function usd(v) {
    v = Number(v) || 0;
    if (v === 0) return "$0";
    var abs = Math.abs(v);
    var digits = abs >= 100 ? 2 : abs >= 1 ? 2 : abs >= 0.01 ? 4 : 6;
    if (abs < 0.000001) return "$" + v.toPrecision(3);
    return "$" + v.toLocaleString("en-US", { minimumFractionDigits: Math.min(2, digits), maximumFractionDigits: digits });
  }

  function usdAxis(v) {
    v = Number(v) || 0;
    if (v === 0) return "$0";
    var abs = Math.abs(v);
    if (abs >= 1000) return "$" + compactFmt.format(v);
    if (abs >= 1) return "$" + v.toLocaleString("en-US", { maximumFractionDigits: 2 });
    return "$" + v.toPrecision(2).replace(/0+$/, "").replace(/\.$/, "");
  }

  function dayLabel(iso, withYear) {
    var d = new Date(iso + "T00:00:00Z");
    var opts = { month: "short", day: "numeric", timeZone: "UTC" };
    if (withYear) opts.year = "numeric";
    return d.toLocaleDateString("en-US", opts);
  }

  function longDay(iso) {
    var d = new Date(iso + "T00:00:00Z");
    return d.toLocaleDateString("en-US", { weekday: "short", year: "numeric", month: "short", day: "numeric", timeZone: "UTC" });
  }

  function timeLabel(iso) {
    var d = new Date(iso);
    try {
      return d.toLocaleString("en-US", { timeZone: state.tz, month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
    } catch (e) { return iso; }
  }

  function shorten(s, n) { return s.length > n ? s.slice(0, n - 1) + "…" : s; }

  // -- the API -----------------------------------------------------------------------------
  function fetchAnalytics(key, tz) {
    var url = base + "/api/projects/" + encodeURIComponent(project) + "/assessment/analytics?days=" +
      state.days + "&tz=" + encodeURIComponent(tz);
    return fetch(url, { headers: { Authorization: "Bearer " + key, Accept: "application/json" }, cache: "no-store" })
      .then(function (res) {
        return res.json().catch(function () { return {}; }).then(function (payload) {
          if (res.ok) return payload.analytics;
          if (res.status === 422 && tz !== "UTC" && payload && JSON.stringify(payload.errors || "").indexOf('"tz"') >= 0) {
            state.tz = "UTC";  // this browser's zone is unknown to the server
            return fetchAnalytics(key, "UTC");
          }
          var err = new Error((payload && (payload.detail || payload.title)) || ("HTTP " + res.status));
          err.status = res.status;
          throw err;
        });
      });
  }

  function load(key, fromLogin) {
    if (state.loading) return Promise.resolve();
    state.loading = true;
    body.dataset.state = "loading";
    $("open").disabled = true;
    return fetchAnalytics(key, state.tz).then(function (analytics) {
      setKey(key);
      state.data = analytics;
      showBoard();
      render(analytics);
      body.dataset.state = "ready";
    }).catch(function (err) {
      if (err.status === 401 || err.status === 403) {
        setKey(null);
        showLogin(err.status === 403 ? "This key does not reach project “" + project + "”." : "Unknown or revoked key.");
      } else if (err.status === 404) {
        showLogin("There is no project “" + project + "” on this server.");
        setKey(null);
      } else if (fromLogin) {
        showLogin("Could not load analytics: " + err.message);
      } else {
        var banner = $("board-error");
        banner.textContent = "Could not load analytics: " + err.message;
        banner.hidden = false;
        body.dataset.state = "error";
      }
    }).then(function () {
      state.loading = false;
      $("open").disabled = false;
    });
  }

  function showLogin(message) {
    destroyCharts();
    state.data = null;
    $("board").hidden = true;
    $("controls").hidden = true;
    $("board-error").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    body.dataset.state = "locked";
    $("key").value = "";
    $("key").focus();
  }

  function showBoard() {
    $("login").hidden = true;
    $("board").hidden = false;
    $("controls").hidden = false;
    $("board-error").hidden = true;
    $("tz-label").textContent = state.tz;
    var buttons = document.querySelectorAll(".segmented button");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].setAttribute("aria-pressed", String(Number(buttons[i].dataset.days) === state.days));
    }
  }

  // -- rendering ---------------------------------------------------------------------------
  function destroyCharts() {
    Object.keys(state.charts).forEach(function (k) { state.charts[k].destroy(); });
    state.charts = {};
  }

  function baseOptions(yFormat, days) {
    var many = days.length > 45;
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: { duration: 250 },
      interaction: { mode: "index", intersect: false },
      plugins: {
        legend: { display: false },
        tooltip: {
          backgroundColor: "#1b1f2a",
          padding: 10,
          callbacks: {
            title: function (items) { return items.length ? longDay(days[items[0].dataIndex].date) : ""; }
          }
        }
      },
      scales: {
        x: {
          grid: { display: false },
          ticks: {
            color: "#687087",
            autoSkip: true,
            maxRotation: 0,
            autoSkipPadding: 14,
            maxTicksLimit: many ? 10 : 16,
            callback: function (value, index) {
              var iso = days[index] && days[index].date;
              return iso ? dayLabel(iso, many && days.length > 200) : "";
            }
          }
        },
        y: {
          beginAtZero: true,
          border: { display: false },
          grid: { color: "#eef0f5" },
          ticks: { color: "#687087", maxTicksLimit: 6, callback: yFormat }
        }
      }
    };
  }

  function render(a) {
    destroyCharts();
    var days = a.costByDay;
    var from = days.length ? days[0].date : "", to = days.length ? days[days.length - 1].date : "";
    $("window-label").textContent = days.length + " days · " + longDay(from) + " – " + longDay(to) +
      " (" + state.tz + ")";
    $("kpi-cost").textContent = usd(a.totalCost);
    $("kpi-cost").title = String(a.totalCost) + " USD";
    $("kpi-messages").textContent = intFmt.format(a.messageCount);
    $("kpi-tokens").textContent = a.totalTokens >= 1e6 ? compactFmt.format(a.totalTokens) : intFmt.format(a.totalTokens);
    $("kpi-tokens").title = intFmt.format(a.totalTokens) + " tokens";
    $("kpi-avg").textContent = usd(a.averageCost);
    var active = days.filter(function (d) { return d.messages > 0; }).length;
    $("kpi-messages-hint").textContent = active + " of " + days.length + " days active";
    $("kpi-tokens-hint").textContent = a.messageCount ? intFmt.format(Math.round(a.totalTokens / a.messageCount)) + " per message" : "–";

    var peakCost = days.reduce(function (m, d) { return d.cost > m.cost ? d : m; }, { cost: 0 });
    $("cost-peak").textContent = peakCost.date ? "peak " + usd(peakCost.cost) + " on " + dayLabel(peakCost.date, true) : "no cost in this window";
    var peakTok = days.reduce(function (m, d) { return d.tokens > m.tokens ? d : m; }, { tokens: 0 });
    $("tokens-peak").textContent = peakTok.date ? "peak " + intFmt.format(peakTok.tokens) + " on " + dayLabel(peakTok.date, true) : "";

    var labels = days.map(function (d) { return d.date; });
    var thin = days.length > 120;

    var costOpts = baseOptions(usdAxis, days);
    costOpts.plugins.tooltip.callbacks.label = function (item) {
      var d = days[item.dataIndex];
      return [" Cost " + usd(d.cost), " " + intFmt.format(d.messages) + " messages"];
    };
    state.charts.cost = new Chart($("cost-chart"), {
      type: "bar",
      data: {
        labels: labels,
        datasets: [{
          label: "Cost (USD)",
          data: days.map(function (d) { return d.cost; }),
          backgroundColor: "rgba(79, 70, 229, .85)",
          hoverBackgroundColor: "#4338ca",
          borderRadius: thin ? 0 : 4,
          categoryPercentage: thin ? 1 : .8,
          barPercentage: thin ? 1 : .85,
          maxBarThickness: 36
        }]
      },
      options: costOpts
    });

    var tokOpts = baseOptions(function (v) { return compactFmt.format(v); }, days);
    tokOpts.plugins.tooltip.callbacks.label = function (item) {
      return " " + intFmt.format(days[item.dataIndex].tokens) + " tokens";
    };
    state.charts.tokens = new Chart($("tokens-chart"), {
      type: "line",
      data: {
        labels: labels,
        datasets: [{
          label: "Tokens",
          data: days.map(function (d) { return d.tokens; }),
          borderColor: "#0d9488",
          backgroundColor: "rgba(13, 148, 136, .12)",
          fill: true,
          tension: .3,
          borderWidth: 2,
          pointRadius: days.length > 40 ? 0 : 2.5,
          pointHoverRadius: 4
        }]
      },
      options: tokOpts
    });

    renderModels(a);
    renderRecent(a.recentTrails);
    renderBudget(a.budget);
    loadGroups();
  }

  // -- cost by any dimension (groupBy) -----------------------------------------------------
  function groupBy() {
    var sel = $("group-by").value;
    return sel === "metadata" ? "metadata." + $("group-key").value.trim() : sel;
  }

  function loadGroups() {
    var key = getKey();
    var by = groupBy();
    $("group-error").textContent = "";
    if (!key || by === "metadata.") return Promise.resolve();
    var url = base + "/api/projects/" + encodeURIComponent(project) + "/assessment/analytics?days=" +
      state.days + "&tz=" + encodeURIComponent(state.tz) + "&groupBy=" + encodeURIComponent(by);
    state.groupsLoading = true;
    return fetch(url, { headers: { Authorization: "Bearer " + key, Accept: "application/json" }, cache: "no-store" })
      .then(function (res) {
        return res.json().catch(function () { return {}; }).then(function (payload) {
          if (!res.ok) throw new Error((payload && (payload.detail || payload.title)) || ("HTTP " + res.status));
          state.groups = payload.analytics.costByGroup || [];
          renderGroups(state.groups, Number(payload.analytics.totalCost) || 0);
        });
      })
      .catch(function (err) { $("group-error").textContent = "Could not group: " + err.message; })
      .then(function () { state.groupsLoading = false; });
  }

  function renderGroups(groups, total) {
    var tbody = $("group-table").tBodies[0];
    tbody.textContent = "";
    if (!groups.length) {
      tbody.appendChild(emptyRow(5, "No messages in this window"));
      return;
    }
    groups.forEach(function (g) {
      var tr = document.createElement("tr");
      tr.appendChild(cell(g.group === null ? "(none)" : String(g.group), g.group === null ? "muted" : "mono"));
      tr.appendChild(cell(intFmt.format(g.messages), "num"));
      tr.appendChild(cell(intFmt.format(g.tokens), "num"));
      var c = cell(usd(g.cost), "num");
      c.title = String(g.cost) + " USD";
      tr.appendChild(c);
      var share = total > 0 ? (Number(g.cost) / total) * 100 : 0;
      var td = cell("", "share");
      var bar = document.createElement("span");
      bar.className = "share-bar";
      bar.style.width = Math.max(share * 0.6, 0.5).toFixed(1) + "%";
      td.appendChild(bar);
      td.appendChild(document.createTextNode(" " + share.toFixed(1) + "%"));
      tr.appendChild(td);
      tbody.appendChild(tr);
    });
  }

  function renderBudget(b) {
    var card = $("budget-card");
    if (!b) { card.hidden = true; return; }
    var amount = Number(b.amount) || 0;
    var spent = Number(b.spent) || 0;
    var pct = amount > 0 ? (spent / amount) * 100 : 0;
    card.hidden = false;
    $("budget-period").textContent = (b.period === "day" ? "today" : "this month") + " (UTC)";
    $("budget-fill").style.width = Math.min(pct, 100).toFixed(1) + "%";
    var bar = $("budget-bar");
    bar.setAttribute("aria-valuenow", String(Math.round(Math.min(pct, 100))));
    bar.classList.toggle("warn", pct >= 80 && !b.exceeded);
    bar.classList.toggle("over", !!b.exceeded);
    $("budget-text").textContent = usd(b.spent) + " of " + usd(b.amount) + " spent (" +
      pct.toFixed(0) + "%)" + (b.exceeded ? ": budget exceeded" : ", " + usd(b.remaining) + " left");
  }

  function renderModels(a) {
    var models = a.costByModel.slice();
    var shown = models.slice(0, MAX_MODEL_BARS);
    if (models.length > MAX_MODEL_BARS) {
      var rest = models.slice(MAX_MODEL_BARS);
      shown.push({
        model: "other (" + rest.length + " models)",
        cost: rest.reduce(function (s, m) { return s + m.cost; }, 0),
        tokens: rest.reduce(function (s, m) { return s + m.tokens; }, 0),
        messages: rest.reduce(function (s, m) { return s + m.messages; }, 0)
      });
    }
    $("model-count").textContent = models.length === 1 ? "1 model" : models.length + " models";
    var box = $("model-chart-box");
    box.hidden = !models.length;
    $("model-empty").hidden = models.length > 0;
    box.style.height = Math.max(240, 44 + shown.length * 30) + "px";
    state.charts.models = new Chart($("model-chart"), {
      type: "bar",
      data: {
        labels: shown.map(function (m) { return m.model; }),
        datasets: [{
          label: "Cost (USD)",
          data: shown.map(function (m) { return m.cost; }),
          backgroundColor: shown.map(function (_, i) { return COLORS[i % COLORS.length]; }),
          borderRadius: 4,
          maxBarThickness: 22
        }]
      },
      options: {
        indexAxis: "y",
        responsive: true,
        maintainAspectRatio: false,
        animation: { duration: 250 },
        plugins: {
          legend: { display: false },
          tooltip: {
            backgroundColor: "#1b1f2a",
            padding: 10,
            callbacks: {
              title: function (items) { return items.length ? shown[items[0].dataIndex].model : ""; },
              label: function (item) {
                var m = shown[item.dataIndex];
                return [" Cost " + usd(m.cost), " " + intFmt.format(m.messages) + " messages", " " + intFmt.format(m.tokens) + " tokens"];
              }
            }
          }
        },
        scales: {
          x: { beginAtZero: true, border: { display: false }, grid: { color: "#eef0f5" }, ticks: { color: "#687087", maxTicksLimit: 5, callback: usdAxis } },
          y: {
            grid: { display: false },
            ticks: {
              color: "#2b3142",
              autoSkip: false,
              font: { family: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace", size: 11 },
              callback: function (value, index) { return shorten(shown[index].model, 26); }
            }
          }
        }
      }
    });

    var tbody = $("models-table").tBodies[0];
    tbody.textContent = "";
    if (!models.length) {
      tbody.appendChild(emptyRow(5, "No messages in this window"));
      return;
    }
    var total = Number(a.totalCost) || 0;
    models.forEach(function (m, i) {
      var tr = document.createElement("tr");
      var name = document.createElement("td");
      name.className = "mono";
      name.title = m.model;
      var sw = document.createElement("span");
      sw.className = "swatch";
      sw.style.background = i < MAX_MODEL_BARS ? COLORS[i % COLORS.length] : COLORS[MAX_MODEL_BARS % COLORS.length];
      name.appendChild(sw);
      var byModel = document.createElement("a");
      byModel.href = base + "/projects/" + encodeURIComponent(project) + "/trails?model=" + encodeURIComponent(m.model);
      byModel.textContent = m.model;
      name.appendChild(byModel);
      tr.appendChild(name);
      tr.appendChild(cell(intFmt.format(m.messages), "num"));
      tr.appendChild(cell(intFmt.format(m.tokens), "num"));
      var c = cell(usd(m.cost), "num");
      c.title = String(m.cost) + " USD";
      tr.appendChild(c);
      var share = total > 0 ? (m.cost / total) * 100 : 0;
      var td = document.createElement("td");
      var bar = document.createElement("div");
      bar.className = "bar";
      var track = document.createElement("span");
      track.className = "track";
      var fill = document.createElement("span");
      fill.className = "fill";
      fill.style.width = Math.max(0, Math.min(100, share)).toFixed(1) + "%";
      fill.style.background = sw.style.background;
      track.appendChild(fill);
      var pct = document.createElement("span");
      pct.className = "pct";
      pct.textContent = share >= 10 ? share.toFixed(0) + "%" : share.toFixed(1) + "%";
      bar.appendChild(track);
      bar.appendChild(pct);
      td.appendChild(bar);
      tr.appendChild(td);
      tbody.appendChild(tr);
    });
  }

  function renderRecent(trails) {
    var tbody = $("recent-table").tBodies[0];
    tbody.textContent = "";
    if (!trails.length) {
      tbody.appendChild(emptyRow(6, "No trails in this window"));
      return;
    }
    trails.forEach(function (t) {
      var tr = document.createElement("tr");
      var when = cell(timeLabel(t.timestamp));
      when.title = t.timestamp;
      tr.appendChild(when);
      var mid = cell("", "mono");
      var link = document.createElement("a");
      link.href = base + "/projects/" + encodeURIComponent(project) + "/trails/" + encodeURIComponent(t.messageId);
      link.textContent = t.messageId;
      mid.title = t.messageId;
      mid.appendChild(link);
      tr.appendChild(mid);
      var model = cell(t.model, "mono");
      model.title = t.model;
      tr.appendChild(model);
      tr.appendChild(cell(intFmt.format(t.tokens.total), "num"));
      var cost = cell(usd(t.cost.total), "num");
      cost.title = String(t.cost.total) + " USD";
      tr.appendChild(cost);
      var st = document.createElement("td");
      var badge = document.createElement("span");
      badge.className = "status " + (["completed", "pending", "failed"].indexOf(t.status) >= 0 ? t.status : "");
      badge.textContent = t.status;
      st.appendChild(badge);
      tr.appendChild(st);
      tbody.appendChild(tr);
    });
  }

  function cell(text, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    return td;
  }

  function emptyRow(span, text) {
    var tr = document.createElement("tr");
    var td = cell(text, "empty");
    td.colSpan = span;
    tr.appendChild(td);
    return tr;
  }

  // -- wiring ------------------------------------------------------------------------------
  $("login-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var key = $("key").value.trim();
    if (!key) return;
    $("login-error").textContent = "";
    load(key, true);
  });

  var buttons = document.querySelectorAll(".segmented button");
  for (var i = 0; i < buttons.length; i++) {
    buttons[i].addEventListener("click", function (ev) {
      var n = Number(ev.currentTarget.dataset.days);
      if (n === state.days || WINDOWS.indexOf(n) < 0) return;
      state.days = n;
      var url = new URL(location.href);
      url.searchParams.set("days", String(n));
      history.replaceState(null, "", url.toString());
      var key = getKey();
      if (key) load(key, false); else showLogin();
    });
  }

  $("group-by").addEventListener("change", function () {
    $("group-key").hidden = $("group-by").value !== "metadata";
    if ($("group-by").value !== "metadata") loadGroups(); else $("group-key").focus();
  });
  $("group-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    loadGroups();
  });

  $("refresh").addEventListener("click", function () {
    var key = getKey();
    if (key) load(key, false); else showLogin();
  });

  $("forget").addEventListener("click", function () {
    setKey(null);
    showLogin("Key removed from this tab.");
  });

  var saved = getKey();
  if (saved) load(saved, true); else showLogin();
})();
