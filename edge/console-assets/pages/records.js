// Columns shared by the dashboard's recent requests and the usage page's request log.

import { h, int, usd, when } from "../dom.js";

export function cost(totals) {
  if (totals.cost_usd === null || totals.cost_usd === undefined) return totals.requests ? "unknown" : usd(0);
  return usd(totals.cost_usd);
}

function status(record) {
  const ok = record.status < 400;
  return h("span", { class: `status ${ok ? "ok" : "bad"}`, title: record.error || null }, String(record.status));
}

function model(record) {
  const asked = record.model_requested && record.model_requested !== record.model;
  return h("span", {}, record.model, asked ? h("small", { class: "muted" }, ` (asked ${record.model_requested})`) : null);
}

export const REQUEST_COLUMNS = [
  { key: "time", label: "Time (UTC)", cell: (r) => h("time", { datetime: r.time }, when(r.time)) },
  { key: "key", label: "Key", cell: (r) => r.key },
  { key: "model", label: "Model", cell: model },
  { key: "protocol", label: "API", cell: (r) => `${r.protocol} ${r.operation}${r.stream ? " · stream" : ""}` },
  { key: "status", label: "Status", cell: status },
  { key: "input", label: "Input", num: true, cell: (r) => int(r.input_tokens) },
  { key: "output", label: "Output", num: true, cell: (r) => int(r.output_tokens) },
  { key: "cost", label: "Cost", num: true, cell: (r) => usd(r.cost_usd) },
  { key: "latency", label: "Latency", num: true, cell: (r) => `${Math.round(r.latency_ms)} ms` },
];

/** The per-model rows' columns (the usage summary's). */
export const MODEL_COLUMNS = [
  { key: "model", label: "Model", cell: (r) => r.model },
  { key: "requests", label: "Requests", num: true, cell: (r) => int(r.requests) },
  { key: "input", label: "Input", num: true, cell: (r) => int(r.input_tokens) },
  { key: "output", label: "Output", num: true, cell: (r) => int(r.output_tokens) },
  { key: "cache_write", label: "Cache creation", num: true, cell: (r) => int(r.cache_write_tokens) },
  { key: "cache_read", label: "Cache read", num: true, cell: (r) => int(r.cache_read_tokens) },
  { key: "reasoning", label: "Reasoning", num: true, cell: (r) => int(r.reasoning_tokens) },
  { key: "cost", label: "Cost", num: true, cell: cost },
];
