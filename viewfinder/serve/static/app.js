// viewfinder web page: plain JS over the JSON API, no build step, no network beyond this server.
"use strict";

const state = {
  token: localStorage.getItem("viewfinder-token") || "",
  videos: [],
  selected: null, // video id
  polling: new Map(), // job id -> timer
  explainUrl: null,
};

const $ = (id) => document.getElementById(id);

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (state.token) h["Authorization"] = "Bearer " + state.token;
  return h;
}

async function api(path, options) {
  const opts = Object.assign({}, options || {});
  opts.headers = headers(opts.headers);
  const response = await fetch(path, opts);
  if (response.status === 401) {
    $("token-form").hidden = false;
    throw new Error("this server needs a token: enter it at the top right");
  }
  const kind = response.headers.get("content-type") || "";
  const body = kind.includes("json") ? await response.json() : await response.blob();
  if (!response.ok) {
    const message = body && body.error ? body.error : JSON.stringify(body && body.detail);
    const err = new Error(message || response.statusText);
    err.status = response.status;
    throw err;
  }
  return body;
}

function clock(seconds) {
  const s = Math.max(0, seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = (s % 60).toFixed(1).padStart(4, "0");
  return (h ? h + ":" + String(m).padStart(2, "0") : m) + ":" + sec;
}

function mediaUrl(id) {
  const base = "/videos/" + encodeURIComponent(id) + "/media";
  return state.token ? base + "?token=" + encodeURIComponent(state.token) : base;
}

// ------------------------------------------------------------------ library

async function loadLibrary() {
  $("library-error").hidden = true;
  try {
    state.videos = await api("/videos");
  } catch (e) {
    $("library-error").textContent = e.message;
    $("library-error").hidden = false;
    return;
  }
  renderLibrary();
  for (const v of state.videos) {
    if (v.job && (v.job.state === "queued" || v.job.state === "running")) followJob(v.job.id);
  }
}

function jobFraction(job) {
  const stages = Object.values(job.stages || {});
  if (!stages.length) return 0;
  // Five stages at most (decode, shots, speech, screen text, frames): each counts a fifth.
  const sum = stages.reduce((acc, s) => acc + (s.total ? Math.min(s.done / s.total, 1) : 0), 0);
  return Math.min(sum / Math.max(stages.length, 3), 0.99);
}

function renderLibrary() {
  const list = $("library");
  list.replaceChildren();
  for (const v of state.videos) {
    const li = document.createElement("li");
    li.dataset.id = v.id;
    li.className = v.id === state.selected ? "selected" : "";
    const name = document.createElement("div");
    name.className = "video-name";
    name.textContent = v.path;
    const meta = document.createElement("div");
    meta.className = "video-meta";
    const length = document.createElement("span");
    length.textContent = v.duration != null ? clock(v.duration) : "?";
    const badge = document.createElement("span");
    const job = v.job;
    const busy = job && (job.state === "queued" || job.state === "running");
    if (v.indexed) {
      badge.className = "badge ready";
      badge.textContent = "indexed";
    } else if (job && job.state === "failed") {
      badge.className = "badge failed";
      badge.textContent = "failed";
      badge.title = job.error || "";
    } else {
      badge.className = "badge";
      badge.textContent = busy ? job.state : "not indexed";
    }
    meta.append(length, badge);
    if (!v.indexed) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "index-button";
      button.textContent = busy ? "Cancel" : "Index";
      button.addEventListener("click", (event) => {
        event.stopPropagation();
        if (busy) cancelJob(job.id);
        else indexVideo(v.id);
      });
      meta.append(button);
    }
    li.append(name, meta);
    if (busy) {
      const row = document.createElement("div");
      row.className = "job";
      const bar = document.createElement("progress");
      bar.max = 1;
      bar.value = jobFraction(job);
      const label = document.createElement("span");
      label.className = "job-label";
      const eta = job.eta_seconds != null ? ", " + Math.round(job.eta_seconds) + " s left" : "";
      label.textContent = job.stage
        ? job.stage + " " + Math.round(job.done) + "/" + Math.round(job.total) + eta
        : "waiting";
      row.append(bar, label);
      li.append(row);
    }
    li.addEventListener("click", () => selectVideo(v.id));
    list.append(li);
  }
}

function selectVideo(id) {
  const v = state.videos.find((x) => x.id === id);
  if (!v) return;
  if (state.selected !== id) {
    state.selected = id;
    $("player").src = mediaUrl(id);
    $("now-playing").textContent = v.path;
  }
  $("ask").disabled = !v.indexed;
  $("ask-status").textContent = v.indexed ? "" : "index this video before asking";
  renderLibrary();
}

async function indexVideo(id) {
  try {
    const job = await api("/videos/" + encodeURIComponent(id) + "/index", { method: "POST" });
    updateJob(job);
    followJob(job.id);
  } catch (e) {
    $("library-error").textContent = e.message;
    $("library-error").hidden = false;
  }
}

async function cancelJob(jobId) {
  try {
    updateJob(await api("/jobs/" + jobId + "/cancel", { method: "POST" }));
  } catch (e) {
    $("library-error").textContent = e.message;
    $("library-error").hidden = false;
  }
}

function updateJob(job) {
  const v = state.videos.find((x) => x.id === job.video);
  if (v) v.job = job;
  renderLibrary();
}

function followJob(jobId) {
  if (state.polling.has(jobId)) return;
  const tick = async () => {
    let job;
    try {
      job = await api("/jobs/" + jobId);
    } catch (e) {
      state.polling.delete(jobId);
      return;
    }
    updateJob(job);
    if (job.state === "queued" || job.state === "running") {
      state.polling.set(jobId, setTimeout(tick, 400));
      return;
    }
    state.polling.delete(jobId);
    await refreshVideo(job.video);
  };
  state.polling.set(jobId, setTimeout(tick, 0));
}

async function refreshVideo(id) {
  const fresh = await api("/videos/" + encodeURIComponent(id));
  const i = state.videos.findIndex((x) => x.id === id);
  if (i >= 0) state.videos[i] = fresh;
  if (state.selected === id) selectVideo(id);
  else renderLibrary();
}

// ------------------------------------------------------------------ questions

function seekButton(videoId, start, end) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "stamp";
  button.dataset.start = String(start);
  button.textContent = end != null && end > start ? clock(start) + "-" + clock(end) : clock(start);
  button.title = "play from " + clock(start);
  button.addEventListener("click", () => seek(videoId, start));
  return button;
}

function seek(videoId, seconds) {
  if (state.selected !== videoId) selectVideo(videoId);
  const player = $("player");
  const go = () => {
    player.currentTime = seconds;
    player.play().catch(() => {}); // autoplay may be refused; the position is still set
  };
  if (player.readyState >= 1) go();
  else player.addEventListener("loadedmetadata", go, { once: true });
}

async function ask(event) {
  event.preventDefault();
  if (!state.selected) return;
  const question = $("question").value.trim();
  const options = $("options").value.split("\n").map((o) => o.trim()).filter(Boolean);
  const body = { video: state.selected, question: question };
  if (options.length) body.options = options;
  $("ask").disabled = true;
  $("ask-status").textContent = "thinking...";
  try {
    const answer = await api("/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    showAnswer(answer);
    $("ask-status").textContent = "answered in " + (answer.usage.seconds.total || 0).toFixed(1) + " s";
  } catch (e) {
    const wait = e.status === 429 ? " (the server is busy; try again shortly)" : "";
    $("ask-status").textContent = e.message + wait;
  } finally {
    $("ask").disabled = false;
  }
}

function showAnswer(answer) {
  $("answer").hidden = false;
  $("answer-choice").textContent = answer.choice ? "(" + answer.choice + ")" : "";
  $("answer-text").textContent = answer.answer;
  $("answer-confidence").value = answer.confidence;
  $("answer-confidence-text").textContent = answer.confidence.toFixed(2);
  const list = $("evidence");
  list.replaceChildren();
  if (!answer.evidence.length) {
    const li = document.createElement("li");
    li.textContent = "no evidence found";
    list.append(li);
  }
  for (const e of answer.evidence) {
    const li = document.createElement("li");
    const kind = document.createElement("span");
    kind.className = "modality";
    kind.textContent = e.modality === "text" ? "screen" : e.modality;
    const text = document.createElement("span");
    text.textContent = " " + e.text;
    li.append(seekButton(answer.video, e.start, e.end), kind, text);
    list.append(li);
  }
  const notes = $("notes");
  notes.replaceChildren();
  for (const n of answer.notes || []) {
    const li = document.createElement("li");
    li.textContent = n;
    notes.append(li);
  }
  showExplanation(answer);
}

async function showExplanation(answer) {
  $("explain-panel").hidden = false;
  $("explain-link").href = answer.explain.html;
  try {
    const png = await api(answer.explain.png);
    if (state.explainUrl) URL.revokeObjectURL(state.explainUrl);
    state.explainUrl = URL.createObjectURL(png);
    $("explain-img").src = state.explainUrl;
  } catch (e) {
    $("explain-img").alt = "no explanation: " + e.message;
  }
}

// ------------------------------------------------------------------ search

async function search(event) {
  event.preventDefault();
  const q = $("search-q").value.trim();
  const list = $("search-hits");
  list.replaceChildren();
  if (!q) return;
  try {
    const found = await api("/search?q=" + encodeURIComponent(q));
    for (const h of found.hits) {
      const li = document.createElement("li");
      const where = document.createElement("span");
      where.className = "modality";
      where.textContent = h.path;
      const text = document.createElement("span");
      text.textContent = " " + h.text;
      li.append(seekButton(h.video, h.start, h.end), where, text);
      list.append(li);
    }
    if (!found.hits.length) list.textContent = "nothing found in the indexed videos";
  } catch (e) {
    list.textContent = e.message;
  }
}

// ------------------------------------------------------------------ start

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.token = $("token").value.trim();
  localStorage.setItem("viewfinder-token", state.token);
  $("token-form").hidden = true;
  loadLibrary();
});
$("rescan").addEventListener("click", loadLibrary);
$("ask-form").addEventListener("submit", ask);
$("search-form").addEventListener("submit", search);
loadLibrary();
