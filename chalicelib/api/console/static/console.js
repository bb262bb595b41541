// one2one console: forms marked data-api call the admin JSON API (with the session cookie) and say what happened.
// data-api: path, {name} filled from the form's field; data-method; data-body="segment" builds a segment definition
// ({description, rule}); otherwise the body is the form's non-empty fields (data-type="int" for numbers).
"use strict";

function describe(status, body) {
  if (body && body.message) return `${status}: ${body.message}` + (body.field ? ` (field: ${body.field})` : "");
  if (body && body.error) return `${status}: ${body.error}`;
  return `${status}: the request failed`;
}

function bodyOf(form) {
  const fields = Object.fromEntries(new FormData(form).entries());
  if (form.dataset.body === "segment") {
    let rule;
    try {
      rule = JSON.parse(fields.rule);
    } catch (error) {
      throw new Error(`the rule is not valid JSON: ${error.message}`);
    }
    return { description: fields.description || "", rule };
  }
  const out = {};
  for (const [name, value] of Object.entries(fields)) {
    if (value === "") continue;
    const input = form.elements.namedItem(name);
    out[name] = input && input.dataset && input.dataset.type === "int" ? Number(value) : value;
  }
  return out;
}

function summary(body) {
  if (!body || typeof body !== "object") return "";
  const parts = [];
  if (body.version !== undefined) parts.push(`version ${body.version}`);
  if (body.backfill_job) parts.push(`backfill ${body.backfill_job}`);
  for (const key of ["examined", "refolded", "reingested", "still_refused"]) {
    if (body[key] !== undefined) parts.push(`${key.replace("_", " ")}: ${body[key]}`);
  }
  for (const [why, count] of Object.entries(body.skipped || {})) parts.push(`skipped (${why}): ${count}`);
  return parts.join(", ");
}

async function submit(form, event) {
  event.preventDefault();
  const result = form.querySelector("[data-result]");
  const button = form.querySelector("button[type=submit]");
  result.classList.remove("bad");
  let payload;
  try {
    payload = bodyOf(form);
  } catch (error) {
    result.classList.add("bad");
    result.textContent = error.message;
    return;
  }
  const fields = Object.fromEntries(new FormData(form).entries());
  const path = form.dataset.api.replace(/\{(\w+)\}/g, (_, name) => encodeURIComponent(fields[name] || ""));
  button.disabled = true;
  result.textContent = "Working…";
  try {
    const response = await fetch(document.body.dataset.root + path, {
      method: form.dataset.method || "POST",
      headers: { "Content-Type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify(payload),
    });
    const body = await response.json().catch(() => null);
    if (response.ok) {
      const detail = summary(body);
      result.textContent = (form.dataset.success || "Done.") + (detail ? ` (${detail})` : "");
    } else {
      result.classList.add("bad");
      result.textContent = response.status === 401 ? "Your session has ended: reload the page to sign in again." : describe(response.status, body);
    }
  } catch (error) {
    result.classList.add("bad");
    result.textContent = `The API did not answer: ${error.message}`;
  } finally {
    button.disabled = false;
  }
}

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.api) submit(form, event);
});
