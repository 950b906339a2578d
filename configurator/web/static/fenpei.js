// Fenpei's pages: send JSON to the API with the session's CSRF token.
"use strict";
window.fenpei = {
  csrf() { const m = document.querySelector('meta[name="csrf-token"]'); return m ? m.content : ""; },
  async api(method, path, body) {
    const response = await fetch("/api/v1" + path, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": this.csrf(), "Accept-Language": document.body.dataset.lang === "zh" ? "zh-CN" : "en" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    return { ok: response.ok, status: response.status, data };
  },
};

// Generated forms: the server is the one evaluator. When a field some condition reads changes,
// the form's values go to its state URL; the answer says which fields show and which are
// required. On submit the same call returns each field's error; the form is sent only without
// errors (and is sent anyway if the call fails: the server checks it again).
(function () {
  function values(form) {
    const out = {};
    for (const el of form.elements) {
      if (!el.name || el.name === "csrf_token" || el.name === "revision" || el.type === "submit") continue;
      if ((el.type === "checkbox" || el.type === "radio") && !el.checked) continue;
      (out[el.name] = out[el.name] || []).push(el.value);
    }
    form.querySelectorAll("[data-field]").forEach((el) => { if (!(el.dataset.field in out)) out[el.dataset.field] = []; });
    return out;
  }
  function showErrors(form, errors) {
    form.querySelectorAll("p.field-error[data-error-for]").forEach((p) => {
      const message = errors[p.dataset.errorFor];
      p.textContent = message || "";
      p.hidden = !message;
      const wrap = p.closest("[data-field]");
      if (wrap) wrap.classList.toggle("invalid", Boolean(message));
    });
  }
  function apply(form, state) {
    const visible = new Set(state.visible), required = new Set(state.required);
    form.querySelectorAll("[data-field]").forEach((wrap) => {
      const name = wrap.dataset.field, show = visible.has(name);
      wrap.hidden = !show;
      wrap.classList.toggle("required", required.has(name));
      wrap.querySelectorAll("input, select, textarea").forEach((c) => {
        c.disabled = !show;
        if (c.type !== "hidden") { if (required.has(name)) c.setAttribute("aria-required", "true"); else c.removeAttribute("aria-required"); }
      });
    });
  }
  async function ask(form, submit) {
    const response = await fetch(form.dataset.stateUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": window.fenpei.csrf() },
      body: JSON.stringify({ values: values(form), lead: form.dataset.lead || null, submit }),
    });
    if (!response.ok) throw new Error("state " + response.status);
    return response.json();
  }
  function wire(form) {
    const watched = new Set((form.dataset.watch || "").split(" ").filter(Boolean));
    let seq = 0, timer = null;
    const refresh = () => {
      const mine = ++seq;
      ask(form, false).then((state) => { if (mine === seq) { apply(form, state); form.dataset.stateReady = String(mine); } }).catch(() => {});
    };
    form.addEventListener("change", (e) => {
      if (e.target.name && watched.has(e.target.name)) { clearTimeout(timer); timer = setTimeout(refresh, 60); }
    });
    form.addEventListener("input", (e) => {
      const wrap = e.target.closest && e.target.closest("[data-field]");
      if (wrap) { const p = wrap.querySelector("p.field-error"); if (p && !p.hidden) { p.hidden = true; wrap.classList.remove("invalid"); } }
    });
    form.addEventListener("submit", (e) => {
      if (form.dataset.checked === "1") return;
      e.preventDefault();
      form.classList.add("busy");
      const mine = ++seq;
      ask(form, true).then((state) => {
        form.classList.remove("busy");
        if (mine !== seq) return;
        apply(form, state);
        showErrors(form, state.errors || {});
        const first = Object.keys(state.errors || {})[0];
        if (first) { const el = form.querySelector('[data-field="' + first + '"] input, [data-field="' + first + '"] select, [data-field="' + first + '"] textarea'); if (el) el.focus(); return; }
        form.dataset.checked = "1";
        form.submit();
      }).catch(() => { form.dataset.checked = "1"; form.submit(); });
    });
  }
  // Claims and handover acknowledgements go to the API; the reason of a refusal shows by the button.
  function apiProblem(result) {
    const error = result.data && result.data.error;
    if (!error) return "HTTP " + result.status;
    return (error.problems && error.problems[0] && error.problems[0].message) || error.message;
  }
  function wireClaim(form) {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const id = form.dataset.claim;
      const slot = document.querySelector('[data-claim-refusal-for="' + id + '"]');
      const result = await window.fenpei.api("POST", "/pool/claim", { leads: [id] });
      if (result.ok) { window.location.href = "/rep/leads/" + encodeURIComponent(id); return; }
      if (slot) { slot.textContent = apiProblem(result); slot.hidden = false; }
    });
  }
  function wireAck(form) {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const slot = form.querySelector("[data-test=ack-error]");
      const result = await window.fenpei.api("POST", "/handovers/" + form.dataset.ack + "/ack");
      if (result.ok) { window.location.href = "/rep/leads/" + encodeURIComponent(form.dataset.lead); return; }
      if (slot) { slot.textContent = apiProblem(result); slot.hidden = false; }
    });
  }
  function start() {
    document.querySelectorAll("form.fenpei-form[data-state-url]").forEach(wire);
    document.querySelectorAll("form.claim[data-claim]").forEach(wireClaim);
    document.querySelectorAll("form.ack[data-ack]").forEach(wireAck);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
