/** Two small SVG plots the bench writes beside its table: no dependency, readable in a browser. */

const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#4b5563', '#ca8a04'];
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** Horizontal bars, one per label, grouped by `group` (a heading row per group). */
export function barChart(title: string, unit: string, bars: readonly { group: string; label: string; value: number }[]): string {
  const rowHeight = 22;
  const left = 230;
  const width = 820;
  const plot = width - left - 90;
  const max = Math.max(...bars.map((b) => b.value), 1);
  const lines: string[] = [];
  let y = 40;
  let group = '';
  for (const bar of bars) {
    if (bar.group !== group) {
      group = bar.group;
      lines.push(`<text x="10" y="${y + 15}" font-weight="bold">${esc(group)}</text>`);
      y += rowHeight;
    }
    const w = Math.max(1, (bar.value / max) * plot);
    const color = COLORS[[...new Set(bars.map((b) => b.label))].indexOf(bar.label) % COLORS.length];
    lines.push(`<text x="${left - 6}" y="${y + 15}" text-anchor="end">${esc(bar.label)}</text>`);
    lines.push(`<rect x="${left}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowHeight - 6}" fill="${color}"/>`);
    lines.push(`<text x="${left + w + 5}" y="${y + 15}">${Math.round(bar.value).toLocaleString('en-US')}</text>`);
    y += rowHeight;
  }
  return svg(width, y + 20, title, `${unit}`, lines);
}

/** A scatter of (t, value) points per series, y on a log scale when asked. */
export function timeChart(title: string, yLabel: string, series: readonly { label: string; points: readonly { t: number; v: number }[] }[], logY = true, marks: readonly { t: number; label: string }[] = []): string {
  const width = 820;
  const height = 420;
  const left = 70;
  const bottom = height - 50;
  const top = 40;
  const right = width - 20;
  const all = series.flatMap((s) => s.points);
  const maxT = Math.max(...all.map((p) => p.t), ...marks.map((m) => m.t), 1);
  const minV = logY ? Math.max(1, Math.min(...all.map((p) => p.v))) : 0;
  const maxV = Math.max(...all.map((p) => p.v), minV * 10);
  const yOf = (v: number): number => {
    if (!logY) return bottom - (v / maxV) * (bottom - top);
    const lo = Math.log10(minV);
    const hi = Math.log10(maxV);
    return bottom - ((Math.log10(Math.max(v, minV)) - lo) / Math.max(hi - lo, 1e-9)) * (bottom - top);
  };
  const xOf = (t: number): number => left + (t / maxT) * (right - left);
  const lines: string[] = [`<line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#888"/>`, `<line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" stroke="#888"/>`];
  const ticks = logY ? [1, 10, 100, 1000, 10_000, 100_000].filter((v) => v >= minV / 1.001 && v <= maxV * 1.001) : [0, maxV / 2, maxV];
  for (const v of ticks) lines.push(`<text x="${left - 6}" y="${yOf(v) + 4}" text-anchor="end">${Math.round(v)}</text><line x1="${left}" y1="${yOf(v)}" x2="${right}" y2="${yOf(v)}" stroke="#eee"/>`);
  for (let t = 0; t <= maxT; t += Math.max(1, Math.ceil(maxT / 10))) lines.push(`<text x="${xOf(t)}" y="${bottom + 16}" text-anchor="middle">${t}</text>`);
  lines.push(`<text x="${(left + right) / 2}" y="${bottom + 34}" text-anchor="middle">seconds</text>`);
  lines.push(`<text x="14" y="${(top + bottom) / 2}" transform="rotate(-90 14 ${(top + bottom) / 2})" text-anchor="middle">${esc(yLabel)}</text>`);
  for (const mark of marks) lines.push(`<line x1="${xOf(mark.t)}" y1="${top}" x2="${xOf(mark.t)}" y2="${bottom}" stroke="#999" stroke-dasharray="4 3"/><text x="${xOf(mark.t) + 3}" y="${top + 12}" fill="#555">${esc(mark.label)}</text>`);
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    // The worst sample per horizontal pixel, as one line: a stall stays visible, the file stays
    // small (every sample as a dot made a 3 MB plot of a 1,000,000-event drain).
    const worst = new Map<number, number>();
    for (const p of s.points) {
      const x = Math.round(xOf(p.t));
      worst.set(x, Math.max(worst.get(x) ?? -Infinity, p.v));
    }
    const path = [...worst.entries()].sort((a, b) => a[0] - b[0]).map(([x, v]) => `${x},${yOf(v).toFixed(1)}`);
    if (path.length > 0) lines.push(`<polyline points="${path.join(' ')}" fill="none" stroke="${color}" stroke-width="1.3" stroke-opacity="0.85"/>`);
    lines.push(`<rect x="${left + 10}" y="${top + 20 + i * 18}" width="10" height="10" fill="${color}"/><text x="${left + 26}" y="${top + 29 + i * 18}">${esc(s.label)}</text>`);
  });
  return svg(width, height, title, '', lines);
}

function svg(width: number, height: number, title: string, subtitle: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">${esc(title)}</text>`,
    subtitle === '' ? '' : `<text x="${width - 10}" y="20" text-anchor="end" fill="#555">${esc(subtitle)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
