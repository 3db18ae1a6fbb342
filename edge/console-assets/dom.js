// Small DOM and formatting helpers shared by every page.

const SVG_NS = "http://www.w3.org/2000/svg";

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
}

function assign(node, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      node.setAttribute("class", value);
    } else if (name === "text") {
      node.textContent = value;
    } else if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else if (name === "value" || name === "checked" || name === "disabled" || name === "hidden") {
      node[name] = value;
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
}

/** h("button", {class: "x", onclick: f}, "text", child, [more]) */
export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  assign(node, attrs);
  append(node, children);
  return node;
}

/** The same for SVG elements. */
export function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  assign(node, attrs);
  append(node, children);
  return node;
}

export function clear(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

const INTEGER = new Intl.NumberFormat("en-US");

export function int(value) {
  return value === null || value === undefined ? "—" : INTEGER.format(value);
}

/** Dollars with enough digits to tell small costs apart; null (an unknown price) is "unknown". */
export function usd(value) {
  if (value === null || value === undefined) return "unknown";
  if (value === 0) return "$0.00";
  const digits = Math.abs(value) >= 1 ? 2 : Math.abs(value) >= 0.01 ? 4 : 6;
  return "$" + value.toFixed(digits);
}

/** Dollars rounded for an axis. */
export function usdShort(value) {
  if (value === 0) return "$0";
  if (value >= 100) return "$" + Math.round(value);
  if (value >= 1) return "$" + value.toFixed(2).replace(/\.?0+$/, "");
  return "$" + Number(value.toPrecision(2));
}

/** Tokens on an axis or a card: 1234567 -> 1.23M. */
export function compact(value) {
  if (value === null || value === undefined) return "—";
  return new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 2 }).format(value);
}

/** An RFC 3339 time as "YYYY-MM-DD HH:MM:SS" (UTC, as the admin API's dates are). */
export function when(iso) {
  if (!iso) return "never";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toISOString().slice(0, 19).replace("T", " ");
}

/** Today's UTC date, or `days` before it, as YYYY-MM-DD. */
export function utcDate(daysBefore = 0) {
  const date = new Date(Date.now() - daysBefore * 86400000);
  return date.toISOString().slice(0, 10);
}

/** A block that says the page is loading, or why it could not. */
export function notice(text, kind = "info") {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

/** A table from column definitions [{label, cell(row) -> node|string, num?}] and rows. */
export function table(columns, rows, { caption, empty = "Nothing yet.", id, foot } = {}) {
  const head = h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.label)));
  const body = rows.length
    ? rows.map((row) =>
        h("tr", {}, columns.map((c) => h("td", { class: c.num ? "num" : null, "data-col": c.key || null }, c.cell(row)))),
      )
    : [h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, empty))];
  const footer = foot
    ? h("tfoot", {}, h("tr", {}, columns.map((c) => h("td", { class: c.num ? "num" : null }, foot(c)))))
    : null;
  return h(
    "div",
    { class: "table-wrap", id: id || null },
    h("table", {}, caption ? h("caption", {}, caption) : null, h("thead", {}, head), h("tbody", {}, body), footer),
  );
}

/** Copies text; falls back to a selection for browsers without the async clipboard. */
export async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = h("textarea", { class: "offscreen", "aria-hidden": "true" });
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  if (button) {
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => (button.textContent = label), 1500);
  }
}

/** A labelled form field. */
export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    input,
    hint ? h("small", { class: "hint" }, hint) : null,
    h("small", { class: "field-error", id: `${id}-error`, role: "alert" }),
  );
}
