// The report's tables as data: headings and rows of already formatted cells.
// The text and HTML renderers draw the same tables, so what a column is
// called and how its numbers read is decided here once.
import type { ErrorRow, HotRow, InjectedRow, LatencyRow, OpMixRow, ProcessRow, Report, SeqStats, SizeBucket } from './analyse.ts';
import { commandName, fmtBytes, fmtPct, fmtUs } from './format.ts';

export interface Table {
  head: string[];
  rows: string[][];
  /** How many leading columns hold names rather than numbers: the text report aligns them left. */
  leftColumns: number;
  /** The first column holds paths: the HTML report sets it in monospace and lets it break anywhere. */
  pathColumn: boolean;
}

export function opMixTable(rows: OpMixRow[]): Table {
  return {
    head: ['op', 'count', 'share', 'errors'],
    rows: rows.map((m) => [m.op, String(m.count), fmtPct(m.share), String(m.errors)]),
    leftColumns: 1,
    pathColumn: false,
  };
}

/** Only the text report shows this one as a table; the HTML report draws it. */
export function readWriteTable(rw: Report['readWrite']): Table {
  return {
    head: ['', 'reads', 'writes', 'read share'],
    rows: [
      ['operations', String(rw.reads), String(rw.writes), fmtPct(rw.readOpsShare)],
      ['bytes', fmtBytes(rw.bytesRead), fmtBytes(rw.bytesWritten), fmtPct(rw.readBytesShare)],
    ],
    leftColumns: 1,
    pathColumn: false,
  };
}

/** Only the text report shows this one as a table; the HTML report draws it. */
export function ioSizeTable(buckets: SizeBucket[]): Table {
  return {
    head: ['size', 'reads', 'writes'],
    rows: buckets.map((b) => [b.label, String(b.read), String(b.write)]),
    leftColumns: 1,
    pathColumn: false,
  };
}

function sequentialRow(path: string, read: SeqStats, write: SeqStats): string[] {
  return [
    path,
    String(read.sequential),
    String(read.random),
    fmtPct(read.ratio),
    String(write.sequential),
    String(write.random),
    fmtPct(write.ratio),
  ];
}

/**
 * Sequential and random I/O per file. With `allFilesRow` the totals lead as a
 * row "(all files)"; without, the caller states them some other way.
 */
export function sequentialTable(s: Report['sequential'], allFilesRow: boolean): Table {
  const files = s.files.map((f) => sequentialRow(f.path, f.read, f.write));
  return {
    head: ['path', 'seq reads', 'random reads', 'read seq', 'seq writes', 'random writes', 'write seq'],
    rows: allFilesRow ? [sequentialRow('(all files)', s.read, s.write), ...files] : files,
    leftColumns: 1,
    pathColumn: true,
  };
}

/** The hottest files or directories. */
export function hotTable(rows: HotRow[]): Table {
  return {
    head: ['path', 'ops', 'reads+writes', 'read', 'written', 'busy'],
    rows: rows.map((r) => [r.path, String(r.ops), String(r.dataOps), fmtBytes(r.bytesRead), fmtBytes(r.bytesWritten), fmtUs(r.busyUs)]),
    leftColumns: 1,
    pathColumn: true,
  };
}

export function processTable(rows: ProcessRow[]): Table {
  return {
    head: ['pid', 'command', 'ops', 'reads', 'writes', 'read', 'written', 'fsyncs', 'errors'],
    rows: rows.map((p) => [
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
    leftColumns: 2,
    pathColumn: false,
  };
}

export function latencyTable(rows: LatencyRow[]): Table {
  return {
    head: ['op', 'count', 'mean', 'p50', 'p90', 'p99', 'max'],
    rows: rows.map((l) => [l.op, String(l.count), fmtUs(l.meanUs), fmtUs(l.p50Us), fmtUs(l.p90Us), fmtUs(l.p99Us), fmtUs(l.maxUs)]),
    leftColumns: 1,
    pathColumn: false,
  };
}

export function fsyncFileTable(files: Report['fsync']['files']): Table {
  return {
    head: ['path', 'fsyncs'],
    rows: files.map((x) => [x.path, String(x.fsyncs)]),
    leftColumns: 1,
    pathColumn: true,
  };
}

export function errorTable(rows: ErrorRow[]): Table {
  return {
    head: ['op', 'result', 'count', 'injected'],
    rows: rows.map((e) => [e.op, e.result, String(e.count), String(e.injected)]),
    leftColumns: 2,
    pathColumn: false,
  };
}

export function injectedTable(rows: InjectedRow[]): Table {
  return {
    head: ['rule', 'ops', 'results'],
    rows: rows.map((i) => [
      i.rule,
      String(i.count),
      Object.entries(i.results)
        .map(([k, v]) => `${k} ${v}`)
        .join(', '),
    ]),
    leftColumns: 1,
    pathColumn: false,
  };
}
