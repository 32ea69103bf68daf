/* common.js -- what every cityd page shares: JSON requests to the API,
 * bilingual labels, number and time formatting, colours by status.
 * Plain browser JavaScript (no build step); everything hangs off one
 * global, `cityd`. */
"use strict";

var cityd = (function () {
  /* GET (or another method) a JSON document; rejects with an Error whose
   * message is the API's error text and whose .status is the HTTP status. */
  function api(path, opts) {
    opts = opts || {};
    var init = { method: opts.method || "GET", headers: { Accept: "application/json" } };
    if (opts.key) init.headers.Authorization = "Bearer " + opts.key;
    if (opts.body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(opts.body);
    }
    return fetch(path, init).then(function (res) {
      return res.text().then(function (text) {
        var body = null, t0 = performance.now();
        try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
        if (opts.onParse) opts.onParse(performance.now() - t0, text.length);
        if (!res.ok) {
          var msg = body && body.error ? body.error.code + ": " + body.error.message
                                       : "HTTP " + res.status;
          var err = new Error(msg);
          err.status = res.status;
          err.body = body;
          throw err;
        }
        return body;
      });
    });
  }

  /* Repeat fn (which returns a promise) every ms, never overlapping:
   * the next run starts ms after the previous one ended. */
  function every(ms, fn) {
    var stopped = false;
    function run() {
      if (stopped) return;
      Promise.resolve().then(fn).catch(function (e) { status(e); }).then(function () {
        if (!stopped) setTimeout(run, ms);
      });
    }
    run();
    return function () { stopped = true; };
  }

  /* The connection line in the page header: the latest failure, or ok. */
  var lastError = null;
  function status(err) {
    var el = document.getElementById("conn");
    if (!el) return;
    if (err) {
      lastError = err;
      el.className = "conn bad";
      el.textContent = "连接异常 Connection problem: " + err.message;
    } else {
      el.className = "conn ok";
      el.textContent = "实时 Live";
    }
  }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, attrs[k]);
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  /* "中文 English" label as two spans (styled apart). */
  function label(zh, en) {
    var s = el("span", { class: "bi" });
    s.appendChild(el("span", { class: "zh", lang: "zh-CN" }, zh));
    s.appendChild(document.createTextNode(" "));
    s.appendChild(el("span", { class: "en", lang: "en" }, en));
    return s;
  }

  function pct(x) {
    return x === null || x === undefined || isNaN(x) ? "—" : (x * 100).toFixed(1) + " %";
  }

  function int(x) {
    return x === null || x === undefined ? "—" : Number(x).toLocaleString("en-US");
  }

  /* Times are shown in the city's time zone (parking.timezone, from
   * /web/config.json), not the browser's: a sign in Yantai shows Yantai
   * time whatever its computer is set to. */
  var fmt = null, fmtFull = null;
  function setTimeZone(tz) {
    try {
      fmt = new Intl.DateTimeFormat("en-GB", { timeZone: tz, hour: "2-digit", minute: "2-digit",
                                               second: "2-digit", hour12: false });
      fmtFull = new Intl.DateTimeFormat("zh-CN", { timeZone: tz, year: "numeric", month: "2-digit",
        day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
    } catch (e) {
      fmt = fmtFull = null;      /* an unknown zone: the browser's own */
    }
  }

  function hhmmss(epoch) {
    var d = new Date(epoch * 1000);
    if (fmt) return fmt.format(d);
    return [d.getHours(), d.getMinutes(), d.getSeconds()].map(function (x) {
      return String(x).padStart(2, "0");
    }).join(":");
  }

  function hhmm(epoch) {
    return hhmmss(epoch).slice(0, 5);
  }

  function dateTime(epoch) {
    var d = new Date(epoch * 1000);
    return fmtFull ? fmtFull.format(d) : d.toLocaleString("zh-CN", { hour12: false });
  }

  /* /web/config.json, once: the settings every page needs. */
  var configP = null;
  function config() {
    if (!configP) {
      configP = api("/web/config.json").then(function (c) {
        if (c && c.timezone) setTimeZone(c.timezone);
        return c || {};
      });
    }
    return configP;
  }

  /* Lots by availability (api.md §2 status). */
  var LOT_COLOURS = {
    spacesAvailable: "#1a9641", almostFull: "#fdae61", full: "#d7191c",
    closed: "#4d4d4d", open: "#66bd63", unknown: "#9e9e9e"
  };
  var LOT_LABELS = {
    spacesAvailable: ["有空位", "spaces"], almostFull: ["将满", "almost full"],
    full: ["已满", "full"], closed: ["关闭", "closed"], open: ["开放", "open"],
    unknown: ["未知", "unknown"]
  };

  /* Buses by schedule deviation (s, positive = late). */
  function busColour(v) {
    if (v.status === "stale") return "#9e9e9e";
    var d = v.schedule_deviation_s;
    if (d === null || d === undefined) return "#7b3294";       /* no schedule to compare */
    if (d < -60) return "#2c7bb6";                               /* early */
    if (d <= 180) return "#1a9641";                              /* on time */
    if (d <= 300) return "#fdae61";                              /* late */
    return "#d7191c";                                            /* very late */
  }
  function busClass(v) {
    if (v.status === "stale") return "stale";
    var d = v.schedule_deviation_s;
    if (d === null || d === undefined) return "unscheduled";
    if (d < -60) return "early";
    if (d <= 180) return "on_time";
    if (d <= 300) return "late";
    return "very_late";
  }

  /* J2735 event states -> the colour a driver sees. */
  function signalColour(state) {
    if (!state) return "unknown";
    if (/movement-allowed/.test(state)) return "green";
    if (/clearance/.test(state)) return "yellow";
    if (/stop/.test(state)) return "red";
    return "unknown";
  }

  function query(name) {
    return new URLSearchParams(window.location.search).get(name);
  }

  /* The last path segment, decoded (/stop/{id}, /corridor/{id}). */
  function pathId() {
    var parts = window.location.pathname.split("/");
    return decodeURIComponent(parts[parts.length - 1] || "");
  }

  return {
    api: api, every: every, status: status, el: el, label: label, pct: pct, int: int,
    hhmm: hhmm, hhmmss: hhmmss, dateTime: dateTime, config: config, LOT_COLOURS: LOT_COLOURS, LOT_LABELS: LOT_LABELS,
    busColour: busColour, busClass: busClass, signalColour: signalColour, query: query,
    pathId: pathId, lastError: function () { return lastError; }
  };
})();
