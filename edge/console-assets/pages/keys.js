// Keys: the list (hint, group, restrictions, spend against its cap, last use), create with every
// restriction of CONTRACT §5 (the secret shown once), edit, and revoke after a confirmation.

import { ApiError, admin } from "../api.js";
import { clear, copyText, field, h, int, notice, table, usd, when } from "../dom.js";

const WINDOWS = [
  ["requests_5h", "5 h"],
  ["requests_24h", "24 h"],
  ["requests_7d", "7 d"],
];
const INTEGER_FIELDS = ["rpm", "tpm", "requests_5h", "requests_24h", "requests_7d"];
const LIST_FIELDS = ["ip_allow", "ip_deny"];

function list(text) {
  return text.split(/[\s,]+/).filter(Boolean);
}

function chip(text, kind = "", title = null) {
  return h("span", { class: `chip ${kind}`.trim(), title }, text);
}

function restrictions(key) {
  const chips = [];
  if (key.rpm) chips.push(chip(`${int(key.rpm)} rpm`));
  if (key.tpm) chips.push(chip(`${int(key.tpm)} tpm`));
  for (const [name, label] of WINDOWS) if (key[name]) chips.push(chip(`${int(key[name])} / ${label}`));
  if (key.expires_at) chips.push(chip(`${key.expired ? "expired" : "expires"} ${when(key.expires_at).slice(0, 16)}`, key.expired ? "bad" : ""));
  if (key.ip_allow?.length) chips.push(chip(`allow ${key.ip_allow.join(", ")}`));
  if (key.ip_deny?.length) chips.push(chip(`deny ${key.ip_deny.join(", ")}`));
  if (key.models?.length) {
    const shown = key.models.slice(0, 3).join(", ");
    chips.push(chip(`models: ${shown}${key.models.length > 3 ? ` +${key.models.length - 3}` : ""}`, "", key.models.join(", ")));
  }
  return chips.length ? h("div", { class: "chips" }, chips) : h("span", { class: "muted" }, "none");
}

function spend(key) {
  if (!key.spend_cap_usd) return h("span", {}, usd(key.spend_usd), h("small", { class: "muted" }, " no cap"));
  const share = Math.min(1, key.spend_usd / key.spend_cap_usd);
  return h(
    "div",
    { class: "spend" },
    h("span", {}, `${usd(key.spend_usd)} of ${usd(key.spend_cap_usd)}`),
    h("meter", { min: 0, max: 1, low: 0.7, high: 0.9, optimum: 0, value: share, "aria-label": `spend of ${key.name} against its cap` }),
  );
}

function state(key) {
  if (key.revoked) return chip("revoked", "bad");
  if (key.expired) return chip("expired", "bad");
  return chip("active", "ok");
}

export async function render(root, ctx) {
  const listBox = h("div", { id: "keys-list" }, notice("Loading…"));
  const createButton = h("button", { type: "button", class: "primary", id: "create-key" }, "Create key");
  const editor = keyEditor(ctx, () => refresh());
  const secret = secretDialog(ctx);
  const revoke = revokeDialog(() => refresh());
  root.append(h("div", { class: "toolbar" }, createButton), listBox, editor.dialog, secret.dialog, revoke.dialog);
  editor.onCreated = (created) => secret.show(created);
  createButton.addEventListener("click", () => editor.open(null));

  const refresh = async () => {
    try {
      const keys = (await admin("/keys")).data;
      const actions = (key) => {
        if (key.revoked) return h("span", { class: "muted" }, "—");
        if (key.source === "config") return h("span", { class: "muted", title: "Change it in the config file" }, "config file");
        return h(
          "div",
          { class: "row-actions" },
          h("button", { type: "button", class: "small", onclick: () => editor.open(key), "aria-label": `Edit ${key.name}` }, "Edit"),
          h("button", { type: "button", class: "small danger", onclick: () => revoke.open(key), "aria-label": `Revoke ${key.name}` }, "Revoke"),
        );
      };
      clear(
        listBox,
        table(
          [
            { key: "name", label: "Name", cell: (k) => h("span", { class: "key-name" }, k.name) },
            { key: "hint", label: "Key", cell: (k) => h("code", {}, k.key_hint) },
            { key: "group", label: "Group", cell: (k) => k.group },
            { key: "restrictions", label: "Restrictions", cell: restrictions },
            { key: "spend", label: "Spend", cell: spend },
            { key: "last_used", label: "Last used (UTC)", cell: (k) => when(k.last_used_at) },
            { key: "state", label: "Status", cell: state },
            { key: "actions", label: "Actions", cell: actions },
          ],
          keys,
          { id: "keys-table", empty: "No keys yet: create one." },
        ),
      );
      for (const row of listBox.querySelectorAll("tbody tr")) {
        const name = row.querySelector(".key-name");
        if (name) row.dataset.key = name.textContent;
      }
    } catch (error) {
      clear(listBox, notice(error.message, "error"));
    }
  };
  await refresh();
}

/** The create/edit form in a modal dialog. */
function keyEditor(ctx, refresh) {
  const inputs = {
    name: h("input", { name: "name", autocomplete: "off", spellcheck: "false", pattern: "[A-Za-z0-9_.\\-]{1,64}", placeholder: "generated when left empty" }),
    group: h("select", { name: "group", required: true }),
    rpm: h("input", { name: "rpm", type: "number", min: 0, step: 1, inputmode: "numeric" }),
    tpm: h("input", { name: "tpm", type: "number", min: 0, step: 1, inputmode: "numeric" }),
    spend_cap_usd: h("input", { name: "spend_cap_usd", type: "number", min: 0, step: "any", inputmode: "decimal" }),
    requests_5h: h("input", { name: "requests_5h", type: "number", min: 0, step: 1 }),
    requests_24h: h("input", { name: "requests_24h", type: "number", min: 0, step: 1 }),
    requests_7d: h("input", { name: "requests_7d", type: "number", min: 0, step: 1 }),
    expires_at: h("input", { name: "expires_at", type: "datetime-local" }),
    expires_in_days: h("input", { name: "expires_in_days", type: "number", min: 1, step: "any" }),
    ip_allow: h("textarea", { name: "ip_allow", rows: 2, spellcheck: "false", placeholder: "203.0.113.0/24, 2001:db8::/32" }),
    ip_deny: h("textarea", { name: "ip_deny", rows: 2, spellcheck: "false" }),
    other_models: h("input", { name: "other_models", spellcheck: "false", placeholder: "ids not listed above, comma-separated" }),
  };
  for (const [name, input] of Object.entries(inputs)) input.id = `key-${name.replaceAll("_", "-")}`;
  const modelBox = h("div", { class: "model-choices", id: "key-models" });
  const title = h("h2", { id: "key-dialog-title" });
  const formError = h("p", { class: "field-error", role: "alert", id: "key-form-error" });
  const submit = h("button", { type: "submit", class: "primary", id: "key-submit" });
  const cancel = h("button", { type: "button" }, "Cancel");
  const nameField = field("Name", inputs.name, "letters, digits, . _ -");
  const groupField = field("Group", inputs.group);
  const daysField = field("or expires in (days)", inputs.expires_in_days);
  const form = h(
    "form",
    { class: "key-form", novalidate: true },
    title,
    h("div", { class: "grid2" }, nameField, groupField),
    h("fieldset", {}, h("legend", {}, "Rate limits (per minute)"), h("div", { class: "grid2" }, field("Requests (rpm)", inputs.rpm), field("Tokens (tpm)", inputs.tpm))),
    h(
      "fieldset",
      {},
      h("legend", {}, "Request windows (sliding)"),
      h("div", { class: "grid3" }, field("per 5 hours", inputs.requests_5h), field("per 24 hours", inputs.requests_24h), field("per 7 days", inputs.requests_7d)),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, "Spend and expiry"),
      h("div", { class: "grid3" }, field("Spend cap (USD)", inputs.spend_cap_usd), field("Expires at (UTC)", inputs.expires_at), daysField),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, "Client IPs (CIDR, IPv4 or IPv6)"),
      h("div", { class: "grid2" }, field("Allow only", inputs.ip_allow), field("Deny", inputs.ip_deny)),
    ),
    h("fieldset", {}, h("legend", {}, "Models (none ticked: every model of the group)"), modelBox, field("Other model ids", inputs.other_models)),
    formError,
    h("div", { class: "dialog-actions" }, cancel, submit),
  );
  const dialog = h("dialog", { id: "key-dialog", "aria-labelledby": "key-dialog-title" }, form);
  let editing = null;
  let initial = {}; // the form's values when an edit began: only what changed is sent
  let catalog = [];
  const editor = { dialog, onCreated: null };

  const showModels = (group, chosen) => {
    const ids = [...new Set(catalog.filter((m) => m.group === group).map((m) => m.id))];
    modelBox.replaceChildren(
      ...ids.map((id) =>
        h("label", { class: "check" }, h("input", { type: "checkbox", value: id, checked: chosen.includes(id) }), h("span", {}, id)),
      ),
    );
    if (!ids.length) modelBox.append(h("span", { class: "muted" }, "This group lists no models."));
    inputs.other_models.value = chosen.filter((id) => !ids.includes(id)).join(", ");
  };
  inputs.group.addEventListener("change", () => showModels(inputs.group.value, chosenModels()));

  const chosenModels = () => [
    ...[...modelBox.querySelectorAll("input:checked")].map((box) => box.value),
    ...list(inputs.other_models.value),
  ];

  const clearErrors = () => {
    formError.textContent = "";
    for (const node of form.querySelectorAll(".field-error")) if (node !== formError) node.textContent = "";
    for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  };

  editor.open = async (key) => {
    editing = key;
    clearErrors();
    form.reset();
    try {
      catalog = await ctx.models();
    } catch {
      catalog = [];
    }
    const groups = [...new Set(catalog.map((m) => m.group))];
    if (key && !groups.includes(key.group)) groups.push(key.group);
    inputs.group.replaceChildren(...groups.map((g) => h("option", { value: g }, g)));
    title.textContent = key ? `Edit key ${key.name}` : "Create a key";
    submit.textContent = key ? "Save changes" : "Create key";
    nameField.hidden = Boolean(key);
    inputs.group.disabled = Boolean(key);
    daysField.hidden = Boolean(key);
    if (key) {
      inputs.group.value = key.group;
      for (const name of [...INTEGER_FIELDS, "spend_cap_usd"]) inputs[name].value = key[name] ?? "";
      inputs.expires_at.value = key.expires_at ? key.expires_at.slice(0, 16) : "";
      for (const name of LIST_FIELDS) inputs[name].value = (key[name] || []).join("\n");
    }
    showModels(inputs.group.value, key?.models || []);
    initial = key ? values() : {};
    dialog.showModal();
    (key ? inputs.rpm : inputs.name).focus();
  };
  cancel.addEventListener("click", () => dialog.close());

  // every restriction as the form holds it (an empty field: null)
  const values = () => {
    const body = {};
    const number = (name) => (inputs[name].value === "" ? null : Number(inputs[name].value));
    for (const name of [...INTEGER_FIELDS, "spend_cap_usd"]) body[name] = number(name);
    body.expires_at = inputs.expires_at.value ? `${inputs.expires_at.value.slice(0, 16)}:00Z` : null;
    for (const name of LIST_FIELDS) {
      const found = list(inputs[name].value);
      body[name] = found.length ? found : null;
    }
    const models = chosenModels();
    body.models = models.length ? models : null;
    return body;
  };

  const payload = () => {
    const body = values();
    if (editing) {
      // a PATCH of what changed (null clears): an untouched expiry already past would be refused
      return Object.fromEntries(Object.entries(body).filter(([name, value]) => JSON.stringify(value) !== JSON.stringify(initial[name])));
    }
    body.group = inputs.group.value;
    if (inputs.name.value.trim()) body.name = inputs.name.value.trim();
    if (inputs.expires_in_days.value !== "") body.expires_in_days = Number(inputs.expires_in_days.value);
    // at creation an empty field is simply left out
    return Object.fromEntries(Object.entries(body).filter(([, value]) => value !== null));
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    submit.disabled = true;
    try {
      if (editing) {
        const changes = payload();
        if (Object.keys(changes).length) {
          await admin(`/keys/${encodeURIComponent(editing.name)}`, { method: "PATCH", body: changes });
        }
        dialog.close();
      } else {
        const created = await admin("/keys", { method: "POST", body: payload() });
        dialog.close();
        editor.onCreated?.(created);
      }
      await refresh();
    } catch (error) {
      showError(error);
    } finally {
      submit.disabled = false;
    }
  });

  const showError = (error) => {
    const param = error instanceof ApiError && error.param ? String(error.param).split(/[[.]/)[0] : null;
    const input = param && inputs[param === "models" ? "other_models" : param];
    if (input && !input.closest("[hidden]")) {
      input.setAttribute("aria-invalid", "true");
      document.getElementById(`${input.id}-error`).textContent = error.message;
      input.focus();
    }
    formError.textContent = error.message;
  };
  return editor;
}

/** The secret of a new key, shown once: copied or not, it is gone when the dialog closes. */
function secretDialog(ctx) {
  const code = h("code", { id: "new-secret", class: "secret" });
  const copy = h("button", { type: "button", id: "copy-secret" }, "Copy");
  const toPlayground = h("button", { type: "button", id: "secret-to-playground" }, "Try it in the playground");
  const done = h("button", { type: "button", class: "primary" }, "Done");
  const summary = h("p", { id: "new-key-summary" });
  const dialog = h(
    "dialog",
    { id: "secret-dialog", "aria-labelledby": "secret-title" },
    h("h2", { id: "secret-title" }, "Key created"),
    summary,
    h("p", { class: "warning" }, "Copy the secret now: it is shown this once and cannot be read again."),
    h("div", { class: "secret-row" }, code, copy),
    h("div", { class: "dialog-actions" }, toPlayground, done),
  );
  dialog.addEventListener("close", () => (code.textContent = ""));
  copy.addEventListener("click", () => copyText(code.textContent, copy));
  done.addEventListener("click", () => dialog.close());
  toPlayground.addEventListener("click", () => {
    ctx.playground.key = code.textContent;
    ctx.playground.models = null;
    dialog.close();
    location.hash = "#/playground";
  });
  return {
    dialog,
    show(created) {
      summary.textContent = `${created.key.name} (${created.key.key_hint}) in group ${created.key.group}.`;
      code.textContent = created.secret;
      dialog.showModal();
      copy.focus();
    },
  };
}

function revokeDialog(refresh) {
  const text = h("p", { id: "revoke-text" });
  const error = h("p", { class: "field-error", role: "alert" });
  const confirm = h("button", { type: "button", class: "danger", id: "confirm-revoke" }, "Revoke key");
  const cancel = h("button", { type: "button" }, "Cancel");
  const dialog = h(
    "dialog",
    { id: "revoke-dialog", "aria-labelledby": "revoke-title" },
    h("h2", { id: "revoke-title" }, "Revoke this key?"),
    text,
    error,
    h("div", { class: "dialog-actions" }, cancel, confirm),
  );
  let target = null;
  cancel.addEventListener("click", () => dialog.close());
  confirm.addEventListener("click", async () => {
    confirm.disabled = true;
    try {
      await admin(`/keys/${encodeURIComponent(target.name)}`, { method: "DELETE" });
      dialog.close();
      await refresh();
    } catch (failure) {
      error.textContent = failure.message;
    } finally {
      confirm.disabled = false;
    }
  });
  return {
    dialog,
    open(key) {
      target = key;
      error.textContent = "";
      text.textContent = `Requests with ${key.name} (${key.key_hint}) will be refused with 401 from the next one on. This cannot be undone.`;
      dialog.showModal();
      cancel.focus();
    },
  };
}
