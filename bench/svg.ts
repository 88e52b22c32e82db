/** Small hand-written SVG charts (no dependencies): horizontal bars and line charts. */

const FONT = `font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12"`;
export const COLORS = ["#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#6b7280"];

function esc(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function fmt(value: number): string {
  if (!Number.isFinite(value)) return "–";
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** Round axis maximum: 1, 2 or 5 times a power of ten at or above `max`. */
function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

/**
 * Grouped horizontal bars: one group per row label, one bar per series.
 * `rows`: [label, values per series].
 */
export function barChart(options: { title: string; unit: string; series: string[]; rows: [string, number[]][]; width?: number }): string {
  const width = options.width ?? 760;
  const labelW = 250;
  const barH = 14;
  const gap = 10;
  const groupH = options.series.length * barH + gap;
  const top = 48;
  const plotW = width - labelW - 70;
  const height = top + options.rows.length * groupH + 30;
  const max = niceMax(Math.max(...options.rows.flatMap(([, v]) => v.filter(Number.isFinite))));
  const x = (v: number): number => labelW + (Math.max(0, v) / max) * plotW;
  const parts: string[] = [];
  parts.push(`<text x="12" y="20" font-weight="600" font-size="14">${esc(options.title)}</text>`);
  options.series.forEach((name, i) => {
    const lx = labelW + i * 150;
    parts.push(`<rect x="${lx}" y="30" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/><text x="${lx + 14}" y="39">${esc(name)}</text>`);
  });
  for (let t = 0; t <= 4; t++) {
    const v = (max / 4) * t;
    const gx = x(v);
    parts.push(`<line x1="${gx}" y1="${top - 4}" x2="${gx}" y2="${height - 24}" stroke="#e5e7eb"/>`);
    parts.push(`<text x="${gx}" y="${height - 10}" text-anchor="middle" fill="#6b7280">${fmt(v)} ${esc(options.unit)}</text>`);
  }
  options.rows.forEach(([label, values], r) => {
    const gy = top + r * groupH;
    parts.push(`<text x="${labelW - 8}" y="${gy + (options.series.length * barH) / 2 + 4}" text-anchor="end">${esc(label)}</text>`);
    values.forEach((v, i) => {
      const y = gy + i * barH;
      parts.push(`<rect x="${labelW}" y="${y}" width="${Math.max(0.5, x(v) - labelW)}" height="${barH - 3}" fill="${COLORS[i % COLORS.length]}"/>`);
      parts.push(`<text x="${x(v) + 4}" y="${y + barH - 5}" fill="#374151">${fmt(v)}</text>`);
    });
  });
  return svg(width, height, parts);
}

/** Line chart: series of [x, y] points on linear axes. */
export function lineChart(options: {
  title: string;
  xLabel: string;
  yLabel: string;
  series: { name: string; points: [number, number][]; dashed?: boolean }[];
  width?: number;
  height?: number;
  yMin?: number;
}): string {
  const width = options.width ?? 760;
  const height = options.height ?? 340;
  const left = 70;
  const right = 20;
  const top = 50;
  const bottom = 50;
  const all = options.series.flatMap((s) => s.points);
  const xMax = niceMax(Math.max(...all.map(([px]) => px)));
  const yMin = options.yMin ?? 0;
  const yMax = yMin + niceMax(Math.max(...all.map(([, py]) => py)) - yMin);
  const X = (v: number): number => left + (v / xMax) * (width - left - right);
  const Y = (v: number): number => height - bottom - ((v - yMin) / (yMax - yMin)) * (height - top - bottom);
  const parts: string[] = [];
  parts.push(`<text x="12" y="20" font-weight="600" font-size="14">${esc(options.title)}</text>`);
  options.series.forEach((s, i) => {
    const lx = left + i * 170;
    parts.push(`<line x1="${lx}" y1="36" x2="${lx + 16}" y2="36" stroke="${COLORS[i % COLORS.length]}" stroke-width="2"${s.dashed ? ' stroke-dasharray="4 3"' : ""}/><text x="${lx + 20}" y="40">${esc(s.name)}</text>`);
  });
  for (let t = 0; t <= 4; t++) {
    const yv = yMin + ((yMax - yMin) / 4) * t;
    parts.push(`<line x1="${left}" y1="${Y(yv)}" x2="${width - right}" y2="${Y(yv)}" stroke="#e5e7eb"/>`);
    parts.push(`<text x="${left - 6}" y="${Y(yv) + 4}" text-anchor="end" fill="#6b7280">${fmt(yv)}</text>`);
    const xv = (xMax / 4) * t;
    parts.push(`<text x="${X(xv)}" y="${height - bottom + 16}" text-anchor="middle" fill="#6b7280">${fmt(xv)}</text>`);
  }
  parts.push(`<text x="${(left + width - right) / 2}" y="${height - 12}" text-anchor="middle">${esc(options.xLabel)}</text>`);
  parts.push(`<text x="16" y="${(top + height - bottom) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(top + height - bottom) / 2})">${esc(options.yLabel)}</text>`);
  options.series.forEach((s, i) => {
    const d = s.points.map(([px, py], k) => `${k === 0 ? "M" : "L"}${X(px).toFixed(1)},${Y(py).toFixed(1)}`).join(" ");
    parts.push(`<path d="${d}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2"${s.dashed ? ' stroke-dasharray="4 3"' : ""}/>`);
    if (s.points.length <= 12) for (const [px, py] of s.points) parts.push(`<circle cx="${X(px).toFixed(1)}" cy="${Y(py).toFixed(1)}" r="3" fill="${COLORS[i % COLORS.length]}"/>`);
  });
  return svg(width, height, parts);
}

function svg(width: number, height: number, parts: string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>\n<rect width="100%" height="100%" fill="white"/>\n${parts.join("\n")}\n</svg>\n`;
}
