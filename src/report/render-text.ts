// The report as plain text for a terminal.
import type { HotRow, Report } from './analyse.ts';
import { commandName, fmtBytes, fmtNum, fmtPct, fmtUs, table } from './format.ts';

function section(title: string, body: string): string {
  return `${title}\n${body}\n`;
}

function hotTable(rows: HotRow[]): string {
  return table(
    ['path', 'ops', 'reads+writes', 'read', 'written', 'busy'],
    rows.map((r) => [r.path, String(r.ops), String(r.dataOps), fmtBytes(r.bytesRead), fmtBytes(r.bytesWritten), fmtUs(r.busyUs)]),
  );
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

  out.push(
    section(
      'Operation mix',
      table(
        ['op', 'count', 'share', 'errors'],
        r.opMix.map((m) => [m.op, String(m.count), fmtPct(m.share), String(m.errors)]),
      ),
    ),
  );

  const rw = r.readWrite;
  out.push(
    section(
      'Reads and writes',
      table(
        ['', 'reads', 'writes', 'read share'],
        [
          ['operations', String(rw.reads), String(rw.writes), fmtPct(rw.readOpsShare)],
          ['bytes', fmtBytes(rw.bytesRead), fmtBytes(rw.bytesWritten), fmtPct(rw.readBytesShare)],
        ],
      ) + (rw.copies ? `\n${rw.copies} copy_file_range copied ${fmtBytes(rw.bytesCopied)} (not counted above)` : ''),
    ),
  );

  if (r.ioSizes.length) {
    out.push(
      section(
        'I/O sizes (requested)',
        table(
          ['size', 'reads', 'writes'],
          r.ioSizes.map((b) => [b.label, String(b.read), String(b.write)]),
        ),
      ),
    );
  }

  const s = r.sequential;
  out.push(
    section(
      'Sequential vs random (an I/O is sequential when it starts where the previous read or write of the file ended)',
      table(
        ['path', 'seq reads', 'random reads', 'read seq', 'seq writes', 'random writes', 'write seq'],
        [
          [
            '(all files)',
            String(s.read.sequential),
            String(s.read.random),
            fmtPct(s.read.ratio),
            String(s.write.sequential),
            String(s.write.random),
            fmtPct(s.write.ratio),
          ],
          ...s.files.map((f) => [
            f.path,
            String(f.read.sequential),
            String(f.read.random),
            fmtPct(f.read.ratio),
            String(f.write.sequential),
            String(f.write.random),
            fmtPct(f.write.ratio),
          ]),
        ],
      ),
    ),
  );

  out.push(section('Hottest files', hotTable(r.hottestFiles)));
  out.push(section('Hottest directories', hotTable(r.hottestDirectories)));
  out.push(
    section(
      'Processes',
      table(
        ['pid', 'command', 'ops', 'reads', 'writes', 'read', 'written', 'fsyncs', 'errors'],
        r.processes.map((p) => [
          String(p.pid),
          commandName(p),
          String(p.ops),
          String(p.reads),
          String(p.writes),
          fmtBytes(p.bytesRead),
          fmtBytes(p.bytesWritten),
          String(p.fsyncs),
          String(p.errors),
        ]),
        2,
      ),
    ),
  );
  out.push(
    section(
      'Latency per operation',
      table(
        ['op', 'count', 'mean', 'p50', 'p90', 'p99', 'max'],
        r.latency.map((l) => [l.op, String(l.count), fmtUs(l.meanUs), fmtUs(l.p50Us), fmtUs(l.p90Us), fmtUs(l.p99Us), fmtUs(l.maxUs)]),
      ),
    ),
  );

  const f = r.fsync;
  out.push(
    section(
      'fsync',
      `${f.fsyncs} fsync (${fmtNum(f.perSecond)} per second, ${fmtNum(f.perWrittenMiB)} per written MiB), ${f.fsyncdirs} fsyncdir, ${f.syncfs} syncfs` +
        (f.files.length
          ? `\n${table(
              ['path', 'fsyncs'],
              f.files.map((x) => [x.path, String(x.fsyncs)]),
            )}`
          : ''),
    ),
  );

  out.push(
    section(
      'Errors',
      r.errors.length
        ? table(
            ['op', 'result', 'count', 'injected'],
            r.errors.map((e) => [e.op, e.result, String(e.count), String(e.injected)]),
            2,
          )
        : 'none',
    ),
  );
  out.push(
    section(
      'Rules that acted (interposer.rules)',
      r.injected.length
        ? table(
            ['rule', 'ops', 'results'],
            r.injected.map((i) => [
              i.rule,
              String(i.count),
              Object.entries(i.results)
                .map(([k, v]) => `${k} ${v}`)
                .join(', '),
            ]),
          )
        : 'none',
    ),
  );
  return out.join('\n');
}
