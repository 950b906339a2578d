// The manager's pages: reassign a lead with a reason through the REST API, and selects that
// submit their form when changed (team picker, grade table).
"use strict";
(function () {
  const dialog = document.getElementById("reassign-dialog");

  document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
    select.addEventListener("change", () => select.form && select.form.submit());
  });

  if (!dialog) return;
  const form = dialog.querySelector("form");
  const error = dialog.querySelector('[data-test="reassign-error"]');
  const leadLabel = dialog.querySelector('[data-test="reassign-lead"]');
  const to = form.elements.to;
  const reason = form.elements.reason;
  const submit = dialog.querySelector('[data-test="reassign-submit"]');
  let lead = null;

  function showError(message) {
    error.textContent = message;
    error.hidden = !message;
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest('[data-test="reassign-open"]');
    if (!button) return;
    lead = button.dataset.lead;
    leadLabel.textContent = lead;
    showError("");
    reason.value = "";
    // The current owner is not a choice: reassigning to them is refused anyway.
    Array.from(to.options).forEach((o) => { o.disabled = !!o.value && o.value === button.dataset.owner; });
    to.value = "";
    if (typeof dialog.showModal === "function") dialog.showModal(); else dialog.setAttribute("open", "");
    to.focus();
  });

  dialog.querySelector('[data-test="reassign-cancel"]').addEventListener("click", () => dialog.close());

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!to.value || !reason.value.trim()) {
      showError(document.body.dataset.lang === "zh" ? "请选择销售并填写原因。" : "Choose a rep and give a reason.");
      return;
    }
    submit.disabled = true;
    showError("");
    try {
      const answer = await window.fenpei.api("POST", "/assignments/reassign", { leads: [lead], to: to.value, reason: reason.value.trim() });
      if (answer.ok) {
        dialog.close();
        window.location.reload();
        return;
      }
      const err = answer.data && answer.data.error;
      // The problems' own messages (without their JSON paths) read best in a dialog.
      const problems = err && err.problems && err.problems.length ? err.problems.map((p) => p.message).join(" ") : null;
      showError(problems || (err ? err.message : "HTTP " + answer.status));
    } catch (e) {
      showError(String(e));
    } finally {
      submit.disabled = false;
    }
  });
})();
