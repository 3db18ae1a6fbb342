// Usage: a date range with key and model filters, the per-model table, the request log page by
// page, and the CSV export of the same filters.

import { admin, filenameOf, query } from "../api.js";
import { clear, field, h, notice, table, utcDate } from "../dom.js";
import { MODEL_COLUMNS, REQUEST_COLUMNS } from "./records.js";

const PAGE_SIZE = 25;

function sum(rows, name) {
  return rows.reduce((total, row) => total + (row[name] || 0), 0);
}

export async function render(root, ctx) {
  const filters = ctx.usageFilters || { start: utcDate(6), end: utcDate(0), key: "", model: "" };
  const inputs = {
    start: h("input", { type: "date", id: "usage-start", value: filters.start, required: true }),
    end: h("input", { type: "date", id: "usage-end", value: filters.end, required: true }),
    key: h("input", { type: "search", id: "usage-key", list: "usage-keys", value: filters.key, placeholder: "every key" }),
    model: h("input", { type: "search", id: "usage-model", list: "usage-models", value: filters.model, placeholder: "every model" }),
  };
  const keyList = h("datalist", { id: "usage-keys" });
  const modelList = h("datalist", { id: "usage-models" });
  const exportButton = h("button", { type: "button", id: "export-csv" }, "Export CSV");
  const exportStatus = h("span", { class: "muted", role: "status", id: "export-status" });
  const form = h(
    "form",
    { class: "filters", id: "usage-filters" },
    field("From", inputs.start),
    field("To (inclusive)", inputs.end),
    field("Key", inputs.key),
    field("Model", inputs.model),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Apply"), exportButton, exportStatus),
    keyList,
    modelList,
  );
  const summary = h("div", { id: "usage-summary" }, notice("Loading…"));
  const log = h("div", { id: "usage-log" });
  root.append(form, h("h2", {}, "By model"), summary, h("h2", {}, "Requests"), log);

  // a newer load replaces an older one still in flight: only the latest may draw
  const latest = { summary: 0, log: 0 };
  const current = () => ({
    start: inputs.start.value,
    end: inputs.end.value,
    key: inputs.key.value.trim(),
    model: inputs.model.value.trim(),
  });
  const apply = async () => {
    ctx.usageFilters = current();
    await Promise.all([
      loadSummary(summary, ctx.usageFilters, modelList, latest),
      loadLog(log, ctx.usageFilters, [null], latest),
    ]);
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    apply();
  });
  exportButton.addEventListener("click", () => exportCsv(current(), exportButton, exportStatus));

  admin("/keys")
    .then((keys) => keyList.replaceChildren(...keys.data.map((k) => h("option", { value: k.name }))))
    .catch(() => {});
  await apply();
}

async function loadSummary(box, filters, modelList, latest) {
  const turn = ++latest.summary;
  try {
    const data = await admin(`/usage${query(filters)}`);
    if (turn !== latest.summary) return;
    const known = new Set([...modelList.options].map((o) => o.value));
    for (const row of data.models) if (!known.has(row.model)) modelList.append(h("option", { value: row.model }));
    const totals = data.totals;
    clear(
      box,
      table(MODEL_COLUMNS, data.models, {
        empty: "No requests match.",
        foot: (column) => (column.key === "model" ? "Total" : column.cell(totals)),
      }),
    );
  } catch (error) {
    if (turn === latest.summary) clear(box, notice(error.message, "error"));
  }
}

async function loadLog(box, filters, cursors, latest) {
  const turn = ++latest.log;
  const cursor = cursors[cursors.length - 1];
  try {
    const page = await admin(`/usage/requests${query({ ...filters, cursor, limit: PAGE_SIZE })}`);
    if (turn !== latest.log) return;
    const newer = h("button", { type: "button", disabled: cursors.length === 1 }, "← Newer");
    const older = h("button", { type: "button", disabled: !page.has_more }, "Older →");
    newer.addEventListener("click", () => loadLog(box, filters, cursors.slice(0, -1), latest));
    older.addEventListener("click", () => loadLog(box, filters, [...cursors, page.next_cursor], latest));
    clear(
      box,
      table(REQUEST_COLUMNS, page.data, { id: "request-log", empty: "No requests match." }),
      h("div", { class: "pager", role: "group", "aria-label": "Pages" }, newer, h("span", { class: "muted" }, `Page ${cursors.length}`), older),
    );
  } catch (error) {
    if (turn === latest.log) clear(box, notice(error.message, "error"));
  }
}

/** The export is streamed by the gateway; the browser gets it with the admin key's header (a plain
 * link could not send it) and saves it under the name the gateway gave. */
async function exportCsv(filters, button, status) {
  button.disabled = true;
  status.textContent = "Exporting…";
  try {
    const response = await admin(`/usage/export.csv${query(filters)}`, { raw: true });
    const name = filenameOf(response, `usage-${filters.start}_${filters.end}.csv`);
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    const link = h("a", { href: url, download: name, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    status.textContent = `Saved ${name} (${blob.size.toLocaleString("en-US")} bytes).`;
  } catch (error) {
    status.textContent = `Export failed: ${error.message}`;
  } finally {
    button.disabled = false;
  }
}
