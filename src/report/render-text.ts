// The report as plain text for a terminal.
import type { Report } from './analyse.ts';
import { fmtBytes, fmtNum } from './format.ts';
import {
  errorTable,
  fsyncFileTable,
  hotTable,
  injectedTable,
  ioSizeTable,
  latencyTable,
  opMixTable,
  processTable,
  readWriteTable,
  sequentialTable,
  type Table,
} from './tables.ts';

function section(title: string, body: string): string {
  return `${title}\n${body}\n`;
}

/** Columns padded to their widest cell: the leading name columns aligned left, the numbers right. */
function drawTable(t: Table): string {
  const all = [t.head, ...t.rows];
  const widths = t.head.map((_, c) => Math.max(...all.map((r) => [...(r[c] ?? '')].length)));
  const pad = (s: string, c: number): string => {
    const gap = ' '.repeat(widths[c] - [...s].length);
    return c < t.leftColumns ? s + gap : gap + s;
  };
  const line = (r: string[]): string =>
    r
      .map((s, c) => pad(s ?? '', c))
      .join('  ')
      .trimEnd();
  return [line(t.head), line(widths.map((w) => '-'.repeat(w))), ...t.rows.map(line)].join('\n');
}

export function renderText(r: Report): string {
  const out: string[] = [];
  const t = r.totals;
  const when = r.totals.ops ? `${new Date(r.window.startUs / 1000).toISOString()}, ${r.window.seconds.toFixed(3)} s` : 'no operations';
  out.push(
    `interposer report: ${r.source}\n` +
      `${t.ops} operations (${when}) on ${t.paths} paths (${t.dataFiles} files read or written) in ${t.directories} directories by ${t.processes} processes; ` +
      `${t.filesCreated} files and ${t.directoriesCreated} directories created; ${t.errors} errors, ${t.injected} operations a rule acted on\n`,
  );
  if (t.ops === 0) return `${out.join('\n')}\nThe trace holds no operations: was the mount traced (--trace-file) and used?\n`;

  out.push(section('Operation mix', drawTable(opMixTable(r.opMix))));

  const rw = r.readWrite;
  out.push(
    section(
      'Reads and writes',
      drawTable(readWriteTable(rw)) +
        (rw.copies ? `\n${rw.copies} copy_file_range copied ${fmtBytes(rw.bytesCopied)} (not counted above)` : ''),
    ),
  );

  if (r.ioSizes.length) out.push(section('I/O sizes (requested)', drawTable(ioSizeTable(r.ioSizes))));

  out.push(
    section(
      'Sequential vs random (an I/O is sequential when it starts where the previous read or write of the file ended)',
      drawTable(sequentialTable(r.sequential, true)),
    ),
  );

  out.push(section('Hottest files', drawTable(hotTable(r.hottestFiles))));
  out.push(section('Hottest directories', drawTable(hotTable(r.hottestDirectories))));
  out.push(section('Processes', drawTable(processTable(r.processes))));
  out.push(section('Latency per operation', drawTable(latencyTable(r.latency))));

  const f = r.fsync;
  out.push(
    section(
      'fsync',
      `${f.fsyncs} fsync (${fmtNum(f.perSecond)} per second, ${fmtNum(f.perWrittenMiB)} per written MiB), ${f.fsyncdirs} fsyncdir, ${f.syncfs} syncfs` +
        (f.files.length ? `\n${drawTable(fsyncFileTable(f.files))}` : ''),
    ),
  );

  out.push(section('Errors', r.errors.length ? drawTable(errorTable(r.errors)) : 'none'));
  out.push(section('Rules that acted (interposer.rules)', r.injected.length ? drawTable(injectedTable(r.injected)) : 'none'));
  return out.join('\n');
}
