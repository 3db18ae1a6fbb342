// Dashboard: the period's totals, spend and requests per day, top models by cost, recent requests.

import { admin, query } from "../api.js";
import { barChart } from "../chart.js";
import { clear, compact, h, int, notice, table, usd, usdShort } from "../dom.js";
import { REQUEST_COLUMNS, cost } from "./records.js";

const PERIODS = [7, 30];

function card(label, value, hint) {
  return h("div", { class: "card" }, h("span", { class: "card-label" }, label), h("strong", {}, value), hint ? h("small", {}, hint) : null);
}

export async function render(root, ctx) {
  const body = h("div", { class: "dashboard-body" }, notice("Loading…"));
  const buttons = PERIODS.map((days) =>
    h("button", { type: "button", class: "segment", "aria-pressed": "false", dataset: { days: String(days) } }, `${days} days`),
  );
  const select = (days) => {
    ctx.dashboardDays = days;
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.days === String(days)));
    return load(body, days).catch((error) => clear(body, notice(error.message, "error")));
  };
  for (const b of buttons) b.addEventListener("click", () => select(Number(b.dataset.days)));
  root.append(h("div", { class: "toolbar", role: "group", "aria-label": "Period" }, buttons), body);
  await select(ctx.dashboardDays || 7);
}

async function load(body, days) {
  const daily = await admin(`/usage/daily${query({ days })}`);
  const range = { start: daily.start, end: daily.end };
  const [summary, recent] = await Promise.all([
    admin(`/usage${query(range)}`),
    admin(`/usage/requests${query({ ...range, limit: 20 })}`),
  ]);
  const totals = daily.totals;
  const points = daily.days.map((day) => ({
    label: day.date,
    requests: day.requests,
    cost: day.cost_usd,
  }));
  const spend = barChart({
    id: "spend-chart",
    name: `Spend per day, last ${days} days (USD)`,
    format: usdShort,
    points: points.map((p) => ({ label: p.label, value: p.cost, detail: `${usd(p.cost ?? (p.requests ? null : 0))} · ${int(p.requests)} requests` })),
  });
  const requests = barChart({
    id: "requests-chart",
    name: `Requests per day, last ${days} days`,
    format: compact,
    points: points.map((p) => ({ label: p.label, value: p.requests, detail: `${int(p.requests)} requests` })),
  });
  const ranked = [...summary.models].sort((a, b) => (b.cost_usd ?? -1) - (a.cost_usd ?? -1)).slice(0, 10);
  const top = Math.max(...ranked.map((m) => m.cost_usd || 0), 0);
  const topModels = table(
    [
      { key: "model", label: "Model", cell: (m) => m.model },
      { key: "requests", label: "Requests", num: true, cell: (m) => int(m.requests) },
      { key: "cost", label: "Cost", num: true, cell: cost },
      {
        key: "share",
        label: "Share",
        cell: (m) => {
          const part = top ? (m.cost_usd || 0) / top : 0;
          const fill = h("span");
          fill.style.width = `${Math.round(part * 100)}%`;
          return h("span", { class: "share", role: "img", "aria-label": `${Math.round(part * 100)}% of the top model's cost` }, fill);
        },
      },
    ],
    ranked,
    { id: "top-models", empty: "No requests in this period." },
  );
  clear(
    body,
    h(
      "div",
      { class: "cards", id: "totals" },
      card("Total cost", cost(totals), totals.unpriced_requests ? `${int(totals.unpriced_requests)} without a known price` : `${daily.start} – ${daily.end}`),
      card("Requests", int(totals.requests), totals.errors ? `${int(totals.errors)} error${totals.errors === 1 ? "" : "s"}` : "no errors"),
      card("Input tokens", compact(totals.input_tokens), `${int(totals.cache_read_tokens)} read from cache`),
      card("Output tokens", compact(totals.output_tokens), `${int(totals.reasoning_tokens)} reasoning`),
    ),
    h("div", { class: "charts" }, spend, requests),
    h("h2", {}, "Top models by cost"),
    topModels,
    h("h2", {}, "Last 20 requests"),
    table(REQUEST_COLUMNS, recent.data, { id: "recent-requests", empty: "No requests in this period." }),
  );
}
