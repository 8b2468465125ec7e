// Workload characterisation from traced operations: pure functions from
// OpRecords to a Report (plain data, written as JSON and rendered as text
// and HTML). Times in microseconds, sizes in bytes.
import type { OpRecord } from './read.ts';

export interface Count {
  count: number;
  share: number;
}
export interface OpMixRow extends Count {
  op: string;
  errors: number;
}
export interface SizeBucket {
  /** Upper bound of the bucket in bytes (sizes in (bound/2, bound]); the last bucket is open-ended. */
  le: number;
  label: string;
  read: number;
  write: number;
}
export interface SeqStats {
  sequential: number;
  random: number;
  /** sequential / (sequential + random), null with no ops. */
  ratio: number | null;
}
export interface FileSeq {
  path: string;
  read: SeqStats;
  write: SeqStats;
}
export interface HotRow {
  path: string;
  ops: number;
  dataOps: number;
  bytesRead: number;
  bytesWritten: number;
  /** Time spent in operations on it. */
  busyUs: number;
}
export interface ProcessRow {
  pid: number;
  command: string;
  ops: number;
  reads: number;
  writes: number;
  bytesRead: number;
  bytesWritten: number;
  fsyncs: number;
  errors: number;
}
export interface LatencyRow {
  op: string;
  count: number;
  meanUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  maxUs: number;
}
export interface ErrorRow {
  op: string;
  result: string;
  count: number;
  /** Of which a rule acted on the op (an injected fault). */
  injected: number;
}
export interface InjectedRow {
  rule: string;
  count: number;
  /** Results of the ops the rule acted on: ok for delays and throttling, an errno for faults. */
  results: Record<string, number>;
}
export interface TimelineBucket {
  startUs: number;
  ops: number;
  bytesRead: number;
  bytesWritten: number;
  errors: number;
}

export interface Report {
  source: string;
  /** First op start and last op end (µs since the epoch), and the seconds between. */
  window: { startUs: number; endUs: number; seconds: number };
  /**
   * paths: distinct paths operated on; dataFiles: those read or written; filesCreated: successful
   * create/mknod; directoriesCreated: successful mkdir; injected: ops a rule acted on.
   */
  totals: {
    ops: number;
    errors: number;
    injected: number;
    paths: number;
    dataFiles: number;
    directories: number;
    processes: number;
    filesCreated: number;
    directoriesCreated: number;
  };
  opMix: OpMixRow[];
  ioSizes: SizeBucket[];
  readWrite: {
    reads: number;
    writes: number;
    bytesRead: number;
    bytesWritten: number;
    /** reads / (reads + writes) and bytesRead / (bytesRead + bytesWritten); null with none. */
    readOpsShare: number | null;
    readBytesShare: number | null;
    /** copy_file_range: data the kernel asked to copy between files without passing it through reads and writes. */
    copies: number;
    bytesCopied: number;
  };
  sequential: { read: SeqStats; write: SeqStats; files: FileSeq[] };
  hottestFiles: HotRow[];
  hottestDirectories: HotRow[];
  processes: ProcessRow[];
  latency: LatencyRow[];
  fsync: {
    fsyncs: number;
    fsyncdirs: number;
    syncfs: number;
    perSecond: number | null;
    perWrittenMiB: number | null;
    files: Array<{ path: string; fsyncs: number }>;
  };
  errors: ErrorRow[];
  injected: InjectedRow[];
  timeline: { bucketUs: number; buckets: TimelineBucket[] };
}

export interface AnalyseOptions {
  /** Name of the trace (a file path or "live MOUNTPOINT"). */
  source?: string;
  /** Rows kept in each ranked list (files, directories, processes, sequential files). */
  top?: number;
  /** Points on the timeline. */
  timelineBuckets?: number;
}

const MiB = 1024 * 1024;
const SIZE_BOUNDS = Array.from({ length: 16 }, (_, i) => 512 * 2 ** i); // 512B .. 16MiB

export function sizeLabel(bytes: number): string {
  if (bytes >= MiB && bytes % MiB === 0) return `${bytes / MiB}MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024}KiB`;
  return `${bytes}B`;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export function dirOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

const ratio = (a: number, b: number): number | null => (a + b === 0 ? null : a / (a + b));
const seqStats = (sequential: number, random: number): SeqStats => ({ sequential, random, ratio: ratio(sequential, random) });
const DIR_OPS = new Set(['mkdir', 'rmdir', 'opendir', 'readdir', 'releasedir', 'fsyncdir']);
const isData = (op: string): boolean => op === 'read' || op === 'write';
/** Bytes a read or write moved: what it returned when it succeeded, else nothing. */
const moved = (r: OpRecord): number => (r.result === 'ok' ? (r.returned ?? r.requested ?? 0) : 0);

function bump<K>(m: Map<K, number>, k: K, by = 1): void {
  m.set(k, (m.get(k) ?? 0) + by);
}

function hotRow(path: string): HotRow {
  return { path, ops: 0, dataOps: 0, bytesRead: 0, bytesWritten: 0, busyUs: 0 };
}

function addHot(row: HotRow, r: OpRecord): void {
  row.ops++;
  row.busyUs += r.durationUs;
  if (!isData(r.op)) return;
  row.dataOps++;
  if (r.op === 'read') row.bytesRead += moved(r);
  else row.bytesWritten += moved(r);
}

/** Hottest first: by operations, then bytes, then name. */
function rank(rows: Iterable<HotRow>, top: number): HotRow[] {
  return [...rows]
    .sort((a, b) => b.ops - a.ops || b.bytesRead + b.bytesWritten - (a.bytesRead + a.bytesWritten) || a.path.localeCompare(b.path))
    .slice(0, top);
}

/**
 * Sequential or random, per file: a read or write is sequential when its
 * offset is where the previous read or write of the same path ended
 * (offset + bytes moved), or 0 for the first one.
 */
export function sequentiality(ops: readonly OpRecord[]): Map<string, { read: [number, number]; write: [number, number] }> {
  const next = new Map<string, number>();
  const out = new Map<string, { read: [number, number]; write: [number, number] }>();
  for (const r of ops) {
    if (!isData(r.op) || r.offset === undefined) continue;
    const expected = next.get(r.path) ?? 0;
    let s = out.get(r.path);
    if (!s) out.set(r.path, (s = { read: [0, 0], write: [0, 0] }));
    const pair = r.op === 'read' ? s.read : s.write;
    pair[r.offset === expected ? 0 : 1]++;
    next.set(r.path, r.offset + (r.returned ?? r.requested ?? 0));
  }
  return out;
}

export function analyse(input: readonly OpRecord[], o: AnalyseOptions = {}): Report {
  const top = o.top ?? 20;
  const ops = [...input].sort((a, b) => a.startUs - b.startUs);
  const startUs = ops.length ? ops[0].startUs : 0;
  const endUs = ops.reduce((m, r) => Math.max(m, r.startUs + r.durationUs), startUs);
  const seconds = (endUs - startUs) / 1e6;

  const mix = new Map<string, { count: number; errors: number }>();
  const sizes = SIZE_BOUNDS.map((le, i) => ({
    le,
    label: i === SIZE_BOUNDS.length - 1 ? `>${sizeLabel(SIZE_BOUNDS[i - 1])}` : `≤${sizeLabel(le)}`,
    read: 0,
    write: 0,
  }));
  const files = new Map<string, HotRow>();
  const dirs = new Map<string, HotRow>();
  const procs = new Map<string, ProcessRow>();
  const durations = new Map<string, number[]>();
  const errors = new Map<string, ErrorRow>();
  const injected = new Map<string, InjectedRow>();
  const fsyncFiles = new Map<string, number>();
  const rw = { reads: 0, writes: 0, bytesRead: 0, bytesWritten: 0, copies: 0, bytesCopied: 0 };
  let filesCreated = 0;
  let directoriesCreated = 0;
  let errorCount = 0;
  let injectedCount = 0;
  let fsyncdirs = 0;
  let syncfs = 0;

  for (const r of ops) {
    const m = mix.get(r.op) ?? { count: 0, errors: 0 };
    m.count++;
    if (r.result !== 'ok') m.errors++;
    mix.set(r.op, m);

    let f = files.get(r.path);
    if (!f) files.set(r.path, (f = hotRow(r.path)));
    addHot(f, r);
    const dir = dirOf(r.path);
    let d = dirs.get(dir);
    if (!d) dirs.set(dir, (d = hotRow(dir)));
    addHot(d, r);

    const pkey = `${r.pid}\0${r.command}`;
    let p = procs.get(pkey);
    if (!p)
      procs.set(
        pkey,
        (p = { pid: r.pid, command: r.command, ops: 0, reads: 0, writes: 0, bytesRead: 0, bytesWritten: 0, fsyncs: 0, errors: 0 }),
      );
    p.ops++;
    if (r.result !== 'ok') p.errors++;

    let ds = durations.get(r.op);
    if (!ds) durations.set(r.op, (ds = []));
    ds.push(r.durationUs);

    if (isData(r.op)) {
      const size = r.requested ?? 0;
      const b = sizes.find((s) => size <= s.le) ?? sizes[sizes.length - 1];
      const bytes = moved(r);
      if (r.op === 'read') {
        b.read++;
        rw.reads++;
        rw.bytesRead += bytes;
        p.reads++;
        p.bytesRead += bytes;
      } else {
        b.write++;
        rw.writes++;
        rw.bytesWritten += bytes;
        p.writes++;
        p.bytesWritten += bytes;
      }
    } else if (r.op === 'copyFileRange') {
      rw.copies++;
      rw.bytesCopied += moved(r);
    } else if (r.op === 'fsync') {
      p.fsyncs++;
      bump(fsyncFiles, r.path);
    } else if (r.op === 'fsyncdir') fsyncdirs++;
    else if (r.op === 'syncfs') syncfs++;

    if (r.result === 'ok' && (r.op === 'create' || r.op === 'mknod')) filesCreated++;
    if (r.result === 'ok' && r.op === 'mkdir') directoriesCreated++;
    if (r.result !== 'ok') {
      errorCount++;
      const key = `${r.op}\0${r.result}`;
      const e = errors.get(key) ?? { op: r.op, result: r.result, count: 0, injected: 0 };
      e.count++;
      if (r.rules) e.injected++;
      errors.set(key, e);
    }
    if (r.rules) {
      injectedCount++;
      for (const rule of r.rules) {
        const row = injected.get(rule) ?? { rule, count: 0, results: {} };
        row.count++;
        row.results[r.result] = (row.results[r.result] ?? 0) + 1;
        injected.set(rule, row);
      }
    }
  }

  // A path is a directory when another path lies beneath it or it was used as one.
  const directories = new Set<string>(['/']);
  for (const r of ops) {
    if (r.path !== '/') directories.add(dirOf(r.path));
    if (DIR_OPS.has(r.op)) directories.add(r.path);
  }

  const seq = sequentiality(ops);
  let seqRead: [number, number] = [0, 0];
  let seqWrite: [number, number] = [0, 0];
  for (const s of seq.values()) {
    seqRead = [seqRead[0] + s.read[0], seqRead[1] + s.read[1]];
    seqWrite = [seqWrite[0] + s.write[0], seqWrite[1] + s.write[1]];
  }
  const seqFiles: FileSeq[] = [...seq.entries()]
    .sort(
      (a, b) =>
        b[1].read[0] + b[1].read[1] + b[1].write[0] + b[1].write[1] - (a[1].read[0] + a[1].read[1] + a[1].write[0] + a[1].write[1]) ||
        a[0].localeCompare(b[0]),
    )
    .slice(0, top)
    .map(([path, s]) => ({ path, read: seqStats(...s.read), write: seqStats(...s.write) }));

  const fsyncs = [...fsyncFiles.values()].reduce((a, b) => a + b, 0);
  const total = ops.length;
  return {
    source: o.source ?? '',
    window: { startUs, endUs, seconds },
    totals: {
      ops: total,
      errors: errorCount,
      injected: injectedCount,
      paths: files.size,
      dataFiles: [...files.values()].filter((f) => f.dataOps > 0).length,
      directories: dirs.size,
      processes: procs.size,
      filesCreated,
      directoriesCreated,
    },
    opMix: [...mix.entries()]
      .map(([op, m]) => ({ op, count: m.count, share: m.count / total, errors: m.errors }))
      .sort((a, b) => b.count - a.count || a.op.localeCompare(b.op)),
    ioSizes: trimSizes(sizes),
    readWrite: { ...rw, readOpsShare: ratio(rw.reads, rw.writes), readBytesShare: ratio(rw.bytesRead, rw.bytesWritten) },
    sequential: { read: seqStats(...seqRead), write: seqStats(...seqWrite), files: seqFiles },
    hottestFiles: rank(
      [...files.values()].filter((f) => !directories.has(f.path)),
      top,
    ),
    hottestDirectories: rank(dirs.values(), top),
    processes: [...procs.values()].sort((a, b) => b.ops - a.ops || a.pid - b.pid).slice(0, top),
    latency: [...durations.entries()].map(([op, ds]) => latencyRow(op, ds)).sort((a, b) => b.count - a.count || a.op.localeCompare(b.op)),
    fsync: {
      fsyncs,
      fsyncdirs,
      syncfs,
      perSecond: seconds > 0 ? fsyncs / seconds : null,
      perWrittenMiB: rw.bytesWritten > 0 ? fsyncs / (rw.bytesWritten / MiB) : null,
      files: [...fsyncFiles.entries()]
        .map(([path, n]) => ({ path, fsyncs: n }))
        .sort((a, b) => b.fsyncs - a.fsyncs || a.path.localeCompare(b.path))
        .slice(0, top),
    },
    errors: [...errors.values()].sort((a, b) => b.count - a.count || a.op.localeCompare(b.op)),
    injected: [...injected.values()].sort((a, b) => b.count - a.count || a.rule.localeCompare(b.rule)),
    timeline: timeline(ops, startUs, endUs, o.timelineBuckets ?? 60),
  };
}

/** Drops empty buckets at both ends of the size histogram. */
function trimSizes(sizes: SizeBucket[]): SizeBucket[] {
  const used = (s: SizeBucket): boolean => s.read + s.write > 0;
  const first = sizes.findIndex(used);
  if (first < 0) return [];
  const last = sizes.length - 1 - [...sizes].reverse().findIndex(used);
  return sizes.slice(first, last + 1);
}

function latencyRow(op: string, ds: number[]): LatencyRow {
  ds.sort((a, b) => a - b);
  return {
    op,
    count: ds.length,
    meanUs: ds.reduce((a, b) => a + b, 0) / ds.length,
    p50Us: percentile(ds, 50),
    p90Us: percentile(ds, 90),
    p99Us: percentile(ds, 99),
    maxUs: ds[ds.length - 1],
  };
}

function timeline(ops: readonly OpRecord[], startUs: number, endUs: number, n: number): Report['timeline'] {
  if (ops.length === 0) return { bucketUs: 0, buckets: [] };
  // Round the bucket to a whole number of milliseconds so the chart's axis reads well.
  const bucketUs = Math.max(1000, Math.ceil((endUs - startUs + 1) / n / 1000) * 1000);
  const count = Math.max(1, Math.ceil((endUs - startUs + 1) / bucketUs));
  const buckets: TimelineBucket[] = Array.from({ length: count }, (_, i) => ({
    startUs: startUs + i * bucketUs,
    ops: 0,
    bytesRead: 0,
    bytesWritten: 0,
    errors: 0,
  }));
  for (const r of ops) {
    const b = buckets[Math.min(count - 1, Math.floor((r.startUs - startUs) / bucketUs))];
    b.ops++;
    if (r.result !== 'ok') b.errors++;
    if (r.op === 'read') b.bytesRead += moved(r);
    else if (r.op === 'write') b.bytesWritten += moved(r);
  }
  return { bucketUs, buckets };
}
