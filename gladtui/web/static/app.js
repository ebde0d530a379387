// The review page of `gladtui web`. Plain JavaScript, no build step, nothing fetched
// from another origin. The keys come from /keys.json (gladtui/keys.py, the TUI's own
// table); what a task allows comes from its `actions`, never decided here.
"use strict";

const state = {
  keys: null, filters: [], filter: 0, query: "", tasks: [], cursor: 0,
  full: null, selected: 1, status: null, lastId: null, decided: [],
  large: null, // {zoomed, pinned, x, y}
  events: null, reconnectDelay: 250, previews: {},
};
// What tests and bench/web.py watch: data-* attributes on <body> (a page under a strict
// CSP cannot be asked to evaluate a script, so the page writes its state where a
// selector can see it).
function mark(name, value) { document.body.dataset[name] = String(value); }

const $ = (id) => document.getElementById(id);

async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const answer = await fetch(path, init);
  const data = answer.headers.get("Content-Type")?.includes("json") ? await answer.json() : null;
  if (!answer.ok) throw new Error(data?.error?.message || `${answer.status}`);
  return data;
}

function notice(text) {
  $("notice").textContent = text;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => { $("notice").textContent = ""; }, 5000);
}

// -- the list -------------------------------------------------------------------------

function currentFilter() { return state.filters[state.filter]; }

async function loadCounts() {
  state.status = await api("GET", "/api/status");
  const counts = state.status.tasks;
  $("filters").replaceChildren(...state.filters.map((f, i) => {
    const button = document.createElement("button");
    const own = (f.statuses || Object.keys(counts)).filter((s) => !f.apart.includes(s));
    let count = own.reduce((n, s) => n + (counts[s] || 0), 0);
    if (f.undoable) count += state.status.undoable || 0;
    const apart = f.apart.reduce((n, s) => n + (counts[s] || 0), 0);
    button.textContent = `${f.label} ${count}${apart ? "+" + apart : ""}`;
    button.className = i === state.filter ? "on" : "";
    button.onclick = () => setFilter(i);
    return button;
  }));
}

async function loadList() {
  const f = currentFilter();
  const params = new URLSearchParams({ limit: "500" });
  if (f.statuses) params.set("status", f.statuses.join(","));
  if (f.undoable) params.set("undoable", "true");
  if (state.query) params.set("q", state.query);
  const keepId = state.tasks[state.cursor]?.id;
  if (keepId) params.set("keep", keepId);
  const page = await api("GET", `/api/tasks?${params}`);
  // The cursor's task now, not when asked: the reviewer may have moved meanwhile.
  const cursorId = state.tasks[state.cursor]?.id ?? keepId;
  state.tasks = page.tasks;
  const kept = state.tasks.findIndex((t) => t.id === cursorId);
  state.cursor = Math.max(0, Math.min(kept >= 0 ? kept : state.cursor, state.tasks.length - 1));
  drawList();
  await Promise.all([loadCounts(), showTask()]);
}

function countdown(task) {
  if (!task.undo_until) return "";
  const left = Math.ceil((Date.parse(task.undo_until) - Date.now()) / 1000);
  return left > 0 ? ` · undo ${left}s` : "";
}

function drawList() {
  $("list").replaceChildren(...state.tasks.map((task, i) => {
    const row = document.createElement("div");
    row.className = "row" + (i === state.cursor ? " cursor" : "");
    row.dataset.id = task.id;
    const progress = task.progress ? ` ${task.progress.step}/${task.progress.steps}` : "";
    row.innerHTML = "<span class=status></span><span class=title></span>";
    row.firstChild.textContent = task.status + progress;
    row.lastChild.textContent = task.title + countdown(task);
    row.onclick = () => {
      const at = state.tasks.findIndex((t) => t.id === task.id);
      if (at >= 0) move(0, at);
    };
    return row;
  }));
  $("list").querySelector(".cursor")?.scrollIntoView({ block: "nearest" });
}

function move(delta, absolute) {
  if (!state.tasks.length) return;
  const last = state.tasks.length - 1;
  state.cursor = absolute !== undefined ? (absolute < 0 ? last : absolute)
    : Math.max(0, Math.min(last, state.cursor + delta));
  drawList();
  showTask();
}

function setFilter(index) {
  state.filter = (index + state.filters.length) % state.filters.length;
  state.cursor = 0;
  state.tasks = [];
  loadList();
}

// -- the task and its gallery ------------------------------------------------------------

async function showTask() {
  const summary = state.tasks[state.cursor];
  if (!summary) { state.full = null; drawTask(); return; }
  const full = await api("GET", `/api/tasks/${encodeURIComponent(summary.id)}`);
  if (state.tasks[state.cursor]?.id !== full.id) return; // the cursor moved on meanwhile
  if (state.full?.id !== full.id) {
    const chosen = full.variations.find((v) => v.selected);
    state.selected = chosen ? chosen.index : (full.variations[0]?.index ?? 1);
  }
  state.full = full;
  drawTask();
}

function live(task) { return task.variations.filter((v) => !v.removed_at); }

function thumbnailUrl(task, v, cssWidth) {
  const width = Math.ceil(cssWidth * (window.devicePixelRatio || 1));
  return `/api/tasks/${encodeURIComponent(task.id)}/variations/${v.index}/thumbnail?width=${width}`;
}

function drawTask() {
  const task = state.full;
  $("title").textContent = task ? task.title : "no task here";
  $("meta").textContent = task
    ? `${task.id} · ${task.status}${countdown(task)} · allows: ${task.actions.join(", ") || "nothing now"}`
    : "";
  $("prompt").textContent = task ? task.prompt : "";
  const figures = task ? live(task).map((v) => figure(task, v)) : [];
  const preview = task?.progress?.preview;
  if (task && preview) {
    for (const n of preview.variations) figures.push(previewFigure(task, n, preview));
  }
  $("gallery").replaceChildren(...figures);
  const images = [...$("gallery").querySelectorAll("img")];
  Promise.all(images.map((img) => img.decode().catch(() => null))).then(() => {
    if (state.full === task) {
      mark("painted", Number(document.body.dataset.painted || 0) + 1);
      mark("paintedTask", task ? task.id : "");
      mark("paintedState", task ? `${task.status}/${live(task).length}` : "");
      mark("selected", state.selected);
    }
  });
}

// Figures kept across draws: an event redraws the task, and a new <img> for the same
// picture would ask for it again.
const figures = new Map();

function figure(task, v) {
  const key = `${task.id}/${v.index}/${v.created_at}`;
  let fig = figures.get(key);
  if (!fig) {
    fig = newFigure(task, v);
    if (figures.size > 200) figures.clear();
    figures.set(key, fig);
  }
  fig.className = v.index === state.selected ? "selected" : "";
  return fig;
}

function newFigure(task, v) {
  const fig = document.createElement("figure");
  fig.dataset.index = v.index;
  const img = document.createElement("img");
  img.alt = `variation ${v.index}`;
  img.src = thumbnailUrl(task, v, 220);
  const caption = document.createElement("figcaption");
  caption.textContent = `${v.index} · seed ${v.seed} · ${v.width}×${v.height}`;
  fig.append(img, caption);
  fig.onclick = () => pick(v.index);
  return fig;
}

function previewFigure(task, n, preview) {
  const fig = document.createElement("figure");
  fig.className = "preview";
  const img = document.createElement("img");
  img.alt = `variation ${n}, step ${preview.step}`;
  img.src = `/api/tasks/${encodeURIComponent(task.id)}/variations/${n}/preview?step=${preview.step}`;
  const caption = document.createElement("figcaption");
  caption.textContent = `${n} · step ${preview.step}/${preview.steps}`;
  fig.append(img, caption);
  return fig;
}

function pick(index) {
  if (!state.full || !live(state.full).some((v) => v.index === index)) return;
  state.selected = index;
  if (state.large) drawLarge(); else drawTask();
}

function step(delta) {
  if (!state.full) return;
  const indexes = live(state.full).map((v) => v.index);
  const at = indexes.indexOf(state.selected);
  if (at >= 0) pick(indexes[Math.max(0, Math.min(indexes.length - 1, at + delta))]);
}

// -- decisions: offered from the task's `actions` ------------------------------------------

function allowing(action) {
  const task = state.full;
  if (!task) { notice("no task here"); return null; }
  if (!task.actions.includes(action)) {
    const allowed = task.actions.join(", ");
    notice(`cannot ${action} ${task.id} now (it is ${task.status}); ` +
      (allowed ? `it allows: ${allowed}` : "nothing can be done to it now"));
    return null;
  }
  return task;
}

function ask(dialogId, fill) {
  return new Promise((resolve) => {
    const dialog = $(dialogId);
    fill(dialog);
    dialog.returnValue = "";
    dialog.onclose = () => resolve(dialog.returnValue === "yes");
    dialog.showModal();
  });
}

async function decide(task, action, body, after) {
  try {
    const answer = await api("POST", `/api/tasks/${encodeURIComponent(task.id)}/${action}`, body);
    notice(answer.message);
    if (after) after(answer);
  } catch (error) {
    notice(`${action}: ${error.message}`);
  }
  await loadList();
}

async function approve() {
  const task = allowing("approve");
  if (!task) return;
  const v = live(task).find((x) => x.index === state.selected);
  if (!v) { notice("its variations are not shown yet"); return; }
  const p = state.status?.publishing;
  const yes = await ask("approve-dialog", () => {
    $("approve-picture").src = thumbnailUrl(task, v, 256);
    $("approve-what").textContent =
      `variation ${v.index} (seed ${v.seed}) of ${task.title}: slug ${task.slug}`;
    $("approve-where").textContent = p ? `image to ${p.images_to}; post to ${p.posts_destination}` : "";
  });
  if (yes) await decideAndMoveOn(task, "approve", { variation: v.index });
}

async function reject() {
  const task = allowing("reject");
  if (!task) return;
  const yes = await ask("reject-dialog", () => {
    $("reject-keep").checked = false;
    $("reject-prompt").value = "";
  });
  if (!yes) return;
  const body = { keep_files: $("reject-keep").checked };
  const prompt = $("reject-prompt").value.trim();
  if (prompt) body.prompt = prompt;
  await decideAndMoveOn(task, "reject", body);
}

async function generate() {
  const task = allowing("generate");
  if (!task) return;
  const yes = await ask("generate-dialog", () => { $("generate-prompt").value = ""; });
  if (!yes) return;
  const body = { count: Number($("generate-count").value) || 1 };
  const prompt = $("generate-prompt").value.trim();
  if (prompt) body.prompt = prompt;
  await decide(task, "generate", body);
}

async function cancel() {
  const task = allowing("cancel");
  if (task) await decide(task, "cancel", {});
}

async function decideAndMoveOn(task, action, body) {
  // The next task is shown while the decision travels; the list is read again after.
  const sent = api("POST", `/api/tasks/${encodeURIComponent(task.id)}/${action}`, body);
  rememberDecision(task);
  drawList();
  const shown = showTask();
  try {
    notice((await sent).message);
  } catch (error) {
    notice(`${action}: ${error.message}`);
  }
  await shown;
  await loadList();
}

function rememberDecision(task) {
  // As in the TUI: the cursor moves on to the next task awaiting review at once.
  state.decided.push(task.id);
  const at = state.tasks.findIndex((t) => t.id === task.id);
  const waiting = (t) => t.id !== task.id && t.status === "review";
  let next = state.tasks.findIndex((t, i) => i > at && waiting(t));
  if (next < 0) next = state.tasks.findIndex(waiting);
  if (next >= 0) state.cursor = next;
}

async function undo() {
  // The cursor's task if it can be undone, else the last decision of this page.
  let task = state.full && state.full.actions.includes("undo") ? state.full : null;
  if (!task && state.decided.length) {
    task = await api("GET", `/api/tasks/${encodeURIComponent(state.decided.at(-1))}`);
  }
  if (!task || !task.actions.includes("undo")) {
    notice("nothing to undo (a decision can be undone during its grace period)");
    return;
  }
  await decide(task, "undo", {}, () => {
    state.decided = state.decided.filter((id) => id !== task.id);
  });
  const back = state.tasks.findIndex((t) => t.id === task.id);
  if (back >= 0) move(0, back);
}

// -- the large view, the loupe and compare ----------------------------------------------

function imageUrl(task, index) {
  return `/api/tasks/${encodeURIComponent(task.id)}/variations/${index}/image`;
}

function openLarge(zoomed) {
  if (!state.full || !live(state.full).length) return;
  state.large = { zoomed, pinned: state.large?.pinned ?? null, x: 0.5, y: 0.5 };
  $("large").hidden = false;
  drawLarge();
}

function closeLarge() {
  state.large = null;
  $("large").hidden = true;
  drawTask();
}

function drawLarge() {
  const view = state.large;
  const task = state.full;
  const shown = view.pinned && view.pinned !== state.selected
    ? [view.pinned, state.selected] : [state.selected];
  $("panels").replaceChildren(...shown.map((index) => {
    const panel = document.createElement("div");
    panel.className = "panel " + (view.zoomed ? "loupe" : "fit");
    const img = document.createElement("img");
    img.alt = `variation ${index}`;
    img.src = imageUrl(task, index);
    img.onload = () => { placeLoupe(panel, img); mark("largePainted", index); };
    panel.append(img);
    return panel;
  }));
  $("large-label").textContent = `${task.title} · variation ${shown.join(" | ")}` +
    (view.zoomed ? " · 100 % (h j k l or drag: pan; z: back)" : "") +
    (view.pinned ? ` · pinned ${view.pinned}` : "");
}

function placeLoupe(panel, img) {
  if (!state.large?.zoomed) return;
  // 100 %: one image pixel on one screen pixel, whatever devicePixelRatio is.
  const ratio = window.devicePixelRatio || 1;
  const w = img.naturalWidth / ratio;
  const h = img.naturalHeight / ratio;
  img.style.width = `${w}px`;
  img.style.height = `${h}px`;
  const left = Math.round((panel.clientWidth - w) * state.large.x * ratio) / ratio;
  const top = Math.round((panel.clientHeight - h) * state.large.y * ratio) / ratio;
  img.style.left = `${w <= panel.clientWidth ? Math.round((panel.clientWidth - w) / 2) : left}px`;
  img.style.top = `${h <= panel.clientHeight ? Math.round((panel.clientHeight - h) / 2) : top}px`;
}

function pan(dx, dy) {
  const view = state.large;
  if (!view?.zoomed) return;
  view.x = Math.max(0, Math.min(1, view.x - dx * 0.25));
  view.y = Math.max(0, Math.min(1, view.y - dy * 0.25));
  for (const panel of $("panels").children) placeLoupe(panel, panel.firstChild);
}

function pin() {
  const view = state.large;
  if (!view && !state.full) return;
  if (!view) { state.large = { zoomed: false, pinned: null, x: 0.5, y: 0.5 }; }
  const large = state.large;
  if (large.pinned !== null) { large.pinned = null; notice("unpinned"); }
  else if (live(state.full).length < 2) { notice("only one variation: nothing to compare it with"); }
  else { large.pinned = state.selected; step(1); if (large.pinned === state.selected) step(-1); }
  $("large").hidden = false;
  drawLarge();
}

// -- keys: the shared table, matched by KeyboardEvent.key ----------------------------------

const ACTIONS = {
  "cursor": (d) => move(d), "page": (d) => move(d * 10), "jump": (i) => move(0, i),
  "approve": () => approve(), "reject": () => reject(), "undo": () => undo(),
  "generate": () => generate(), "cancel": () => cancel(),
  "zoom": () => (state.large ? toggleZoom() : openLarge(true)), "pin": () => pin(),
  "filter": (d) => setFilter(state.filter + d), "search": () => $("search").focus(),
  "variation": (d) => step(d), "step": (d) => step(d), "pick": (n) => pick(n),
  "enter": () => openLarge(false), "escape": () => escape(), "back": () => back(),
  "dismiss": () => closeLarge(), "pan": (x, y) => pan(x, y), "help": () => help(),
  "details": () => $("prompt").scrollIntoView(), "scroll_details": (d) => $("detail").scrollBy(0, d * 200),
  "quit": () => notice("close the tab to leave; Ctrl-C in the terminal stops the server"),
  "figures": () => notice("the desk's figures: s in the TUI, or gladtui stats (--html FILE: charts)"),
};

function toggleZoom() {
  state.large.zoomed = !state.large.zoomed;
  drawLarge();
}

function back() { if (state.large?.zoomed) toggleZoom(); else closeLarge(); }

function escape() {
  if (state.query) { state.query = ""; $("search").value = ""; loadList(); }
}

function keymap(groups) {
  const map = new Map();
  for (const group of groups) {
    for (const key of state.keys.groups[group]) {
      for (const name of key.browser) if (!map.has(name)) map.set(name, key.action);
    }
  }
  return map;
}

function run(action) {
  const [, name, args] = action.match(/^(\w+)(?:\((.*)\))?$/);
  const values = args ? args.split(",").map((a) => (a.trim() === "True" ? true : Number(a))) : [];
  ACTIONS[name]?.(...values);
}

function onKey(event) {
  if (document.querySelector("dialog[open]")) return dialogKey(event);
  if (event.target === $("search")) {
    if (event.key === "Enter" || event.key === "Escape") {
      if (event.key === "Escape") { $("search").value = ""; state.query = ""; loadList(); }
      $("search").blur();
      event.preventDefault();
    }
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const name = event.shiftKey && event.key.startsWith("Arrow") ? `shift+${event.key}` : event.key;
  const groups = state.large ? ["large"] : ["list", "decide", "view", "review", "app"];
  const action = keymap(groups).get(name);
  if (!action) return;
  event.preventDefault();
  if (state.large && action.startsWith("approve")) { closeLarge(); }
  run(action);
}

function dialogKey(event) {
  const dialog = document.querySelector("dialog[open]");
  if (event.target.tagName === "TEXTAREA" && !(event.key === "Enter" && event.ctrlKey)) return;
  if (event.key === "y" || event.key === "Enter") {
    event.preventDefault();
    dialog.close(dialog.id === "help-dialog" ? "no" : "yes");
  } else if (event.key === "n" && event.target.tagName !== "INPUT") {
    event.preventDefault();
    dialog.close("no");
  }
}

function help() {
  const rows = state.keys.help[state.large ? "large" : "review"];
  $("help-table").replaceChildren(...rows.map(([keys, text]) => {
    const tr = document.createElement("tr");
    tr.innerHTML = "<th></th><td></td>";
    tr.firstChild.textContent = keys;
    tr.lastChild.textContent = text;
    return tr;
  }));
  $("help-dialog").showModal();
}

function drawKeybar() {
  const shown = ["decide", "review", "app"].flatMap((g) => state.keys.groups[g]).filter((k) => k.show);
  $("keybar").replaceChildren(...shown.map((k) => {
    const span = document.createElement("span");
    span.innerHTML = "<b></b> ";
    span.firstChild.textContent = k.display || k.browser[0];
    span.append(k.label);
    return span;
  }));
}

// -- live: the event stream, reconnected with catch-up ---------------------------------

function connect() {
  const since = state.lastId !== null ? `?since=${state.lastId}` : "";
  const events = new EventSource(`/api/events${since}`);
  state.events = events;
  let caughtUp = false;
  const refresh = () => {
    if (caughtUp) return;
    caughtUp = true;
    setConnected(true);
    loadList();
  };
  events.addEventListener("heartbeat", (e) => {
    const data = JSON.parse(e.data);
    if (state.lastId === null) state.lastId = data.last_id;
    refresh();
  });
  events.addEventListener("resync", (e) => {
    state.lastId = JSON.parse(e.data).last_id;
    caughtUp = false;
    refresh();
  });
  events.addEventListener("progress", (e) => onProgress(JSON.parse(e.data)));
  events.onmessage = null;
  const stored = (e) => {
    state.lastId = Number(e.lastEventId || state.lastId);
    onEvent(JSON.parse(e.data));
  };
  for (const kind of state.keys.event_kinds) {
    events.addEventListener(kind, stored);
  }
  events.onerror = () => {
    setConnected(false);
    events.close(); // reconnect ourselves: EventSource gives up after a 502
    setTimeout(connect, state.reconnectDelay);
    state.reconnectDelay = Math.min(state.reconnectDelay * 2, 4000);
  };
  events.onopen = () => { state.reconnectDelay = 250; };
}

function setConnected(on) {
  mark("live", on);
  $("connection").textContent = on ? "live" : "reconnecting…";
  $("connection").className = "conn" + (on ? " live" : "");
}

let listTimer = null;
function onEvent(event) {
  // The list is read again (coalesced), so its order and its filter stay the daemon's.
  const row = event.task && state.tasks.findIndex((t) => t.id === event.task.id);
  if (row !== null && row >= 0) { state.tasks[row] = event.task; drawList(); }
  clearTimeout(listTimer);
  listTimer = setTimeout(loadList, 100);
}

function onProgress(progress) {
  const task = state.tasks.find((t) => t.id === progress.task_id);
  if (!task) { clearTimeout(listTimer); listTimer = setTimeout(loadList, 100); return; }
  task.progress = progress;
  drawList();
  if (state.full?.id === progress.task_id && progress.preview) {
    state.full.progress = progress;
    drawTask();
  }
}

// -- start ---------------------------------------------------------------------------------

async function start() {
  const table = await (await fetch("/keys.json")).json();
  state.keys = table;
  state.filters = table.filters;
  drawKeybar();
  document.addEventListener("keydown", onKey);
  $("search").addEventListener("input", () => {
    state.query = $("search").value;
    clearTimeout(start.search);
    start.search = setTimeout(loadList, 150);
  });
  let drag = null;
  $("panels").addEventListener("mousedown", (e) => { drag = [e.clientX, e.clientY]; e.preventDefault(); });
  window.addEventListener("mouseup", () => { drag = null; });
  window.addEventListener("mousemove", (e) => {
    if (!drag || !state.large?.zoomed) return;
    const panel = $("panels").firstChild;
    pan((e.clientX - drag[0]) / -(panel.clientWidth * 0.25), (e.clientY - drag[1]) / -(panel.clientHeight * 0.25));
    drag = [e.clientX, e.clientY];
  });
  setInterval(() => { if (state.tasks.some((t) => t.undo_until)) { drawList(); } }, 500);
  connect();
}

start();
