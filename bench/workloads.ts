// The workloads. Each one works in its own corner of a target's directory,
// only through child processes, and returns rates (higher is better), so a
// ratio above 1 always means "faster than the other".
import { check, dropCaches, hasCommand, run, sync, worker, workersTogether } from './exec.ts';

export interface Sizes {
  /** The large file of the sequential and random workloads. */
  bigFile: number;
  /** Seconds of each time-based random-I/O run. */
  randSeconds: number;
  smallFiles: number;
  smallFileSize: number;
  dirEntries: number;
  /** A tarball of a real source tree, made once before the first round. */
  tarball: string;
  tarEntries: number;
  sqliteTx: number;
}

export interface Metric {
  key: string;
  unit: string;
  /** What exactly is timed. */
  how: string;
}

export interface Workload {
  name: string;
  metrics: Metric[];
  /** Why it cannot run here, or null. */
  unavailable?(): string | null;
  run(dir: string, s: Sizes): Promise<Record<string, number>>;
}

const MB = 1e6;
const BIG = 'bench-big.bin';

/** The large file, written (untimed) if an earlier workload did not leave it. */
async function ensureBigFile(dir: string, s: Sizes): Promise<string> {
  const f = `${dir}/${BIG}`;
  if ((await run('test', ['-f', f])).code !== 0) await worker('seqwrite', [f, s.bigFile]);
  return f;
}

interface FioJob {
  rw: string;
  args: string[];
}

/** Runs one fio job on `file` and returns its IOPS (read + write). */
async function fio(file: string, s: Sizes, job: FioJob): Promise<number> {
  const r = await check('fio', [
    '--name=bench',
    `--filename=${file}`,
    `--size=${s.bigFile}`,
    `--rw=${job.rw}`,
    '--bs=4k',
    `--runtime=${s.randSeconds}`,
    '--time_based',
    '--group_reporting',
    '--output-format=json',
    ...job.args,
  ]);
  const out = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as { jobs: Array<{ read: { iops: number }; write: { iops: number } }> };
  const j = out.jobs[0];
  return j.read.iops + j.write.iops;
}

export const seq: Workload = {
  name: 'seq',
  metrics: [
    {
      key: 'seq-write',
      unit: 'MB/s',
      how: 'sync, then write a new large file with 1 MiB write(2)s; clock stops when the last write returns (page cache)',
    },
    { key: 'seq-write+fsync', unit: 'MB/s', how: 'the same pass; clock stops after the fsync that follows (on disk)' },
    {
      key: 'seq-read-cold',
      unit: 'MB/s',
      how: 'sync + drop_caches, then 1 MiB read(2)s of the whole file (buffered, readahead as configured)',
    },
    { key: 'seq-read-warm', unit: 'MB/s', how: 'the same read again at once (page cache, or the daemon where nothing is cached)' },
  ],
  async run(dir, s) {
    const f = `${dir}/${BIG}`;
    await sync();
    const w = await worker('seqwrite', [f, s.bigFile]);
    await dropCaches();
    const cold = await worker('seqread', [f]);
    const warm = await worker('seqread', [f]);
    return {
      'seq-write': w.bytes / w.writeSeconds / MB,
      'seq-write+fsync': w.bytes / (w.writeSeconds + w.fsyncSeconds) / MB,
      'seq-read-cold': cold.bytes / cold.seconds / MB,
      'seq-read-warm': warm.bytes / warm.seconds / MB,
    };
  },
};

export const rand: Workload = {
  name: 'rand',
  metrics: [
    {
      key: 'rand-read-4k',
      unit: 'IOPS',
      how: 'sync + drop_caches, then 4 KiB random reads of the large file, 1 thread, buffered, queue depth 1, time-based (fio psync if installed, else a Node pread loop)',
    },
  ],
  async run(dir, s) {
    const f = await ensureBigFile(dir, s);
    await dropCaches();
    if (hasCommand('fio')) return { 'rand-read-4k': await fio(f, s, { rw: 'randread', args: ['--ioengine=psync'] }) };
    const r = await worker('randread', [f, s.randSeconds]);
    return { 'rand-read-4k': r.ops / r.seconds };
  },
};

export const fioJobs: Workload = {
  name: 'fio',
  metrics: [
    {
      key: 'fio-randread-qd16',
      unit: 'IOPS',
      how: 'fio 4 KiB randread, O_DIRECT, libaio iodepth 16, 1 job (bindfs clears O_DIRECT by default, so it reads its page cache)',
    },
    {
      key: 'fio-randrw-4jobs',
      unit: 'IOPS',
      how: 'sync + drop_caches, then fio 4 KiB randrw 70% reads, buffered psync, 4 jobs on the large file',
    },
  ],
  unavailable: () => (hasCommand('fio') ? null : 'fio is not installed'),
  async run(dir, s) {
    const f = await ensureBigFile(dir, s);
    const qd = await fio(f, s, { rw: 'randread', args: ['--direct=1', '--ioengine=libaio', '--iodepth=16'] });
    await dropCaches();
    const mixed = await fio(f, s, { rw: 'randrw', args: ['--rwmixread=70', '--ioengine=psync', '--numjobs=4'] });
    return { 'fio-randread-qd16': qd, 'fio-randrw-4jobs': mixed };
  },
};

export const smallfiles: Workload = {
  name: 'smallfiles',
  metrics: [
    { key: 'create+write', unit: 'files/s', how: 'sync, then open(O_CREAT)+write 4 KiB+close of each new file in one directory' },
    { key: 'stat', unit: 'files/s', how: 'sync + drop_caches, then lstat of each' },
    { key: 'open+read', unit: 'files/s', how: 'sync + drop_caches, then open+read+close of each' },
    { key: 'unlink', unit: 'files/s', how: 'unlink of each (names cached), then rmdir' },
  ],
  async run(dir, s) {
    const d = `${dir}/bench-small`;
    await sync();
    const c = await worker('create', [d, s.smallFiles, s.smallFileSize]);
    await dropCaches();
    const st = await worker('stat', [d, s.smallFiles]);
    await dropCaches();
    const rd = await worker('read', [d, s.smallFiles]);
    const un = await worker('unlink', [d, s.smallFiles]);
    const rate = (r: Record<string, number>): number => r.ops / r.seconds;
    return { 'create+write': rate(c), stat: rate(st), 'open+read': rate(rd), unlink: rate(un) };
  },
};

/** Clients of the parallel workload, each with its own directory and its share of the small files (its keys say 4). */
const CLIENTS = 4;

export const parallel: Workload = {
  name: 'parallel',
  metrics: [
    {
      key: 'create+write (4 clients)',
      unit: 'files/s',
      how: 'the smallfiles steps in 4 processes at once, each in its own directory with a quarter of the files: create+write',
    },
    { key: 'stat (4 clients)', unit: 'files/s', how: 'sync + drop_caches, then lstat of each, the clients at once' },
    { key: 'open+read (4 clients)', unit: 'files/s', how: 'sync + drop_caches, then open+read+close of each, the clients at once' },
    { key: 'unlink (4 clients)', unit: 'files/s', how: 'unlink of each (names cached), then rmdir, the clients at once' },
  ],
  async run(dir, s) {
    const each = Math.ceil(s.smallFiles / CLIENTS);
    const dirs = Array.from({ length: CLIENTS }, (_, k) => `${dir}/bench-parallel-${k}`);
    const together = async (step: string, ...args: number[]): Promise<number> => {
      const r = await workersTogether(
        step,
        dirs.map((d) => [d, each, ...args]),
      );
      return r.ops / r.seconds;
    };
    await sync();
    const create = await together('create', s.smallFileSize);
    await dropCaches();
    const stat = await together('stat');
    await dropCaches();
    const read = await together('read');
    const unlink = await together('unlink');
    return { 'create+write (4 clients)': create, 'stat (4 clients)': stat, 'open+read (4 clients)': read, 'unlink (4 clients)': unlink };
  },
};

export const readdir: Workload = {
  name: 'readdir',
  metrics: [
    { key: 'readdir', unit: 'entries/s', how: 'sync + drop_caches, then readdir of the large directory (names only)' },
    { key: 'readdir-again', unit: 'entries/s', how: 'the same readdir again at once (a second ls)' },
    { key: 'readdir+stat', unit: 'entries/s', how: 'sync + drop_caches, then readdir and lstat of every entry (ls -l)' },
  ],
  async run(dir, s) {
    const d = `${dir}/bench-dir`;
    await worker('mkfiles', [d, s.dirEntries]);
    await dropCaches();
    const r = await worker('readdir', [d]);
    const again = await worker('readdir', [d]);
    await dropCaches();
    const rs = await worker('readdirstat', [d]);
    await check('rm', ['-rf', d]);
    if (r.ops !== s.dirEntries) throw new Error(`readdir saw ${r.ops} entries, expected ${s.dirEntries}`);
    return { readdir: r.ops / r.seconds, 'readdir-again': again.ops / again.seconds, 'readdir+stat': rs.ops / rs.seconds };
  },
};

export const untar: Workload = {
  name: 'untar',
  metrics: [
    {
      key: 'untar',
      unit: 'entries/s',
      how: 'sync, then tar -xf of the source-tree tarball (tarball on the native disk, in the page cache); no sync after',
    },
    { key: 'rm -rf', unit: 'entries/s', how: 'rm -rf of the extracted tree at once (names cached)' },
  ],
  async run(dir, s) {
    const d = `${dir}/bench-untar`;
    await check('mkdir', ['-p', d]);
    await check('sh', ['-c', 'cat "$1" > /dev/null && sync', 'sh', s.tarball]);
    const x = await check('tar', ['-xf', s.tarball, '-C', d]);
    const rm = await check('rm', ['-rf', d]);
    return { untar: s.tarEntries / x.seconds, 'rm -rf': s.tarEntries / rm.seconds };
  },
};

export const sqlite: Workload = {
  name: 'sqlite',
  metrics: [
    {
      key: 'sqlite-tx',
      unit: 'tx/s',
      how: 'sync, then the sqlite3 CLI: rollback journal, PRAGMA synchronous=FULL, one INSERT per transaction (each: journal create, 2+ fsyncs, journal delete); whole process timed',
    },
  ],
  unavailable: () => (hasCommand('sqlite3') ? null : 'sqlite3 is not installed'),
  async run(dir, s) {
    const db = `${dir}/bench.db`;
    await check('rm', ['-f', db, `${db}-journal`]);
    await sync();
    const lines = ['PRAGMA journal_mode=DELETE;', 'PRAGMA synchronous=FULL;', 'CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);'];
    for (let i = 0; i < s.sqliteTx; i++) lines.push(`INSERT INTO t(v) VALUES ('row ${i} ${'x'.repeat(100)}');`);
    const r = await check('sqlite3', [db], { input: `${lines.join('\n')}\n` });
    const n = await check('sqlite3', [db, 'SELECT count(*) FROM t;']);
    if (Number(n.stdout.trim()) !== s.sqliteTx) throw new Error(`sqlite3 stored ${n.stdout.trim()} rows, expected ${s.sqliteTx}`);
    await check('rm', ['-f', db]);
    return { 'sqlite-tx': s.sqliteTx / r.seconds };
  },
};

/** In the order each round runs them (seq leaves the large file for rand and fio). */
export const WORKLOADS: Workload[] = [seq, rand, fioJobs, smallfiles, parallel, readdir, untar, sqlite];
