// Small DOM helpers, formatters and the inline-SVG charts. Text always goes in as text nodes, never as
// HTML, so nothing an alert carries can become markup.

const SVG_NS = "http://www.w3.org/2000/svg";

/** h("td", {class: "x", dataset: {id: 1}}, "text", childNode, ...) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
}

const ENUM_WORDS = /_/g;
/** EXECUTE_RUNBOOK -> "Execute runbook" */
export function words(value) {
  if (!value) return "";
  const text = String(value).toLowerCase().replace(ENUM_WORDS, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return `${hrs}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(hrs / 24)}d ${hrs % 24}h`;
}

export function percent(value) {
  return value === null || value === undefined ? "—" : `${value.toFixed(1)}%`;
}

export function count(value) {
  return value === null || value === undefined ? "—" : Number(value).toLocaleString("en");
}

export function time(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString("en-GB", { dateStyle: "short", timeStyle: "medium" });
}

/**
 * A chart of a 24-hour series (one value per bucket; null = no data): bars for counts, a line for
 * rates and durations. `label` is read by screen readers instead of the picture.
 */
export function chart(values, { kind = "bars", label = "" } = {}) {
  const width = 120;
  const height = 32;
  const box = svg("svg", {
    class: `chart chart-${kind}`,
    viewBox: `0 0 ${width} ${height}`,
    preserveAspectRatio: "none",
    role: "img",
    "aria-label": label,
    focusable: "false",
  });
  const known = values.filter((v) => v !== null && v !== undefined);
  const max = Math.max(1, ...known);
  const n = Math.max(1, values.length);
  const step = width / n;
  box.append(svg("line", { x1: 0, y1: height - 0.5, x2: width, y2: height - 0.5, class: "axis" }));
  if (kind === "bars") {
    values.forEach((v, i) => {
      if (!v) return;
      const barHeight = Math.max(1, (v / max) * (height - 2));
      box.append(
        svg("rect", {
          x: (i * step + step * 0.15).toFixed(2),
          y: (height - barHeight).toFixed(2),
          width: (step * 0.7).toFixed(2),
          height: barHeight.toFixed(2),
          class: "bar",
        }),
      );
    });
  } else {
    const points = [];
    values.forEach((v, i) => {
      if (v === null || v === undefined) return;
      points.push(`${(i * step + step / 2).toFixed(2)},${(height - 1 - (v / max) * (height - 3)).toFixed(2)}`);
    });
    if (points.length === 1) {
      const [x, y] = points[0].split(",");
      box.append(svg("circle", { cx: x, cy: y, r: 1.8, class: "dot" }));
    } else if (points.length) {
      box.append(svg("polyline", { points: points.join(" "), class: "line" }));
    }
  }
  return box;
}

/** A horizontal meter for a percentage (SLA compliance has no hourly series). */
export function meter(value, label) {
  const box = svg("svg", {
    class: "chart chart-meter",
    viewBox: "0 0 120 32",
    preserveAspectRatio: "none",
    role: "img",
    "aria-label": label,
    focusable: "false",
  });
  box.append(svg("rect", { x: 0, y: 12, width: 120, height: 8, rx: 4, class: "track" }));
  if (value !== null && value !== undefined) {
    box.append(svg("rect", { x: 0, y: 12, width: (1.2 * Math.max(0, Math.min(100, value))).toFixed(2), height: 8, rx: 4, class: "fill" }));
  }
  return box;
}
