// The report as one self-contained HTML page: inline CSS and SVG charts, no
// scripts and nothing fetched from elsewhere, so it can be mailed or archived.
import type { HotRow, Report } from './analyse.ts';
import { commandName, fmtBytes, fmtNum, fmtPct, fmtUs } from './format.ts';
import { COLORS, esc, groupedBars, hbars, lineChart, logSpread, split } from './svg.ts';
import {
  errorTable,
  fsyncFileTable,
  hotTable,
  injectedTable,
  latencyTable,
  opMixTable,
  processTable,
  sequentialTable,
  type Table,
} from './tables.ts';

const CSS = `
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:980px;color:#1f2933;padding:0 16px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:32px;border-bottom:1px solid #e3e6ea;padding-bottom:4px}
.sub{color:#52606d}.none{color:#7b8794;font-style:italic}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{padding:3px 10px;text-align:right;border-bottom:1px solid #eef0f2}
th:first-child,td:first-child,td.l{text-align:left}td.path{font-family:ui-monospace,monospace;word-break:break-all;text-align:left}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}.card{background:#f5f7fa;border-radius:6px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:20px}.card span{color:#52606d;font-size:12px}
svg{display:block;margin:8px 0;max-width:100%;height:auto}`;

function drawTable(t: Table): string {
  const th = t.head.map((h) => `<th>${esc(h)}</th>`).join('');
  const tr = t.rows
    .map((r) => `<tr>${r.map((c, i) => `<td${i === 0 && t.pathColumn ? ' class="path"' : ''}>${esc(c)}</td>`).join('')}</tr>`)
    .join('');
  return `<table><thead><tr>${th}</tr></thead><tbody>${tr}</tbody></table>`;
}

function card(value: string, label: string): string {
  return `<div class="card"><b>${esc(value)}</b><span>${esc(label)}</span></div>`;
}

function hot(rows: HotRow[]): string {
  return (
    hbars(rows.map((r) => ({ label: r.path, value: r.ops, text: `${r.ops} ops, ${fmtBytes(r.bytesRead + r.bytesWritten)}` }))) +
    drawTable(hotTable(rows))
  );
}

export function renderHtml(r: Report): string {
  const t = r.totals;
  const rw = r.readWrite;
  const s = r.sequential;
  const f = r.fsync;
  const parts: string[] = [];
  const h2 = (title: string): void => void parts.push(`<h2>${esc(title)}</h2>`);

  parts.push(
    `<h1>Workload report</h1><p class="sub">${esc(r.source)}${t.ops ? ` — ${esc(new Date(r.window.startUs / 1000).toISOString())}, ${r.window.seconds.toFixed(3)} s` : ''}</p>`,
    `<div class="cards">${[
      card(String(t.ops), 'operations'),
      card(String(t.dataFiles), 'files read or written'),
      card(String(t.filesCreated), 'files created'),
      card(String(t.processes), 'processes'),
      card(fmtBytes(rw.bytesRead), 'read'),
      card(fmtBytes(rw.bytesWritten), 'written'),
      card(String(f.fsyncs), 'fsyncs'),
      card(String(t.errors), 'errors'),
      card(String(t.injected), 'ops a rule acted on'),
    ].join('')}</div>`,
  );
  if (t.ops === 0) {
    parts.push('<p class="none">The trace holds no operations: was the mount traced (--trace-file) and used?</p>');
    return page(r, parts);
  }

  h2('Activity over time');
  const xs = r.timeline.buckets.map((b) => (b.startUs - r.window.startUs) / 1e6);
  const perSec = 1e6 / Math.max(1, r.timeline.bucketUs);
  parts.push(
    lineChart(xs, [{ name: 'ops/s', color: COLORS.other, values: r.timeline.buckets.map((b) => b.ops * perSec) }], (v) =>
      fmtNum(Math.round(v)),
    ),
    lineChart(
      xs,
      [
        { name: 'read/s', color: COLORS.read, values: r.timeline.buckets.map((b) => b.bytesRead * perSec) },
        { name: 'written/s', color: COLORS.write, values: r.timeline.buckets.map((b) => b.bytesWritten * perSec) },
      ],
      fmtBytes,
    ),
  );

  h2('Operation mix');
  parts.push(
    hbars(
      r.opMix.map((m) => ({
        label: m.op,
        value: m.count,
        part: m.errors,
        text: `${m.count} (${fmtPct(m.share)})${m.errors ? `, ${m.errors} errors` : ''}`,
        color: COLORS.other,
      })),
    ),
    drawTable(opMixTable(r.opMix)),
  );

  h2('Reads and writes');
  parts.push(
    '<p>Operations</p>',
    split([
      { name: 'reads', value: rw.reads, color: COLORS.read, text: String(rw.reads) },
      { name: 'writes', value: rw.writes, color: COLORS.write, text: String(rw.writes) },
    ]),
    '<p>Bytes</p>',
    split([
      { name: 'read', value: rw.bytesRead, color: COLORS.read, text: fmtBytes(rw.bytesRead) },
      { name: 'written', value: rw.bytesWritten, color: COLORS.write, text: fmtBytes(rw.bytesWritten) },
    ]),
    `<p>Read share: ${esc(fmtPct(rw.readOpsShare))} of read/write operations, ${esc(fmtPct(rw.readBytesShare))} of bytes.` +
      (rw.copies ? ` ${rw.copies} copy_file_range copied ${esc(fmtBytes(rw.bytesCopied))} besides.` : '') +
      '</p>',
  );

  h2('I/O sizes (requested)');
  parts.push(
    groupedBars(
      r.ioSizes.map((b) => b.label),
      [
        { name: 'reads', color: COLORS.read, values: r.ioSizes.map((b) => b.read) },
        { name: 'writes', color: COLORS.write, values: r.ioSizes.map((b) => b.write) },
      ],
    ),
  );

  h2('Sequential vs random');
  parts.push(
    '<p class="sub">An I/O is sequential when it starts where the previous read or write of the same file ended (or at 0 for the first).</p>',
    `<p>All files: reads ${esc(fmtPct(s.read.ratio))} sequential (${s.read.sequential} of ${s.read.sequential + s.read.random}), writes ${esc(fmtPct(s.write.ratio))} sequential (${s.write.sequential} of ${s.write.sequential + s.write.random}).</p>`,
    drawTable(sequentialTable(s, false)),
  );

  h2('Hottest files');
  parts.push(hot(r.hottestFiles));
  h2('Hottest directories');
  parts.push(hot(r.hottestDirectories));

  h2('Processes');
  parts.push(
    hbars(r.processes.map((p) => ({ label: `${p.pid} ${commandName(p)}`, value: p.ops, text: `${p.ops} ops` }))),
    drawTable(processTable(r.processes)),
  );

  h2('Latency per operation');
  parts.push(
    logSpread(
      r.latency.map((l) => ({
        label: l.op,
        marks: [
          { name: 'p50', value: l.p50Us, color: COLORS.p50 },
          { name: 'p90', value: l.p90Us, color: COLORS.p90 },
          { name: 'p99', value: l.p99Us, color: COLORS.p99 },
          { name: 'max', value: l.maxUs, color: COLORS.max },
        ],
      })),
      fmtUs,
    ),
    drawTable(latencyTable(r.latency)),
  );

  h2('fsync');
  parts.push(
    `<p>${f.fsyncs} fsync — ${esc(fmtNum(f.perSecond))} per second, ${esc(fmtNum(f.perWrittenMiB))} per written MiB; ${f.fsyncdirs} fsyncdir, ${f.syncfs} syncfs.</p>`,
    f.files.length ? drawTable(fsyncFileTable(f.files)) : '',
  );

  h2('Errors');
  parts.push(
    r.errors.length
      ? hbars(
          r.errors.map((e) => ({
            label: `${e.op} ${e.result}`,
            value: e.count,
            text: `${e.count} (${e.injected} injected)`,
            color: COLORS.error,
          })),
        ) + drawTable(errorTable(r.errors))
      : '<p class="none">none</p>',
  );
  h2('Rules that acted');
  parts.push(r.injected.length ? drawTable(injectedTable(r.injected)) : '<p class="none">none</p>');
  return page(r, parts);
}

function page(r: Report, parts: string[]): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>interposer report — ${esc(r.source)}</title><style>${CSS}</style></head>
<body>
${parts.join('\n')}
<p class="sub">Generated by interposer report.</p>
</body></html>
`;
}
