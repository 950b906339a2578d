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
