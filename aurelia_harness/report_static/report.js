// The avharness report's sample browser. Everything that comes from records, questions and file names
// reaches the document through textContent and element properties only: never as markup.
"use strict";
(function () {
  const PAGE = 50;
  const STATUS_WORDS = { correct: "correct", partial: "partly right", wrong: "wrong", unparseable: "unparseable",
                         error: "error" };
  const KNOWN_FIELDS = new Set(["model", "task", "strategy", "sample_id", "model_hash", "strategy_hash",
    "prediction", "parsed", "score", "unparseable", "error", "category", "notes", "trace", "usage", "seconds",
    "modality", "metric", "graded", "plugins", "schema_version", "$shared", "media", "audio_missing",
    "score_seconds"]);

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else node[key] = value;
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function show(value) {
    if (value === null || value === undefined) return "—";
    return typeof value === "string" ? value : JSON.stringify(value, null, 2);
  }

  // ---- sortable tables (rendered by the report; cells carry data-v for numbers) ----------------------
  function sortable(table) {
    const heads = Array.from(table.tHead.rows[0].cells);
    heads.forEach((th, col) => th.addEventListener("click", () => {
      const dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
      heads.forEach(h => h.removeAttribute("aria-sort"));
      th.setAttribute("aria-sort", dir);
      const body = table.tBodies[0];
      const rows = Array.from(body.rows);
      const key = row => {
        const cell = row.cells[col];
        return cell.dataset.v !== undefined ? parseFloat(cell.dataset.v) : cell.textContent;
      };
      rows.sort((a, b) => {
        const x = key(a), y = key(b);
        const order = typeof x === "number" && typeof y === "number" ? x - y
          : (typeof x === "number" ? -1 : typeof y === "number" ? 1 : String(x).localeCompare(String(y)));
        return dir === "ascending" ? order : -order;
      });
      body.append(...rows);
    }));
  }
  document.querySelectorAll("table.sortable").forEach(sortable);

  // ---- packed data: base64 of gzip-compressed JSON in inert script blocks ------------------------------
  async function unpack(id) {
    const node = document.getElementById(id);
    if (!node) throw new Error("missing data block " + id);
    const binary = atob(node.textContent.trim());
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return JSON.parse(await new Response(stream).text());
  }
  const chunkCache = new Map();
  function chunk(n) {
    if (!chunkCache.has(n)) chunkCache.set(n, unpack("avh-chunk-" + n));
    return chunkCache.get(n);
  }
  let samplesPromise = null;
  function samples() {
    if (!samplesPromise) samplesPromise = unpack("avh-samples");
    return samplesPromise;
  }

  async function recordAt(index, loc) {
    const data = await chunk(Math.floor(loc / index.chunk_records));
    const rec = Object.assign({}, data.records[loc % index.chunk_records]);
    if (rec.$shared) {
      rec.trace = rec.trace.map(step => (step && typeof step === "object" ? Object.assign({}, step) : step));
      for (const [step, field, id] of rec.$shared) {
        const holder = await chunk(index.shared_chunk[id]);
        rec.trace[step][field] = holder.shared[String(id)];
      }
      delete rec.$shared;
    }
    return rec;
  }

  // ---- state in the address's fragment, so a refresh (the live viewer) keeps what is shown -----------
  const FILTERS = ["run", "model", "task", "strategy", "modality", "category"];
  function readState() {
    const params = new URLSearchParams(location.hash.slice(1));
    const state = { page: parseInt(params.get("page") || "0", 10) || 0, q: params.get("q") || "",
                    notes: params.get("notes") === "1", open: params.has("open") ? parseInt(params.get("open"), 10) : null,
                    status: params.has("status") ? params.get("status").split(",").filter(Boolean) : null };
    for (const f of FILTERS) state[f] = params.has(f) ? parseInt(params.get(f), 10) : -1;
    return state;
  }
  function writeState(state) {
    const params = new URLSearchParams();
    for (const f of FILTERS) if (state[f] >= 0) params.set(f, state[f]);
    if (state.status) params.set("status", state.status.join(","));
    if (state.notes) params.set("notes", "1");
    if (state.q) params.set("q", state.q);
    if (state.page) params.set("page", state.page);
    if (state.open !== null) params.set("open", state.open);
    history.replaceState(null, "", "#" + params.toString());
  }

  // ---- the browser ---------------------------------------------------------------------------------
  async function start() {
    const root = document.getElementById("browser");
    let index;
    try {
      index = await unpack("avh-index");
    } catch (err) {
      root.replaceChildren(el("p", { class: "error-text", text: "The sample index could not be read: " + err }));
      return;
    }
    const cols = index.columns;
    const total = cols.loc.length;
    const state = readState();
    if (!state.status) state.status = index.statuses.slice();
    const lists = { run: index.runs, model: index.models, task: index.tasks, strategy: index.strategies,
                    modality: index.modalities, category: index.categories };
    const labels = { run: "run", model: "model", task: "task", strategy: "strategy", modality: "inputs",
                     category: "category" };

    const selects = {};
    const filters = el("div", { class: "filters", role: "search" });
    for (const f of FILTERS) {
      const values = lists[f];
      if (values.length < 2 && f !== "model" && f !== "task" && f !== "strategy") continue;
      const select = el("select", { id: "filter-" + f, name: f });
      select.append(el("option", { value: "-1", text: "all (" + values.length + ")" }));
      values.forEach((v, i) => select.append(el("option", { value: String(i), text: v === "" ? "(none)" : v })));
      select.value = String(state[f]);
      if (select.value === "") { select.value = "-1"; state[f] = -1; }
      select.addEventListener("change", () => { state[f] = parseInt(select.value, 10); state.page = 0; update(); });
      selects[f] = select;
      filters.append(el("label", {}, labels[f], select));
    }
    const statusBoxes = {};
    const statusSet = el("fieldset", { id: "filter-status" }, el("legend", { text: "outcome" }));
    index.statuses.forEach((s, i) => {
      const box = el("input", { type: "checkbox", value: s, checked: state.status.includes(s), id: "status-" + s });
      const count = el("span", { class: "muted" });
      box.addEventListener("change", () => {
        state.status = index.statuses.filter(x => statusBoxes[x].box.checked); state.page = 0; update();
      });
      statusBoxes[s] = { box, count };
      statusSet.append(el("label", {}, box, el("span", { class: "status " + s, text: STATUS_WORDS[s] }), count));
    });
    filters.append(statusSet);
    const notesBox = el("input", { type: "checkbox", id: "filter-notes", checked: state.notes });
    notesBox.addEventListener("change", () => { state.notes = notesBox.checked; state.page = 0; update(); });
    filters.append(el("fieldset", {}, el("label", {}, notesBox, "with notes only")));
    const search = el("input", { type: "search", id: "filter-id", placeholder: "sample id contains…", value: state.q });
    search.addEventListener("input", () => { state.q = search.value; state.page = 0; update(); });
    filters.append(el("label", {}, "sample id", search));

    const pager = el("div", { class: "pager" });
    const info = el("span", { id: "match-count" });
    const prev = el("button", { type: "button", text: "‹ previous", id: "page-prev" });
    const next = el("button", { type: "button", text: "next ›", id: "page-next" });
    prev.addEventListener("click", () => { state.page = Math.max(0, state.page - 1); update(); });
    next.addEventListener("click", () => { state.page += 1; update(); });
    pager.append(prev, next, info);

    const many = index.runs.length > 1;
    const head = ["sample", "task", "model", "strategy"].concat(index.modalities.length > 1 ? ["inputs"] : [],
      many ? ["run"] : [], ["outcome", "score", "parsed", "notes"]);
    const table = el("table", { class: "samples", id: "sample-list" },
                     el("thead", {}, el("tr", {}, ...head.map(h => el("th", { scope: "col", text: h })))));
    const tbody = el("tbody");
    table.append(tbody);
    const detail = el("div", { class: "detail", id: "sample-detail" },
                      el("p", { class: "muted", text: "Choose a sample to see its media, question, answer and trace." }));
    root.replaceChildren(filters, pager, el("div", { class: "browser-body" }, el("div", {}, table), detail));

    let sampleIds = null;
    async function matches() {
      if (state.q && !sampleIds) sampleIds = (await samples()).map(s => s.id.toLowerCase());
      const wanted = new Uint8Array(index.statuses.length);
      state.status.forEach(s => { wanted[index.statuses.indexOf(s)] = 1; });
      const q = state.q.toLowerCase();
      const counts = new Array(index.statuses.length).fill(0);
      const out = [];
      for (let i = 0; i < total; i++) {
        let ok = true;
        for (const f of FILTERS) if (state[f] >= 0 && cols[f][i] !== state[f]) { ok = false; break; }
        if (!ok || (state.notes && !cols.notes[i]) || (q && !sampleIds[cols.sample[i]].includes(q))) continue;
        counts[cols.status[i]] += 1;
        if (wanted[cols.status[i]]) out.push(i);
      }
      return { rows: out, counts };
    }

    let generation = 0;
    async function update() {
      const mine = ++generation;
      writeState(state);
      const { rows, counts } = await matches();
      if (mine !== generation) return;
      index.statuses.forEach((s, i) => { statusBoxes[s].count.textContent = "(" + counts[i] + ")"; });
      const pages = Math.max(1, Math.ceil(rows.length / PAGE));
      state.page = Math.min(state.page, pages - 1);
      writeState(state);
      const first = state.page * PAGE;
      const shown = rows.slice(first, first + PAGE);
      info.textContent = rows.length ? `${first + 1}–${first + shown.length} of ${rows.length} matching (${total} records), page ${state.page + 1} of ${pages}`
                                     : `none of ${total} records match`;
      prev.disabled = state.page === 0;
      next.disabled = state.page >= pages - 1;
      const sampleList = await samples();
      if (mine !== generation) return;
      tbody.replaceChildren(...shown.map(i => {
        const status = index.statuses[cols.status[i]];
        const score = cols.score[i];
        const cells = [el("td", { text: sampleList[cols.sample[i]].id }), el("td", { text: index.tasks[cols.task[i]] }),
                       el("td", { text: index.models[cols.model[i]] }), el("td", { text: index.strategies[cols.strategy[i]] })];
        if (index.modalities.length > 1) cells.push(el("td", { text: index.modalities[cols.modality[i]] }));
        if (many) cells.push(el("td", { text: index.runs[cols.run[i]] }));
        cells.push(el("td", {}, el("span", { class: "status " + status, text: STATUS_WORDS[status] })),
                   el("td", { class: "n", text: score === null ? "—" : score.toFixed(2) }),
                   el("td", { text: index.parsed[cols.parsed[i]] }),
                   el("td", { text: cols.notes[i] ? "yes" : "" }));
        const row = el("tr", { tabIndex: 0 }, ...cells);
        row.dataset.loc = String(cols.loc[i]);
        row.setAttribute("aria-selected", String(cols.loc[i] === state.open));
        const choose = () => { state.open = cols.loc[i]; writeState(state); markSelected(); openDetail(i); };
        row.addEventListener("click", choose);
        row.addEventListener("keydown", ev => { if (ev.key === "Enter") choose(); });
        return row;
      }));
    }
    function markSelected() {
      for (const row of tbody.rows) row.setAttribute("aria-selected", String(parseInt(row.dataset.loc, 10) === state.open));
    }

    async function openDetail(i) {
      detail.replaceChildren(el("p", { class: "loading", text: "Loading…" }));
      try {
        const [rec, sampleList] = await Promise.all([recordAt(index, cols.loc[i]), samples()]);
        detail.replaceChildren(...renderDetail(rec, sampleList[cols.sample[i]], index.statuses[cols.status[i]],
                                               many ? index.runs[cols.run[i]] : null));
      } catch (err) {
        detail.replaceChildren(el("p", { class: "error-text", text: "This record could not be read: " + err }));
      }
    }

    await update();
    if (state.open !== null) {
      const i = cols.loc.indexOf(state.open);
      if (i >= 0) await openDetail(i);
    }
    document.body.dataset.ready = "1";
  }

  // ---- one sample ------------------------------------------------------------------------------------
  function kv(pairs) {
    const dl = el("dl", { class: "kv" });
    for (const [key, value] of pairs) {
      if (value === undefined) continue;
      dl.append(el("dt", { text: key }), el("dd", { text: show(value) }));
    }
    return dl;
  }
  function textBlock(value, cls) { return el("div", { class: cls || "text", text: show(value) }); }

  function mediaItem(item) {
    let player;
    if (!item.exists) player = el("p", { class: "error-text", text: "missing when the report was made: " + item.path });
    else if (item.kind === "video") player = el("video", { controls: true, preload: "metadata", src: item.url });
    else if (item.kind === "audio") player = el("audio", { controls: true, preload: "metadata", src: item.url });
    else player = el("img", { alt: item.name, src: item.url, loading: "lazy" });
    const caption = el("figcaption", { text: item.kind + (item.role ? " (" + item.role + ")" : "") + ": " + item.name,
                                       title: item.path });
    return el("figure", {}, player, caption);
  }

  function renderDetail(rec, sample, status, run) {
    const out = [];
    const where = [rec.model, rec.task, rec.strategy].join(" · ") + (rec.modality && rec.modality !== "av" ? " [" + rec.modality + " only]" : "")
      + (run ? " (" + run + ")" : "");
    out.push(el("h3", {}, el("span", { text: rec.sample_id + " — " }), el("span", { class: "muted", text: where }), " ",
                el("span", { class: "status " + status, text: STATUS_WORDS[status] })));

    out.push(el("h4", { text: "Media" }));
    if (sample.media && sample.media.length) out.push(el("div", { class: "media" }, ...sample.media.map(mediaItem)));
    else out.push(el("p", { class: "muted", text: "No media found for this sample." }));

    out.push(el("h4", { text: "Question" }));
    if (sample.question === null) {
      out.push(el("p", { class: "muted", text: "The question is not available: the task could not be loaded (see the sources above)." }));
    } else {
      out.push(textBlock(sample.question));
      if (sample.options && sample.options.length) {
        const answerLetter = typeof sample.answer === "string" ? sample.answer.split(".")[0] : null;
        out.push(el("ol", { class: "options", type: "A" }, ...sample.options.map((o, k) =>
          el("li", { class: String.fromCharCode(65 + k) === answerLetter ? "answer" : "", text: o }))));
      }
      out.push(kv([["answer", sample.source === "aurelia trace" ? "(not in the trace; the task could not be loaded)" : sample.answer],
                   ["category", sample.category || rec.category || undefined],
                   ["question from", sample.source === "task" ? "the task's samples" : sample.source]]));
      if (sample.reasoning) out.push(el("details", {}, el("summary", { text: "reference reasoning" }), textBlock(sample.reasoning)));
    }

    out.push(el("h4", { text: "Answer" }));
    out.push(el("div", { class: "muted", text: "prediction" }), textBlock(rec.prediction));
    out.push(kv([["parsed", rec.parsed], ["score", rec.score], ["metric", rec.metric || undefined],
                 ["unparseable", rec.unparseable ? "yes" : "no"], ["seconds", typeof rec.seconds === "number" ? rec.seconds.toFixed(3) : rec.seconds]]));
    if (rec.error) out.push(el("p", { class: "error-text", text: (rec.error.type || "error") + ": " + (rec.error.message || "") }));
    if (rec.notes && rec.notes.length) out.push(el("h4", { text: "Notes" }), el("ul", {}, ...rec.notes.map(n => el("li", { text: show(n) }))));

    if (rec.audio_missing) out.push(el("p", { class: "error-text", text: "no audio reached this model, although it hears and the task is audio-visual" }));
    if (Array.isArray(rec.media) && rec.media.length) {  // the media receipt: what each call received
      out.push(el("h4", { text: "What the model received" }));
      out.push(el("pre", { text: JSON.stringify(rec.media, null, 1) }));
    }
    const extra = Object.keys(rec).filter(k => !KNOWN_FIELDS.has(k));
    if (extra.length) {
      out.push(el("h4", { text: "Other fields" }));
      for (const key of extra) out.push(el("div", { class: "muted", text: key }), el("pre", { text: show(rec[key]) }));
    }

    if (rec.trace && rec.trace.length) {
      out.push(el("h4", { text: "Trace" }));
      for (const step of rec.trace) out.push(renderStep(step));
    }
    if (rec.usage && Object.keys(rec.usage).length) {
      out.push(el("h4", { text: "Usage" }));
      const rows = Object.entries(rec.usage).map(([role, u]) => el("tr", {}, el("td", { text: role }),
        ...["calls", "input_tokens", "output_tokens", "seconds"].map(k => el("td", { class: "n", text: show(u[k]) }))));
      out.push(el("table", {}, el("thead", {}, el("tr", {}, ...["role", "calls", "tokens in", "tokens out", "seconds"].map(h => el("th", { text: h })))),
                  el("tbody", {}, ...rows)));
    }
    return out;
  }

  function renderStep(step) {
    if (!step || typeof step !== "object") return el("pre", { text: show(step) });
    if (Array.isArray(step.iterations)) return renderLoop(step);
    if (step.step === "answer") {
      const rest = Object.entries(step).filter(([k]) => !["step", "prompt", "reply"].includes(k));
      return el("details", { open: true }, el("summary", { text: "the target's call" }),
                el("div", { class: "muted", text: "prompt" }), el("pre", { text: show(step.prompt) }),
                el("div", { class: "muted", text: "reply" }), el("pre", { text: show(step.reply) }), kv(rest));
    }
    const rest = Object.entries(step).filter(([k]) => k !== "step");
    return el("details", { open: step.step === "score" }, el("summary", { text: String(step.step || "step") }),
              ...rest.map(([k, v]) => el("div", {}, el("span", { class: "muted", text: k + ": " }),
                                          typeof v === "object" && v !== null ? el("pre", { text: show(v) }) : el("span", { text: show(v) }))));
  }

  function renderLoop(step) {
    const scores = (step.scores || []).map(s => (s === null ? "–" : s)).join(", ");
    const box = el("details", { open: true, class: "loop" },
      el("summary", { text: `${step.step || "agents"}: ${step.iterations.length} iteration(s), critic's scores ${scores}` }));
    box.append(kv([["chosen iteration", step.chosen === null || step.chosen === undefined ? "none" : step.chosen + 1],
                   ["best score", step.best_score], ["reached the threshold", step.reached_threshold ? "yes" : "no"],
                   ["threshold", step.settings ? step.settings.threshold : undefined],
                   ["reasoning", step.source === "computed" ? "computed in this run" : step.source]]));
    if (step.caption) box.append(el("div", { class: "muted", text: "caption of the chosen reasoning" }), textBlock(step.caption));
    step.iterations.forEach((it, k) => {
      const chosen = k === step.chosen;
      const feedback = it.feedback ? ` — shown iteration ${it.feedback.iteration}'s steps and score ${it.feedback.score}` : "";
      const part = el("details", { class: "iteration" + (chosen ? " chosen" : ""), open: chosen },
        el("summary", { text: `iteration ${it.iteration}: score ${it.score === null ? "none" : it.score}${chosen ? " (chosen)" : ""}${feedback}` }));
      if (it.steps && it.steps.length) {
        part.append(el("div", { class: "muted", text: "steps (→ their answers)" }),
                    el("ol", {}, ...it.steps.map((s, j) => el("li", { text: show(s) + (it.step_answers && it.step_answers[j] !== undefined ? " → " + show(it.step_answers[j]) : "") }))));
      }
      part.append(kv([["final answer", it.final_answer || undefined], ["reasoning read", it.reasoning_parse_ok ? "yes" : "no"]]));
      if (it.caption) part.append(el("div", { class: "muted", text: "caption" }), textBlock(it.caption));
      if (it.notes && it.notes.length) part.append(el("ul", {}, ...it.notes.map(n => el("li", { class: "muted", text: show(n) }))));
      for (const call of it.calls || []) {
        part.append(el("details", { class: "call" }, el("summary", { text: call.role + (call.reask ? " (re-asked)" : "") }),
          el("div", { class: "muted", text: "prompt" }), el("pre", { text: show(call.prompt) }),
          el("div", { class: "muted", text: "reply" }), el("pre", { text: show(call.reply) })));
      }
      box.append(part);
    });
    return box;
  }

  // ---- the live viewer: reload when the run folder changes (the fragment keeps the view) --------------
  function poll() {
    const version = document.body.dataset.liveVersion;
    const every = parseInt(document.body.dataset.livePoll || "0", 10);
    if (!version || !every) return;
    setInterval(async () => {
      const playing = Array.from(document.querySelectorAll("video, audio")).some(m => !m.paused);
      if (playing) return;
      try {
        const res = await fetch("api/version", { cache: "no-store" });
        if (res.ok && (await res.text()) !== version) location.reload();
      } catch (err) { /* the viewer stopped: keep what is shown */ }
    }, every);
  }

  start();
  poll();
})();
