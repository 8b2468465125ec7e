// Small inline SVG charts for the HTML report: no scripts, no external assets.

export const COLORS = {
  read: '#3b7dd8',
  write: '#e07b39',
  other: '#7a869a',
  error: '#d64545',
  ok: '#3a9d5d',
  p50: '#3a9d5d',
  p90: '#e0b339',
  p99: '#e07b39',
  max: '#d64545',
};

export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const FONT = 'font-family="system-ui, sans-serif" font-size="12"';

function clip(label: string, max: number): string {
  return label.length <= max ? label : `…${label.slice(label.length - max + 1)}`;
}

export interface Bar {
  label: string;
  value: number;
  /** Shown after the bar; defaults to the value. */
  text?: string;
  color?: string;
  /** A part of the value drawn over the start of the bar in red (e.g. the errors among the ops). */
  part?: number;
}

/** Horizontal bars, one row each, longest label on the left. */
export function hbars(rows: Bar[], width = 760): string {
  if (rows.length === 0) return '<p class="none">none</p>';
  const rowH = 20;
  const labelW = Math.min(320, Math.max(60, ...rows.map((r) => clip(r.label, 48).length * 7 + 8)));
  const textW = 150;
  const barW = width - labelW - textW;
  const max = Math.max(...rows.map((r) => r.value), 1e-12);
  const h = rows.length * rowH + 4;
  const body = rows
    .map((r, i) => {
      const y = i * rowH + 2;
      const w = Math.max(r.value > 0 ? 1 : 0, (r.value / max) * barW);
      return (
        `<g><title>${esc(r.label)}: ${esc(r.text ?? String(r.value))}</title>` +
        `<text x="${labelW - 6}" y="${y + 14}" text-anchor="end">${esc(clip(r.label, 48))}</text>` +
        `<rect x="${labelW}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${r.color ?? COLORS.read}"/>` +
        (r.part
          ? `<rect x="${labelW}" y="${y + 3}" width="${Math.max(1, (r.part / max) * barW).toFixed(1)}" height="${rowH - 6}" fill="${COLORS.error}"/>`
          : '') +
        `<text x="${labelW + w + 6}" y="${y + 14}">${esc(r.text ?? String(r.value))}</text></g>`
      );
    })
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${h}" viewBox="0 0 ${width} ${h}" ${FONT}>${body}</svg>`;
}

export interface Series {
  name: string;
  color: string;
  values: number[];
}

function legend(series: Series[], x: number, y: number): string {
  return series
    .map(
      (s, i) =>
        `<rect x="${x + i * 130}" y="${y}" width="10" height="10" fill="${s.color}"/><text x="${x + i * 130 + 14}" y="${y + 9}">${esc(s.name)}</text>`,
    )
    .join('');
}

function yAxis(max: number, x0: number, x1: number, top: number, plotH: number, fmt: (v: number) => string): string {
  let out = '';
  for (let i = 0; i <= 4; i++) {
    const y = top + plotH - (i / 4) * plotH;
    out += `<line x1="${x0}" x2="${x1}" y1="${y}" y2="${y}" stroke="#e3e6ea"/><text x="${x0 - 6}" y="${y + 4}" text-anchor="end">${esc(fmt((max * i) / 4))}</text>`;
  }
  return out;
}

/** Vertical bars grouped by category (e.g. reads and writes per I/O size). */
export function groupedBars(
  categories: string[],
  series: Series[],
  fmt: (v: number) => string = String,
  width = 760,
  height = 240,
): string {
  if (categories.length === 0) return '<p class="none">none</p>';
  const left = 60;
  const top = 24;
  const bottom = 40;
  const plotW = width - left - 10;
  const plotH = height - top - bottom;
  const max = Math.max(...series.flatMap((s) => s.values), 1);
  const groupW = plotW / categories.length;
  const barW = Math.max(2, (groupW * 0.8) / series.length);
  let body = yAxis(max, left, width - 10, top, plotH, fmt) + legend(series, left, 4);
  categories.forEach((c, i) => {
    const gx = left + i * groupW + groupW * 0.1;
    series.forEach((s, j) => {
      const v = s.values[i] ?? 0;
      const h = (v / max) * plotH;
      body += `<rect x="${(gx + j * barW).toFixed(1)}" y="${(top + plotH - h).toFixed(1)}" width="${(barW - 1).toFixed(1)}" height="${h.toFixed(1)}" fill="${s.color}"><title>${esc(c)} ${esc(s.name)}: ${esc(fmt(v))}</title></rect>`;
    });
    body += `<text x="${(left + i * groupW + groupW / 2).toFixed(1)}" y="${top + plotH + 16}" text-anchor="middle" font-size="10">${esc(c)}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>${body}</svg>`;
}

/** Lines over time; `xs` in seconds from the start. */
export function lineChart(xs: number[], series: Series[], fmt: (v: number) => string = String, width = 760, height = 220): string {
  if (xs.length === 0) return '<p class="none">none</p>';
  const left = 70;
  const top = 24;
  const bottom = 30;
  const plotW = width - left - 30;
  const plotH = height - top - bottom;
  const max = Math.max(...series.flatMap((s) => s.values), 1e-12);
  const xmax = Math.max(xs[xs.length - 1], 1e-9);
  const px = (x: number): number => left + (xs.length === 1 ? plotW / 2 : (x / xmax) * plotW);
  const py = (v: number): number => top + plotH - (v / max) * plotH;
  let body = yAxis(max, left, width - 30, top, plotH, fmt) + legend(series, left, 4);
  for (const s of series) {
    const pts = s.values.map((v, i) => `${px(xs[i]).toFixed(1)},${py(v).toFixed(1)}`).join(' ');
    body += `<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${pts}"/>`;
  }
  for (let i = 0; i <= 4; i++) {
    const x = (xmax * i) / 4;
    const label = xmax < 2 ? `${Math.round(x * 1000)}ms` : `${x.toFixed(xmax < 20 ? 1 : 0)}s`;
    body += `<text x="${px(x).toFixed(1)}" y="${top + plotH + 16}" text-anchor="middle">${label}</text>`;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>${body}</svg>`;
}

export interface Spread {
  label: string;
  /** Values in µs, drawn on a log scale. */
  marks: Array<{ name: string; value: number; color: string }>;
}

/** Per row, markers on a log time axis (latency percentiles). */
export function logSpread(rows: Spread[], fmt: (us: number) => string, width = 760): string {
  if (rows.length === 0) return '<p class="none">none</p>';
  const rowH = 22;
  const left = 110;
  const top = 24;
  const plotW = width - left - 30;
  const values = rows.flatMap((r) => r.marks.map((m) => Math.max(1, m.value)));
  const lo = Math.floor(Math.log10(Math.min(...values)));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...values))));
  const px = (v: number): number => left + ((Math.log10(Math.max(1, v)) - lo) / (hi - lo)) * plotW;
  const h = top + rows.length * rowH + 24;
  let body = legend(
    rows[0].marks.map((m) => ({ name: m.name, color: m.color, values: [] })),
    left,
    4,
  );
  for (let d = lo; d <= hi; d++) {
    const x = px(10 ** d);
    const label = d < 3 ? `${10 ** d}µs` : d < 6 ? `${10 ** (d - 3)}ms` : `${10 ** (d - 6)}s`;
    body += `<line x1="${x}" x2="${x}" y1="${top}" y2="${h - 20}" stroke="#e3e6ea"/><text x="${x}" y="${h - 6}" text-anchor="middle">${label}</text>`;
  }
  rows.forEach((r, i) => {
    const y = top + i * rowH + rowH / 2;
    const xs = r.marks.map((m) => px(m.value));
    body += `<text x="${left - 8}" y="${y + 4}" text-anchor="end">${esc(r.label)}</text>`;
    body += `<line x1="${Math.min(...xs)}" x2="${Math.max(...xs)}" y1="${y}" y2="${y}" stroke="#9aa4b2" stroke-width="2"/>`;
    for (const m of r.marks) {
      body += `<circle cx="${px(m.value).toFixed(1)}" cy="${y}" r="5" fill="${m.color}"><title>${esc(r.label)} ${esc(m.name)}: ${esc(fmt(m.value))}</title></circle>`;
    }
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${h}" viewBox="0 0 ${width} ${h}" ${FONT}>${body}</svg>`;
}

/** One bar split in proportion (e.g. reads vs writes). */
export function split(parts: Array<{ name: string; value: number; color: string; text: string }>, width = 760): string {
  const total = parts.reduce((a, p) => a + p.value, 0);
  if (total === 0) return '<p class="none">none</p>';
  let x = 0;
  let body = '';
  for (const p of parts) {
    const w = (p.value / total) * width;
    body += `<rect x="${x.toFixed(1)}" y="0" width="${w.toFixed(1)}" height="22" fill="${p.color}"><title>${esc(p.name)}: ${esc(p.text)}</title></rect>`;
    if (w > 90) body += `<text x="${(x + 6).toFixed(1)}" y="15" fill="#fff">${esc(p.name)} ${esc(p.text)}</text>`;
    x += w;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="22" viewBox="0 0 ${width} 22" ${FONT}>${body}</svg>`;
}
