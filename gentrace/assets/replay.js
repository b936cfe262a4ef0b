
"use strict";
(function () {
  var root = document.documentElement;
  window.addEventListener("error", function () { root.setAttribute("data-error", "1"); });
  var SVG = "http://www.w3.org/2000/svg";
  var data = JSON.parse(document.getElementById("trace-data").textContent);
  var gens = data.gens, steps = data.steps, n = steps.length;
  var closed = new Set(data.closed), runningStates = new Set(data.running), active = new Set(data.active);
  var iterators = new Set(data.iterators);
  function $(id) { return document.getElementById(id); }
  function el(tag, cls) { var e = document.createElement(tag); if (cls) e.className = cls; return e; }
  document.title = data.title + " · gentrace replay";
  $("title").textContent = data.title;
  if (iterators.size) root.classList.add("iterators");
  if (n === 0) {
    $("empty").textContent = "No events to show.";
    root.classList.add("empty");
    root.setAttribute("data-ready", "1");
    return;
  }

  // Per instance: the steps that changed its card, and what the card said from then on:
  // [instance, state, line, sent, yielded, ended, parent], and true after them if a loop left it.
  var when = gens.map(function () { return []; }), what = gens.map(function () { return []; });
  steps.forEach(function (step, k) {
    step[3].forEach(function (u) { when[u[0]].push(k); what[u[0]].push(u); });
  });
  function latest(g, i) {
    var list = when[g], lo = 0, hi = list.length - 1, found = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (list[mid] <= i) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found;
  }

  var slider = $("step"), position = $("position"), transcript = $("transcript");
  var cardsBox = $("cards"), arrows = $("arrows"), lanesBox = $("lanes"), cursor = $("cursor");
  slider.max = String(n - 1);
  var current = 0, cardEls = [];

  function showTranscript(i) {
    var first = Math.max(0, i - data.window + 1), parts = [];
    if (first > 0) {
      var more = el("div", "more");
      more.textContent = "… " + first + " earlier events: step back to see them";
      parts.push(more);
    }
    for (var k = first; k <= i; k++) {
      var div = el("div", k === i ? "step current" : "step");
      div.setAttribute("data-step", String(k));
      div.textContent = steps[k][2].join("\n");
      parts.push(div);
    }
    transcript.replaceChildren.apply(transcript, parts);
    transcript.scrollTop = transcript.scrollHeight;
  }

  function card(g) {
    var c = cardEls[g];
    if (c) return c;
    c = { root: el("div", "card") };
    c.root.setAttribute("data-gen", gens[g]);
    ["name", "state", "line", "sent", "yielded", "ended", "arrows"].forEach(function (part) {
      c[part] = el("div", part);
      c.root.appendChild(c[part]);
    });
    c.name.textContent = gens[g];
    cardEls[g] = c;
    return c;
  }

  function showCards(i) {
    var live = [], shown = new Set();
    for (var g = 0; g < gens.length; g++) {
      var j = latest(g, i);
      if (j < 0) continue;
      var u = what[g][j];
      if ((closed.has(u[1]) || u[7]) && when[g][j] !== i) continue;  // shown where it closed, or was left
      live.push(u);
      shown.add(g);
    }
    var els = [], links = [];
    live.forEach(function (u) {
      var c = card(u[0]);
      var kind = closed.has(u[1]) ? " closed" : runningStates.has(u[1]) ? " running" :
        active.has(u[1]) ? " active" : " suspended";
      c.root.className = "card" + kind + (u[0] === steps[i][0] ? " current" : "");
      c.state.textContent = u[1];
      c.line.textContent = u[2];
      c.sent.textContent = u[3];
      c.yielded.textContent = u[4];
      c.ended.textContent = u[5];
      c.arrows.replaceChildren();
      if (u[6] >= 0 && shown.has(u[6])) links.push([u[6], u[0]]);
      els.push(c.root);
    });
    links.forEach(function (link) {
      var a = el("div", "arrow");
      a.setAttribute("data-to", gens[link[1]]);
      a.textContent = (iterators.has(link[1]) ? "iterates " : "delegates to ") + gens[link[1]];
      card(link[0]).arrows.appendChild(a);
    });
    cardsBox.replaceChildren.apply(cardsBox, els);
    drawArrows(links);
  }

  function drawArrows(links) {
    arrows.replaceChildren();
    arrows.setAttribute("width", String(cardsBox.offsetWidth));
    arrows.setAttribute("height", String(cardsBox.offsetHeight));
    links.forEach(function (link) {
      var from = card(link[0]).root, to = card(link[1]).root;
      var x = from.offsetLeft + from.offsetWidth;
      var y1 = from.offsetTop + from.offsetHeight / 2, y2 = to.offsetTop + Math.min(to.offsetHeight / 2, 18);
      var bend = 40;
      var path = document.createElementNS(SVG, "path");
      path.setAttribute("d", "M" + x + " " + y1 + " C" + (x + bend) + " " + y1 + " " + (x + bend) + " " + y2 +
        " " + (x + 7) + " " + y2);
      arrows.appendChild(path);
      var head = document.createElementNS(SVG, "path");
      head.setAttribute("class", "head");
      head.setAttribute("d", "M" + x + " " + y2 + " l8 -4.5 v9 z");
      arrows.appendChild(head);
    });
  }

  // The timeline: by time (each instance's spans, from the trace's start) or, with #by-step, by
  // event index (a cell per event). Kinds: created, running, suspended, ended, awaiting; an
  // iterator's active span, and its marks: iter(), a loop left it, exhausted. A kind this script
  // does not know is drawn as a span between operations, in grey.
  var laneEls = [], byStep = $("by-step"), axis = $("axis");
  var COLORS = ["#c9d3e0", "#2f6fda", "#8fa3bf", "#b42318", "#9b6bd3", "#6fbf9f", "#1a7f37", "#dc6803", "#7a271a"];
  var RUNNING = 1, ENDED = 3, ITER = 6, LEFT = 7, EXHAUSTED = 8, UNKNOWN = "#98a2b3";
  var MARKS = new Set([ENDED, ITER, LEFT, EXHAUSTED]);
  function layer(kind) { return kind === RUNNING ? 1 : MARKS.has(kind) ? 2 : 0; }
  var span = Math.max(data.span, 1);
  var starts = [];  // each event's start, never decreasing (threads may record them a little out of order)
  steps.forEach(function (step, k) { starts.push(k ? Math.max(starts[k - 1], step[4]) : step[4]); });
  function atTime(t) {  // the last event started by time t
    var lo = 0, hi = n - 1, found = 0;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (starts[mid] <= t) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found;
  }
  data.time_lanes.forEach(function (segments, g) {
    var lane = el("div", "lane"), label = el("div", "label"), canvas = el("canvas");
    lane.setAttribute("data-gen", gens[g]);
    label.textContent = gens[g];
    label.title = gens[g];
    lane.appendChild(label);
    lane.appendChild(canvas);
    canvas.addEventListener("click", function (e) {
      var at = e.offsetX / Math.max(canvas.clientWidth, 1);
      show(byStep.checked ? Math.floor(at * n) : atTime(at * span));
    });
    lanesBox.appendChild(lane);
    laneEls.push({ lane: lane, canvas: canvas, time: segments, step: data.step_lanes[g] });
  });
  if (gens.length > data.time_lanes.length) {
    $("more-lanes").textContent = (gens.length - data.time_lanes.length) + " more instances have no lane";
  }

  function drawLanes() {
    var ratio = window.devicePixelRatio || 1, stepped = byStep.checked;
    lanesBox.setAttribute("data-axis", stepped ? "step" : "time");
    axis.querySelector(".from").textContent = stepped ? "event 1" : "0";
    axis.querySelector(".to").textContent = stepped ? "event " + n : data.span_label;
    laneEls.forEach(function (l) {
      var w = l.canvas.clientWidth, h = l.canvas.clientHeight;
      l.canvas.width = Math.max(1, Math.round(w * ratio));
      l.canvas.height = Math.max(1, Math.round(h * ratio));
      var ctx = l.canvas.getContext("2d");
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.clearRect(0, 0, w, h);
      var s = stepped ? l.step : l.time;
      // Between operations first, then the operations over them, then the marks: an iter() where
      // it starts, the others after their operation.
      [0, 1, 2].forEach(function (pass) {
        for (var j = 0; j < s.length; j += 3) {
          var kind = s[j + 2];
          if (layer(kind) !== pass) continue;
          var x, width;
          if (stepped) { x = s[j] * w / n; width = Math.max((s[j + 1] - s[j] + 1) * w / n, 1); }
          else { x = s[j] * w / span; width = Math.max((s[j + 1] - s[j]) * w / span, 1); }
          ctx.fillStyle = COLORS[kind] || UNKNOWN;
          if (kind === RUNNING) ctx.fillRect(x, 0, stepped && width > 4 ? width - 1 : width, h);
          else if (pass === 2 && kind === ITER) ctx.fillRect(Math.max(Math.min(x, w - 3), 0), 0, Math.min(width, 3), h);
          else if (pass === 2 && stepped) ctx.fillRect(x + Math.max(width - 3, 0), 0, Math.min(width, 3), h);
          else if (pass === 2) ctx.fillRect(Math.max(Math.min(x + 1, w - 3), 0), 0, 3, h);  // after its run
          else ctx.fillRect(x, h / 2 - 2, width, 4);
        }
      });
    });
  }

  var lanesScroll = $("lanes-scroll");
  function moveCursor(i) {
    laneEls.forEach(function (l, g) { l.lane.classList.toggle("current", g === steps[i][0]); });
    if (!laneEls.length) { cursor.hidden = true; return; }
    var mine = laneEls[steps[i][0]];
    if (mine) {  // keep the current instance's lane in sight
      var top = mine.lane.offsetTop, bottom = top + mine.lane.offsetHeight;
      if (top < lanesScroll.scrollTop) lanesScroll.scrollTop = top;
      else if (bottom > lanesScroll.scrollTop + lanesScroll.clientHeight) {
        lanesScroll.scrollTop = bottom - lanesScroll.clientHeight;
      }
    }
    var canvas = laneEls[0].canvas, w = canvas.clientWidth;
    var at = byStep.checked ? (i + 0.5) * w / n : steps[i][4] * w / span;
    cursor.style.left = (canvas.offsetLeft + at - 1) + "px";
  }

  function show(i) {
    i = Math.max(0, Math.min(n - 1, i));
    current = i;
    slider.value = String(i);
    position.textContent = "event " + (i + 1) + " / " + n + " · seq " + steps[i][1];
    showTranscript(i);
    showCards(i);
    moveCursor(i);
  }

  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    var to;
    if (e.key === "ArrowLeft") to = current - 1;
    else if (e.key === "ArrowRight") to = current + 1;
    else if (e.key === "Home") to = 0;
    else if (e.key === "End") to = n - 1;
    else return;
    e.preventDefault();
    show(to);
  });
  slider.addEventListener("input", function () { show(Number(slider.value)); });
  $("first").addEventListener("click", function () { show(0); });
  $("prev").addEventListener("click", function () { show(current - 1); });
  $("next").addEventListener("click", function () { show(current + 1); });
  $("last").addEventListener("click", function () { show(n - 1); });
  window.addEventListener("resize", function () { drawLanes(); show(current); });
  byStep.addEventListener("change", function () { drawLanes(); moveCursor(current); });

  drawLanes();
  show(0);
  root.setAttribute("data-ready", "1");
})();
