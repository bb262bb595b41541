// one2one console: forms marked data-api call the admin JSON API (with the session cookie) and say what happened.
// data-api: path, {name} filled from the form's field, sent to the console's own copy of that route (body data-api,
// the one the deployed Cognito authorizer guards); data-method; data-body: "segment" ({description, rule}),
// "broadcast", "test", "schedule", "file" (the chosen file as the body); otherwise the form's non-empty fields
// (data-type="int" for numbers). data-then: the console page to open with {field}s of the answer; data-reload.
// data-role: the least role that may submit it (a lower role sees it disabled; the server refuses it anyway).
// A session that ended keeps the edit: the form's fields go to sessionStorage, the sign-in page comes back here,
// and the draft is put back into the form.
"use strict";

const ROLES = ["viewer", "marketer", "admin"];
const DRAFTS = "one2one-console-drafts";

function describe(status, body) {
  if (body && body.message) return `${status}: ${body.message}` + (body.field ? ` (field: ${body.field})` : "");
  if (body && body.error) return `${status}: ${body.error}`;
  return `${status}: the request failed`;
}

function json(text, what) {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`the ${what} is not valid JSON: ${error.message}`);
  }
}

function bodyOf(form) {
  const fields = Object.fromEntries(new FormData(form).entries());
  const kind = form.dataset.body;
  if (kind === "segment") return { description: fields.description || "", rule: json(fields.rule, "rule") };
  if (kind === "file") return form.elements.namedItem("file").files[0] || null;
  if (kind === "broadcast") {
    const audience = fields.audience_kind === "rule" ? { rule: json(fields.rule, "rule") } : { segment: fields.segment };
    const out = { name: fields.name, channel: fields.channel, template: fields.template, audience };
    if (fields.topic) out.topic = fields.topic;
    return out;
  }
  if (kind === "test") {
    const out = { to: fields.to.split(",").map((s) => s.trim()).filter(Boolean) };
    if (fields.profile_id) out.profile_id = fields.profile_id;
    return out;
  }
  if (kind === "schedule") {
    if (fields.local) return { local_time: fields.time, date: fields.date };
    return { at: `${fields.date}T${fields.time}:00Z` };
  }
  const out = {};
  for (const [name, value] of Object.entries(fields)) {
    if (value === "" || value instanceof File) continue;
    const input = form.elements.namedItem(name);
    out[name] = input && input.dataset && input.dataset.type === "int" ? Number(value) : value;
  }
  return out;
}

function request(form, fields, payload) {
  const path = form.dataset.api.replace(/\{(\w+)\}/g, (_, name) => encodeURIComponent(fields[name] || ""));
  const url = document.body.dataset.api + path.replace(/^\/admin/, "");
  if (form.dataset.body === "file") {
    const query = new URLSearchParams({ kind: fields.kind, format: fields.format });
    if (fields.segment) query.set("segment", fields.segment);
    const type = fields.format === "csv" ? "text/csv" : "application/octet-stream";
    return fetch(`${url}?${query}`, { method: "POST", headers: { "Content-Type": type }, credentials: "same-origin", body: payload });
  }
  return fetch(url, {
    method: form.dataset.method || "POST",
    headers: { "Content-Type": "application/json" },
    credentials: "same-origin",
    body: JSON.stringify(payload),
  });
}

function formKey(form) {
  return `${location.pathname}#${form.id || form.dataset.api}`;
}

function keepDraft(form) {
  const drafts = JSON.parse(sessionStorage.getItem(DRAFTS) || "{}");
  const fields = {};
  for (const element of form.elements) {
    if (!element.name || element.type === "file" || element.type === "hidden") continue;
    fields[element.name] = element.type === "checkbox" || element.type === "radio" ? element.checked : element.value;
    if (element.type === "radio") fields[`${element.name}=${element.value}`] = element.checked;
  }
  drafts[formKey(form)] = fields;
  sessionStorage.setItem(DRAFTS, JSON.stringify(drafts));
}

function restoreDrafts() {
  const drafts = JSON.parse(sessionStorage.getItem(DRAFTS) || "{}");
  for (const form of document.querySelectorAll("form[data-api]")) {
    const fields = drafts[formKey(form)];
    if (!fields) continue;
    for (const element of form.elements) {
      if (!element.name || element.type === "file" || element.type === "hidden") continue;
      if (element.type === "radio") element.checked = Boolean(fields[`${element.name}=${element.value}`]);
      else if (element.type === "checkbox") element.checked = Boolean(fields[element.name]);
      else if (element.name in fields) element.value = fields[element.name];
    }
    delete drafts[formKey(form)];
    const result = form.querySelector("[data-result]");
    result.textContent = "Your session had ended: you are signed in again and your edit is back. Submit it again.";
  }
  sessionStorage.setItem(DRAFTS, JSON.stringify(drafts));
}

function signInAgain(form) {
  keepDraft(form);
  const next = location.pathname + location.search;
  location.assign(`${document.body.dataset.signIn}?next=${encodeURIComponent(next)}&expired=1`);
}

function gateByRole() {
  const mine = ROLES.indexOf(document.body.dataset.role);
  for (const form of document.querySelectorAll("form[data-role]")) {
    if (ROLES.indexOf(form.dataset.role) <= mine) continue;
    for (const element of form.elements) element.disabled = true;
    const result = form.querySelector("[data-result]");
    result.textContent = `Your role (${document.body.dataset.role || "none"}) cannot do this: it needs ${form.dataset.role}.`;
  }
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
  button.disabled = true;
  result.textContent = "Working…";
  try {
    const response = await request(form, fields, payload);
    const body = await response.json().catch(() => null);
    if (response.ok) {
      const detail = summary(body);
      result.textContent = (form.dataset.success || "Done.") + (detail ? ` (${detail})` : "");
      if (form.dataset.then && body) {
        const page = form.dataset.then.replace(/\{(\w+)\}/g, (_, name) => encodeURIComponent(body[name] || ""));
        location.assign(document.body.dataset.signIn.replace(/\/sign-in$/, "") + page);
      } else if (form.dataset.reload) {
        location.reload();
      }
    } else if (response.status === 401) {
      result.textContent = "Your session has ended: keeping your edit and signing you in again…";
      signInAgain(form);
    } else {
      result.classList.add("bad");
      result.textContent = describe(response.status, body);
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

restoreDrafts();
gateByRole();
