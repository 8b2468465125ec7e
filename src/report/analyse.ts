// Workload characterisation from traced operations: OpRecords, added one at
// a time, to a Report (plain data, written as JSON and rendered as text and
// HTML). Times in microseconds, sizes in bytes.
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
export function percentile(sorted: ArrayLike<number>, p: number): number {
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

/** Numbers appended one at a time into a typed array that doubles when full: 8 bytes an op, not an object. */
class Column {
  private data = new Float64Array(1024);
  length = 0;
  push(v: number): void {
    if (this.length === this.data.length) {
      const grown = new Float64Array(this.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = v;
  }
  get(i: number): number {
    return this.data[i];
  }
  /** The values, in a view of this column's storage. */
  values(): Float64Array {
    return this.data.subarray(0, this.length);
  }
}

type Sequentiality = Map<string, { read: [number, number]; write: [number, number] }>;

/**
 * A report built one operation at a time, so that `interposer report` reads a trace of any length in
 * one pass: what it keeps of each op is a few numbers in typed arrays (its start, duration and
 * outcome for the timeline and the latency percentiles; offset and size of reads and writes for
 * sequentiality), 24 bytes an op and 48 more a read or write, where the records themselves took
 * ~280 (and a trace of 15 million ops, ~4.5 GB of JSON, exhausted the JavaScript heap). The rest is
 * counted as it comes, per op name, path, directory, process, error and rule.
 */
export class Analysis {
  private readonly o: AnalyseOptions;
  private added = 0;
  private startUs = Infinity;
  private endUs = -Infinity;
  private readonly mix = new Map<string, { count: number; errors: number }>();
  private readonly sizes = SIZE_BOUNDS.map((le, i) => ({
    le,
    label: i === SIZE_BOUNDS.length - 1 ? `>${sizeLabel(SIZE_BOUNDS[i - 1])}` : `≤${sizeLabel(le)}`,
    read: 0,
    write: 0,
  }));
  private readonly files = new Map<string, HotRow>();
  private readonly dirs = new Map<string, HotRow>();
  private readonly directories = new Set<string>(['/']);
  private readonly procs = new Map<string, ProcessRow>();
  private readonly durations = new Map<string, Column>();
  private readonly errors = new Map<string, ErrorRow>();
  private readonly injected = new Map<string, InjectedRow>();
  private readonly fsyncFiles = new Map<string, number>();
  private readonly rw = { reads: 0, writes: 0, bytesRead: 0, bytesWritten: 0, copies: 0, bytesCopied: 0 };
  private filesCreated = 0;
  private directoriesCreated = 0;
  private errorCount = 0;
  private injectedCount = 0;
  private fsyncdirs = 0;
  private syncfs = 0;
  /** Every op: its start, and 1 if it failed (the timeline). */
  private readonly starts = new Column();
  private readonly failed = new Column();
  /** Reads and writes: start, path (an index into dataPaths), offset (NaN if none), where it ended, bytes moved, 1 for a write. */
  private readonly data = {
    start: new Column(),
    path: new Column(),
    offset: new Column(),
    end: new Column(),
    moved: new Column(),
    write: new Column(),
  };
  private readonly dataPathIds = new Map<string, number>();
  private readonly dataPaths: string[] = [];

  constructor(o: AnalyseOptions = {}) {
    this.o = o;
  }

  /** Operations added so far. */
  get count(): number {
    return this.added;
  }

  add(r: OpRecord): void {
    this.added++;
    if (r.startUs < this.startUs) this.startUs = r.startUs;
    if (r.startUs + r.durationUs > this.endUs) this.endUs = r.startUs + r.durationUs;
    const ok = r.result === 'ok';
    this.starts.push(r.startUs);
    this.failed.push(ok ? 0 : 1);

    const m = this.mix.get(r.op) ?? { count: 0, errors: 0 };
    m.count++;
    if (!ok) m.errors++;
    this.mix.set(r.op, m);

    let f = this.files.get(r.path);
    if (!f) this.files.set(r.path, (f = hotRow(r.path)));
    addHot(f, r);
    const dir = dirOf(r.path);
    let d = this.dirs.get(dir);
    if (!d) this.dirs.set(dir, (d = hotRow(dir)));
    addHot(d, r);
    // A path is a directory when another path lies beneath it or it was used as one.
    if (r.path !== '/') this.directories.add(dir);
    if (DIR_OPS.has(r.op)) this.directories.add(r.path);

    const pkey = `${r.pid}\0${r.command}`;
    let p = this.procs.get(pkey);
    if (!p) {
      p = { pid: r.pid, command: r.command, ops: 0, reads: 0, writes: 0, bytesRead: 0, bytesWritten: 0, fsyncs: 0, errors: 0 };
      this.procs.set(pkey, p);
    }
    p.ops++;
    if (!ok) p.errors++;

    let ds = this.durations.get(r.op);
    if (!ds) this.durations.set(r.op, (ds = new Column()));
    ds.push(r.durationUs);

    const rw = this.rw;
    if (isData(r.op)) {
      const size = r.requested ?? 0;
      const b = this.sizes.find((s) => size <= s.le) ?? this.sizes[this.sizes.length - 1];
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
      this.addData(r, bytes);
    } else if (r.op === 'copyFileRange') {
      rw.copies++;
      rw.bytesCopied += moved(r);
    } else if (r.op === 'fsync') {
      p.fsyncs++;
      bump(this.fsyncFiles, r.path);
    } else if (r.op === 'fsyncdir') this.fsyncdirs++;
    else if (r.op === 'syncfs') this.syncfs++;

    if (ok && (r.op === 'create' || r.op === 'mknod')) this.filesCreated++;
    if (ok && r.op === 'mkdir') this.directoriesCreated++;
    if (!ok) {
      this.errorCount++;
      const key = `${r.op}\0${r.result}`;
      const e = this.errors.get(key) ?? { op: r.op, result: r.result, count: 0, injected: 0 };
      e.count++;
      if (r.rules) e.injected++;
      this.errors.set(key, e);
    }
    if (r.rules) {
      this.injectedCount++;
      for (const rule of r.rules) {
        const row = this.injected.get(rule) ?? { rule, count: 0, results: {} };
        row.count++;
        row.results[r.result] = (row.results[r.result] ?? 0) + 1;
        this.injected.set(rule, row);
      }
    }
  }

  private addData(r: OpRecord, bytes: number): void {
    const d = this.data;
    let id = this.dataPathIds.get(r.path);
    if (id === undefined) {
      id = this.dataPaths.length;
      this.dataPathIds.set(r.path, id);
      this.dataPaths.push(r.path);
    }
    d.start.push(r.startUs);
    d.path.push(id);
    d.offset.push(r.offset ?? NaN);
    d.end.push((r.offset ?? 0) + (r.returned ?? r.requested ?? 0));
    d.moved.push(bytes);
    d.write.push(r.op === 'write' ? 1 : 0);
  }

  /**
   * Sequential or random, per file: a read or write is sequential when its offset is where the
   * previous read or write of the same path (by start time) ended (offset + bytes returned), or 0
   * for the first one.
   */
  sequentiality(): Sequentiality {
    const d = this.data;
    const n = d.start.length;
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    const starts = d.start.values();
    order.sort((a, b) => starts[a] - starts[b] || a - b);
    const next = new Map<number, number>();
    const out: Sequentiality = new Map();
    for (const i of order) {
      const offset = d.offset.get(i);
      if (Number.isNaN(offset)) continue;
      const id = d.path.get(i);
      const path = this.dataPaths[id];
      let s = out.get(path);
      if (!s) out.set(path, (s = { read: [0, 0], write: [0, 0] }));
      const pair = d.write.get(i) ? s.write : s.read;
      pair[offset === (next.get(id) ?? 0) ? 0 : 1]++;
      next.set(id, d.end.get(i));
    }
    return out;
  }

  finish(): Report {
    const o = this.o;
    const top = o.top ?? 20;
    const total = this.added;
    const startUs = total ? this.startUs : 0;
    const endUs = total ? this.endUs : 0;
    const seconds = (endUs - startUs) / 1e6;
    const seq = this.sequentiality();
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

    const rw = this.rw;
    const fsyncs = [...this.fsyncFiles.values()].reduce((a, b) => a + b, 0);
    return {
      source: o.source ?? '',
      window: { startUs, endUs, seconds },
      totals: {
        ops: total,
        errors: this.errorCount,
        injected: this.injectedCount,
        paths: this.files.size,
        dataFiles: [...this.files.values()].filter((f) => f.dataOps > 0).length,
        directories: this.dirs.size,
        processes: this.procs.size,
        filesCreated: this.filesCreated,
        directoriesCreated: this.directoriesCreated,
      },
      opMix: [...this.mix.entries()]
        .map(([op, m]) => ({ op, count: m.count, share: m.count / total, errors: m.errors }))
        .sort((a, b) => b.count - a.count || a.op.localeCompare(b.op)),
      ioSizes: trimSizes(this.sizes),
      readWrite: { ...rw, readOpsShare: ratio(rw.reads, rw.writes), readBytesShare: ratio(rw.bytesRead, rw.bytesWritten) },
      sequential: { read: seqStats(...seqRead), write: seqStats(...seqWrite), files: seqFiles },
      hottestFiles: rank(
        [...this.files.values()].filter((f) => !this.directories.has(f.path)),
        top,
      ),
      hottestDirectories: rank(this.dirs.values(), top),
      processes: [...this.procs.values()].sort((a, b) => b.ops - a.ops || a.pid - b.pid).slice(0, top),
      latency: [...this.durations.entries()]
        .map(([op, ds]) => latencyRow(op, ds.values()))
        .sort((a, b) => b.count - a.count || a.op.localeCompare(b.op)),
      fsync: {
        fsyncs,
        fsyncdirs: this.fsyncdirs,
        syncfs: this.syncfs,
        perSecond: seconds > 0 ? fsyncs / seconds : null,
        perWrittenMiB: rw.bytesWritten > 0 ? fsyncs / (rw.bytesWritten / MiB) : null,
        files: [...this.fsyncFiles.entries()]
          .map(([path, n]) => ({ path, fsyncs: n }))
          .sort((a, b) => b.fsyncs - a.fsyncs || a.path.localeCompare(b.path))
          .slice(0, top),
      },
      errors: [...this.errors.values()].sort((a, b) => b.count - a.count || a.op.localeCompare(b.op)),
      injected: [...this.injected.values()].sort((a, b) => b.count - a.count || a.rule.localeCompare(b.rule)),
      timeline: this.timeline(startUs, endUs, o.timelineBuckets ?? 60),
    };
  }

  private timeline(startUs: number, endUs: number, n: number): Report['timeline'] {
    if (this.added === 0) return { bucketUs: 0, buckets: [] };
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
    const at = (start: number): TimelineBucket => buckets[Math.min(count - 1, Math.floor((start - startUs) / bucketUs))];
    for (let i = 0; i < this.added; i++) {
      const b = at(this.starts.get(i));
      b.ops++;
      b.errors += this.failed.get(i);
    }
    const d = this.data;
    for (let i = 0; i < d.start.length; i++) {
      const b = at(d.start.get(i));
      if (d.write.get(i)) b.bytesWritten += d.moved.get(i);
      else b.bytesRead += d.moved.get(i);
    }
    return { bucketUs, buckets };
  }
}

/** Sequential or random, per file (Analysis.sequentiality) of these reads and writes. */
export function sequentiality(ops: readonly OpRecord[]): Sequentiality {
  const a = new Analysis();
  for (const r of ops) a.add(r);
  return a.sequentiality();
}

export function analyse(input: readonly OpRecord[], o: AnalyseOptions = {}): Report {
  const a = new Analysis(o);
  for (const r of input) a.add(r);
  return a.finish();
}

/** Drops empty buckets at both ends of the size histogram. */
function trimSizes(sizes: SizeBucket[]): SizeBucket[] {
  const used = (s: SizeBucket): boolean => s.read + s.write > 0;
  const first = sizes.findIndex(used);
  if (first < 0) return [];
  const last = sizes.length - 1 - [...sizes].reverse().findIndex(used);
  return sizes.slice(first, last + 1);
}

function latencyRow(op: string, ds: Float64Array): LatencyRow {
  ds.sort();
  let sum = 0;
  for (const d of ds) sum += d;
  return {
    op,
    count: ds.length,
    meanUs: sum / ds.length,
    p50Us: percentile(ds, 50),
    p90Us: percentile(ds, 90),
    p99Us: percentile(ds, 99),
    maxUs: ds[ds.length - 1],
  };
}
