// A bar chart in SVG: y axis with round ticks, a date label under the bars, the value of a bar
// shown on hover and on keyboard focus.

import { h, svg } from "./dom.js";

const HEIGHT = 220;
const MARGIN = { top: 12, right: 8, bottom: 28, left: 58 };
const NARROW = 560; // below this many CSS pixels of screen, a narrower drawing keeps the labels legible

/** Round tick values from 0 to at least `max`. */
export function ticks(max, count = 4) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const values = [];
  for (let v = 0; v < max + step / 2; v += step) values.push(Number(v.toPrecision(12)));
  if (values[values.length - 1] < max) values.push(Number((values.length * step).toPrecision(12)));
  return values;
}

/**
 * points: [{label: "2026-12-06", value: number|null, detail: "text for the tooltip"}]
 * format: value -> axis text; name: what the chart shows (its accessible name).
 */
export function barChart({ points, format, name, id }) {
  const narrow = window.innerWidth < NARROW;
  const width = narrow ? 360 : 640;
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const values = points.map((p) => p.value || 0);
  const axis = ticks(Math.max(...values, 0));
  const top = axis[axis.length - 1];
  const y = (v) => MARGIN.top + plotH - (v / top) * plotH;
  const slot = plotW / Math.max(points.length, 1);
  const barW = Math.max(2, Math.min(40, slot * 0.7));
  const every = Math.ceil(points.length / (narrow ? 5 : 8));

  const tooltip = h("div", { class: "tooltip", role: "status", hidden: true });
  const graph = svg("svg", {
    viewBox: `0 0 ${width} ${HEIGHT}`,
    class: "chart",
    role: "group",
    "aria-label": name,
    preserveAspectRatio: "xMidYMid meet",
  });

  for (const tick of axis) {
    const ty = y(tick);
    graph.append(
      svg("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: ty, y2: ty, class: tick ? "grid" : "axis" }),
      svg("text", { x: MARGIN.left - 6, y: ty + 4, class: "tick y" }, format(tick)),
    );
  }

  const show = (point, x, top) => {
    tooltip.textContent = `${point.label}: ${point.detail}`;
    tooltip.hidden = false;
    const share = x / width;
    tooltip.style.left = `${share * 100}%`;
    // kept inside the chart near its edges
    tooltip.style.transform = `translate(${share > 0.7 ? "-100%" : share < 0.3 ? "0%" : "-50%"}, calc(-100% - 6px))`;
    tooltip.style.top = `${(top / HEIGHT) * 100}%`;
  };
  const hide = () => (tooltip.hidden = true);

  points.forEach((point, i) => {
    const cx = MARGIN.left + slot * i + slot / 2;
    const value = point.value || 0;
    const barTop = y(value);
    const bar = svg(
      "g",
      {
        class: "bar",
        tabindex: 0,
        role: "img",
        "aria-label": `${point.label}: ${point.detail}`,
        dataset: { date: point.label, value: String(point.value ?? "") },
      },
      svg("rect", { x: MARGIN.left + slot * i, y: MARGIN.top, width: slot, height: plotH, class: "hit" }),
      svg("rect", {
        x: cx - barW / 2,
        y: barTop,
        width: barW,
        height: Math.max(value > 0 ? 1 : 0, MARGIN.top + plotH - barTop),
        class: "fill",
      }),
    );
    const enter = () => show(point, cx, barTop);
    bar.addEventListener("mouseenter", enter);
    bar.addEventListener("focus", enter);
    bar.addEventListener("mouseleave", hide);
    bar.addEventListener("blur", hide);
    graph.append(bar);
    if ((points.length - 1 - i) % every === 0) {
      graph.append(svg("text", { x: cx, y: HEIGHT - 8, class: "tick x" }, point.label.slice(5)));
    }
  });

  return h("figure", { class: "chart-box", id: id || null }, h("figcaption", {}, name), graph, tooltip);
}
