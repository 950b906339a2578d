// The template builder: the form generated from the template's schema and the YAML, kept in step
// through the server (POST /admin/templates/sync), validated as you type, with the located errors
// shown next to the YAML and next to the offending control. Saving, publishing, simulating and
// rolling back go to the REST API (window.fenpei.api).
"use strict";
(function () {
  const TEST_OPS = ["is set", "is not set", "is empty", "is not empty"];
  const LIST_OPS = ["in", "not in"];

  function csrf() { return window.fenpei ? window.fenpei.csrf() : ""; }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf(), "Accept-Language": document.body.dataset.lang === "zh" ? "zh-CN" : "en" },
      body: JSON.stringify(body),
    });
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    return { ok: response.ok, status: response.status, data };
  }

  function debounce(fn, ms) {
    let timer = null;
    return function (...args) { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
  }

  function errorText(result) {
    const err = result && result.data && result.data.error;
    if (!err) return "HTTP " + (result ? result.status : "?");
    const lines = [err.message];
    for (const p of err.problems || []) lines.push(typeof p === "string" ? p : ((p.path ? p.path + ": " : "") + p.message));
    return lines.join("\n");
  }

  // ---------------------------------------------------------------------------------------------
  // Reading the form back into the document
  // ---------------------------------------------------------------------------------------------

  function own(el, selector) {
    return Array.from(el.querySelectorAll(selector)).filter((x) => x.parentElement.closest(".sf-node") === el);
  }
  function childNode(wrapper) { return wrapper.querySelector(".sf-node"); }
  function input(el, role) { return el.querySelector(':scope > [data-role="' + role + '"]'); }

  function names() {
    const holder = document.getElementById("sf-names-data");
    if (!holder) return {};
    try { return JSON.parse(holder.textContent); } catch (e) { return {}; }
  }

  function isNumber(text) { return /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text.trim()); }

  function literal(text, kind) {
    const s = text.trim();
    if (kind === "number") return isNumber(s) ? Number(s) : s;
    if (kind === "boolean") return s === "true" ? true : s === "false" ? false : s;
    if (kind === "string" || kind === "list" || kind === "date" || kind === "datetime") return s;
    if (isNumber(s)) return Number(s);
    if (s === "true" || s === "false") return s === "true";
    return s;
  }

  function readRow(row, table) {
    const field = row.querySelector('[data-role="field"]').value.trim();
    const op = row.querySelector('[data-role="op"]').value;
    if (TEST_OPS.includes(op)) return { field, op };
    const rhs = row.querySelector('[data-role="rhs"]').value;
    const text = row.querySelector('[data-role="value"]').value;
    if (rhs === "field") return { field, op, ref: text.trim() };
    const info = table[field.replace(/^lead\./, "")] || {};
    if (LIST_OPS.includes(op)) {
      const kind = info.kind === "list" ? "string" : info.kind;
      return { field, op, value: text.split(",").map((x) => x.trim()).filter((x) => x !== "").map((x) => literal(x, kind)) };
    }
    return { field, op, value: literal(text, info.kind) };
  }

  function readCondItem(el, table) {
    if (el.classList.contains("cond-group")) return readGroup(el, table);
    if (el.classList.contains("cond-row")) return readRow(el, table);
    if (el.classList.contains("cond-expr")) {
      const text = el.querySelector('[data-role="value"]').value;
      return el.dataset.plain === "1" ? text : { expr: text };
    }
    return readNode(el, table);
  }

  function readGroup(group, table) {
    const items = Array.from(group.querySelector(":scope > .cond-items").children).map((x) => readCondItem(x, table));
    const join = group.querySelector(':scope > .cond-head [data-role="join"]').value;
    const negate = group.querySelector(':scope > .cond-head [data-role="negate"]').checked;
    const inner = items.length === 1 && join === "all" ? items[0] : { [join]: items };
    return negate ? { not: inner } : inner;
  }

  function readNode(el, table) {
    switch (el.dataset.kind) {
      case "object": {
        const out = {};
        for (const w of own(el, ".sf-prop")) {
          const child = childNode(w);
          if (child) out[w.dataset.key] = readNode(child, table);
        }
        return out;
      }
      case "map": {
        const out = {};
        for (const w of own(el, ".sf-entry")) {
          const key = w.querySelector('[data-role="key"]').value.trim();
          const child = childNode(w);
          if (child) out[key] = readNode(child, table);
        }
        return out;
      }
      case "array":
        return own(el, ".sf-item").map((w) => readNode(childNode(w), table));
      case "choice": {
        const child = el.querySelector(":scope > .sf-node");
        return child ? readNode(child, table) : null;
      }
      case "const":
        return JSON.parse(el.dataset.json);
      case "enum": {
        const select = input(el, "value");
        return JSON.parse(el.dataset.enum)[select.selectedIndex];
      }
      case "enumset":
        return Array.from(el.querySelectorAll('[data-role="member"]')).filter((x) => x.checked).map((x) => JSON.parse(x.dataset.json));
      case "boolean":
        return el.querySelector('[data-role="value"]').checked;
      case "number":
      case "integer": {
        const text = input(el, "value").value.trim();
        return text !== "" && isFinite(Number(text)) ? Number(text) : text;
      }
      case "string":
        return input(el, "value").value;
      case "condition": {
        if (el.dataset.mode === "text") return input(el, "value").value;
        const group = el.querySelector(":scope > .cond-group");
        return group ? readGroup(group, table) : "";
      }
      default: {
        const text = el.querySelector('[data-role="value"]').value;
        try { return JSON.parse(text); } catch (e) { return text; }
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The builder page
  // ---------------------------------------------------------------------------------------------

  function builder(root) {
    const form = document.getElementById("schema-form");
    const yaml = document.getElementById("yaml");
    const problemsList = document.getElementById("problems");
    const status = document.getElementById("validation-status");
    const dirty = document.getElementById("dirty");
    const result = document.getElementById("action-result");
    const msg = root.dataset;
    let seq = 0;
    let shown = 0;
    let valid = false;

    function serialise() {
      const top = form.querySelector(".sf-root");
      return top ? readNode(top, names()) : {};
    }

    function say(text, bad) {
      result.textContent = text;
      result.classList.toggle("error", !!bad);
    }

    function markDirty() { dirty.textContent = msg.msgUnsaved; }

    function openStates() {
      const open = new Set();
      for (const d of form.querySelectorAll("details[open]")) open.add(d.dataset.ptr || "section:" + d.dataset.section);
      return open;
    }

    function restoreOpen(open) {
      for (const d of form.querySelectorAll("details")) {
        const key = d.dataset.ptr || "section:" + d.dataset.section;
        if (open.has(key)) d.open = true;
      }
    }

    function openAncestors(el) {
      for (let d = el.closest("details"); d; d = d.parentElement.closest("details")) d.open = true;
    }

    function sections(open) {
      return Array.from(open).filter((k) => k.startsWith("section:")).map((k) => k.slice(8));
    }

    function bestNode(path) {
      if (!path) return null;
      let best = null;
      let bestLen = -1;
      for (const el of form.querySelectorAll("[data-path]")) {
        const p = el.dataset.path;
        if ((path === p || path.startsWith(p + ".") || path.startsWith(p + "[")) && p.length > bestLen) {
          best = el;
          bestLen = p.length;
        }
      }
      return best;
    }

    function showProblems(problems) {
      problemsList.textContent = "";
      for (const el of form.querySelectorAll(".field-error")) el.remove();
      for (const el of form.querySelectorAll(".invalid")) el.classList.remove("invalid");
      for (const el of form.querySelectorAll(".has-error")) el.classList.remove("has-error");
      for (const p of problems) {
        const li = document.createElement("li");
        li.dataset.line = p.line || "";
        li.dataset.path = p.path || "";
        const button = document.createElement("button");
        button.type = "button";
        button.className = "link";
        button.textContent = (p.line ? msg.msgLine + " " + p.line + msg.msgLineSuffix + " " : "") + (p.path || "");
        li.append(button, " ", p.message);
        problemsList.append(li);
        const target = bestNode(p.path);
        if (target) {
          const note = document.createElement("p");
          note.className = "field-error";
          note.dataset.test = "form-error";
          note.dataset.path = p.path || "";
          note.setAttribute("role", "alert");
          note.textContent = (p.line ? msg.msgLine + " " + p.line + msg.msgLineSuffix + " · " : "") + p.message;
          const host = target.tagName === "SUMMARY" ? target.parentElement : target;
          host.classList.add("invalid");
          if (target.tagName === "SUMMARY") target.after(note); else target.append(note);
          for (let d = host.closest("details"); d; d = d.parentElement.closest("details")) {
            const s = d.querySelector(":scope > summary");
            if (s) s.classList.add("has-error");
          }
        }
      }
      valid = problems.length === 0;
      status.textContent = valid ? "✓ " + msg.msgValid : "✗ " + problems.length + " " + (problems.length === 1 ? msg.msgProblem : msg.msgProblems);
      status.className = "status " + (valid ? "ok" : "bad");
      status.dataset.valid = valid ? "true" : "false";
    }

    async function sync(body, after) {
      const mine = ++seq;
      const open = openStates();
      body.open = sections(open);
      const answer = await post(root.dataset.sync, body);
      if (mine < shown) return answer;
      shown = mine;
      if (!answer.ok) {
        say(errorText(answer), true);
        return answer;
      }
      const data = answer.data;
      if ("document" in body || "action" in body) {
        if (document.activeElement !== yaml) yaml.value = data.source;
      }
      if (data.form !== undefined) {
        form.innerHTML = data.form;
        restoreOpen(open);
        if (after) after();
      }
      showProblems(data.problems || []);
      return answer;
    }

    const fromForm = debounce(() => { markDirty(); sync({ document: serialise() }); }, 350);
    const fromYaml = debounce(() => { markDirty(); sync({ source: yaml.value, render: true }); }, 500);

    form.addEventListener("input", (event) => {
      const role = event.target.dataset.role;
      if (role === "new-key" || event.target.dataset.action) return;
      fromForm();
    });
    form.addEventListener("change", (event) => {
      const t = event.target;
      if (t.dataset.role === "op") {
        const row = t.closest(".cond-row");
        const test = TEST_OPS.includes(t.value);
        row.querySelector('[data-role="rhs"]').classList.toggle("hidden", test);
        row.querySelector('[data-role="value"]').classList.toggle("hidden", test);
      }
      if (t.dataset.role === "key") { markDirty(); sync({ document: serialise(), render: true }); return; }
      if (t.tagName === "SELECT" && t.dataset.action) {
        if (t.value === "") return;
        const action = { op: t.dataset.action, ptr: JSON.parse(t.dataset.ptr) };
        if (action.op === "add-prop") action.key = t.value;
        if (action.op === "variant") action.variant = Number(t.value);
        act(action);
      }
    });
    form.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-action]");
      if (!button || !form.contains(button)) return;
      event.preventDefault();
      const action = { op: button.dataset.action, ptr: JSON.parse(button.dataset.ptr) };
      if (button.dataset.key) action.key = button.dataset.key;
      if (button.dataset.by) action.by = Number(button.dataset.by);
      if (button.dataset.mode) action.mode = button.dataset.mode;
      if (button.dataset.what) action.what = button.dataset.what;
      if (action.op === "add-entry") {
        const holder = button.closest(".sf-add-entry");
        action.key = holder.querySelector('[data-role="new-key"]').value.trim();
      }
      act(action);
    });
    form.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && event.target.dataset.role === "new-key") {
        event.preventDefault();
        event.target.closest(".sf-add-entry").querySelector("button").click();
      }
    });

    async function act(action) {
      markDirty();
      const ptrText = JSON.stringify(action.ptr);
      const answer = await sync({ document: serialise(), action }, () => {
        // Open what the action made, so the admin sees it.
        let target = null;
        if (action.op === "add-item") {
          const list = form.querySelector('.sf-node[data-ptr=\'' + ptrText.replace(/'/g, "\\'") + '\']');
          const items = list ? own(list, ".sf-item") : [];
          target = items.length ? items[items.length - 1] : null;
        } else if (action.op === "add-entry" || action.op === "add-prop") {
          const path = JSON.stringify(action.ptr.concat([action.key]));
          target = Array.from(form.querySelectorAll("[data-ptr]")).find((el) => el.dataset.ptr === path) || null;
        } else {
          target = Array.from(form.querySelectorAll("[data-ptr]")).find((el) => el.dataset.ptr === ptrText) || null;
        }
        if (target) {
          openAncestors(target);
          const d = target.querySelector("details");
          if (d && action.op === "add-item") d.open = true;
          const focusable = target.querySelector("input:not([type=hidden]), select, textarea");
          if (focusable && action.op !== "remove") focusable.focus();
        }
      });
      if (answer.ok) say("");
    }

    yaml.addEventListener("input", fromYaml);
    yaml.addEventListener("keydown", (event) => {
      if (event.key === "Tab" && !event.shiftKey) {
        event.preventDefault();
        const s = yaml.selectionStart;
        yaml.setRangeText("  ", s, yaml.selectionEnd, "end");
        fromYaml();
      }
    });

    problemsList.addEventListener("click", (event) => {
      const li = event.target.closest("li");
      if (!li) return;
      const line = Number(li.dataset.line);
      if (line) {
        const lines = yaml.value.split("\n");
        let start = 0;
        for (let i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
        const end = start + (lines[line - 1] || "").length;
        yaml.focus();
        yaml.setSelectionRange(start, end);
        const lineHeight = parseFloat(getComputedStyle(yaml).lineHeight) || 18;
        yaml.scrollTop = Math.max(0, (line - 4) * lineHeight);
      }
      const target = bestNode(li.dataset.path);
      if (target) {
        openAncestors(target);
        if (target.tagName === "SUMMARY") target.parentElement.open = true;
        target.scrollIntoView({ block: "center" });
      }
    });

    // Tabs on a phone: one pane at a time.
    const panes = root.querySelector(".panes");
    for (const tab of root.querySelectorAll(".pane-tabs [data-pane]")) {
      tab.addEventListener("click", () => {
        panes.classList.toggle("show-form", tab.dataset.pane === "form");
        panes.classList.toggle("show-yaml", tab.dataset.pane === "yaml");
        for (const other of root.querySelectorAll(".pane-tabs [data-pane]")) other.setAttribute("aria-selected", other === tab ? "true" : "false");
      });
    }

    async function saveDraft() {
      const answer = await window.fenpei.api("PUT", "/templates/draft", { source: yaml.value });
      if (!answer.ok) {
        say(errorText(answer), true);
        return null;
      }
      dirty.textContent = "";
      say(msg.msgSaved);
      return answer.data.name;
    }

    document.getElementById("save-draft").addEventListener("click", saveDraft);

    document.getElementById("publish").addEventListener("click", async () => {
      say(msg.msgWorking);
      const name = await saveDraft();
      if (!name) return;
      const note = document.getElementById("publish-note").value.trim();
      const answer = await window.fenpei.api("POST", "/templates/" + encodeURIComponent(name) + "/publish", note ? { note } : {});
      if (!answer.ok) { say(errorText(answer), true); return; }
      result.textContent = "";
      result.classList.remove("error");
      const text = document.createElement("span");
      text.dataset.test = "publish-result";
      text.dataset.version = answer.data.version;
      text.textContent = msg.msgPublished + " " + answer.data.version + msg.msgVersionSuffix + ". ";
      const link = document.createElement("a");
      link.href = root.dataset.versions.replace("/" + encodeURIComponent(root.dataset.name) + "/", "/" + encodeURIComponent(name) + "/");
      link.textContent = msg.msgHistory;
      link.dataset.test = "publish-versions-link";
      result.append(text, link);
    });

    document.getElementById("compare").addEventListener("click", async () => {
      const panel = document.getElementById("compare-panel");
      const out = document.getElementById("compare-results");
      panel.classList.remove("hidden");
      out.textContent = msg.msgWorking;
      const answer = await post(root.dataset.compare, { source: yaml.value });
      if (!answer.ok) { out.textContent = errorText(answer); out.classList.add("error"); return; }
      out.classList.remove("error");
      out.innerHTML = answer.data.html;
      panel.scrollIntoView({ block: "start" });
    });

    document.getElementById("open-simulate").addEventListener("click", () => {
      const panel = document.getElementById("simulate-panel");
      panel.classList.remove("hidden");
      panel.scrollIntoView({ block: "start" });
    });

    document.getElementById("sim-run").addEventListener("click", async () => {
      const out = document.getElementById("sim-results");
      out.classList.remove("error");
      out.textContent = msg.msgWorking;
      const source = (document.querySelector('input[name="sim-source"]:checked') || {}).value || "sample";
      const body = { source: yaml.value, keep_owners: document.getElementById("sim-keep-owners").checked };
      if (source === "upload") {
        const file = document.getElementById("sim-file").files[0];
        if (!file) { out.textContent = msg.msgNofile; out.classList.add("error"); return; }
        body.csv = await file.text();
      }
      const leads = await post(root.dataset.leads, body);
      if (!leads.ok) { out.textContent = errorText(leads); out.classList.add("error"); return; }
      const team = document.getElementById("sim-team").value;
      const nowField = document.getElementById("sim-now").value.trim();
      const run = { source: yaml.value, leads: leads.data.leads };
      if (nowField) run.now = nowField;
      const sim = await window.fenpei.api("POST", "/teams/" + encodeURIComponent(team) + "/simulate", run);
      if (!sim.ok) { out.textContent = errorText(sim); out.classList.add("error"); return; }
      const view = await post(root.dataset.simulation, { summary: sim.data.summary, leads: sim.data.leads });
      if (!view.ok) { out.textContent = errorText(view); out.classList.add("error"); return; }
      out.innerHTML = view.data.html;
      if (leads.data.skipped) {
        const note = document.createElement("p");
        note.className = "muted";
        note.textContent = leads.data.skipped + " " + msg.msgSkipped + ": " + (leads.data.problems || []).slice(0, 5).join("; ");
        out.prepend(note);
      }
    });

    // The page starts with the server's problems (rendered in the list): mark the form too.
    const initial = Array.from(problemsList.querySelectorAll("li")).map((li) => ({ line: Number(li.dataset.line) || null, path: li.dataset.path || null, message: li.lastChild.textContent.trim() }));
    showProblems(initial);
  }

  // ---------------------------------------------------------------------------------------------
  // Versions page: rollback through the API
  // ---------------------------------------------------------------------------------------------

  function versions(root) {
    const name = root.dataset.name;
    for (const button of document.querySelectorAll("[data-rollback]")) {
      button.addEventListener("click", async () => {
        const note = document.getElementById("rollback-note").value.trim();
        const body = { version: Number(button.dataset.rollback) };
        if (note) body.note = note;
        const answer = await window.fenpei.api("POST", "/templates/" + encodeURIComponent(name) + "/rollback", body);
        if (!answer.ok) {
          const err = document.getElementById("rollback-error");
          err.textContent = errorText(answer);
          err.classList.remove("hidden");
          return;
        }
        window.location.reload();
      });
    }
  }

  function start() {
    const b = document.getElementById("builder");
    if (b) builder(b);
    const v = document.getElementById("admin-versions");
    if (v) versions(v);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
  window.fenpeiAdmin = { readNode };
})();
