// One benchmark step, run as a child process of bench/run.ts so that the
// bench process itself never does synchronous I/O on a mount. Each step times
// only its own loop and prints one JSON object on stdout.
//
//   node bench/worker.ts seqwrite FILE BYTES     1 MiB write(2)s, then fsync
//   node bench/worker.ts seqread FILE            1 MiB read(2)s until EOF
//   node bench/worker.ts randread FILE SECONDS   4 KiB pread(2)s at random offsets (when fio is missing)
//   node bench/worker.ts create DIR N SIZE       open+write+close of N new files
//   node bench/worker.ts stat DIR N              lstat of each
//   node bench/worker.ts read DIR N              open+read+close of each
//   node bench/worker.ts unlink DIR N            unlink of each, then rmdir
//   node bench/worker.ts mkfiles DIR N           N empty files (setup, timed anyway)
//   node bench/worker.ts readdir DIR             the names only (getdents)
//   node bench/worker.ts readdirstat DIR         names, then lstat of each (what ls -l does)
//
// With BENCH_START_AT (ms since the epoch) in its environment a worker waits
// until then before its step, so that clients started one after another run
// their loops together; it then also prints when the step began and ended
// (startedAt, endedAt: ms since the epoch).
import {
  closeSync,
  fsyncSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmdirSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

const MiB = 1024 * 1024;
const now = (): number => performance.now() / 1000;
const name = (i: number): string => `f${String(i).padStart(6, '0')}`;

type Result = Record<string, number>;

const steps: Record<string, (args: string[]) => Result> = {
  seqwrite([file, bytes]) {
    const total = Number(bytes);
    const buf = Buffer.alloc(MiB);
    // Not zeros only, in case some layer below ever compresses.
    for (let i = 0; i < buf.length; i += 4096) buf.writeUInt32LE((i * 2654435761) >>> 0, i);
    const fd = openSync(file, 'w');
    const t0 = now();
    for (let done = 0; done < total; done += MiB) writeSync(fd, buf, 0, Math.min(MiB, total - done));
    const t1 = now();
    fsyncSync(fd);
    const t2 = now();
    closeSync(fd);
    return { bytes: total, writeSeconds: t1 - t0, fsyncSeconds: t2 - t1 };
  },

  seqread([file]) {
    const buf = Buffer.allocUnsafe(MiB);
    const fd = openSync(file, 'r');
    const t0 = now();
    let total = 0;
    for (let n; (n = readSync(fd, buf, 0, MiB, null)) > 0;) total += n;
    const t1 = now();
    closeSync(fd);
    return { bytes: total, seconds: t1 - t0 };
  },

  randread([file, seconds]) {
    const buf = Buffer.allocUnsafe(4096);
    const fd = openSync(file, 'r');
    const blocks = Math.floor(fstatSync(fd).size / 4096);
    let x = 0x9e3779b9;
    const t0 = now();
    const until = t0 + Number(seconds);
    let ops = 0;
    for (; (ops & 255) !== 0 || now() < until; ops++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      readSync(fd, buf, 0, 4096, ((x >>> 0) % blocks) * 4096);
    }
    const t1 = now();
    closeSync(fd);
    return { ops, seconds: t1 - t0 };
  },

  create([dir, n, size]) {
    const data = Buffer.alloc(Number(size), 0x61);
    mkdirSync(dir, { recursive: true });
    const t0 = now();
    for (let i = 0; i < Number(n); i++) writeFileSync(join(dir, name(i)), data);
    return { ops: Number(n), seconds: now() - t0 };
  },

  stat([dir, n]) {
    const t0 = now();
    for (let i = 0; i < Number(n); i++) lstatSync(join(dir, name(i)));
    return { ops: Number(n), seconds: now() - t0 };
  },

  read([dir, n]) {
    const t0 = now();
    let bytes = 0;
    for (let i = 0; i < Number(n); i++) bytes += readFileSync(join(dir, name(i))).length;
    return { ops: Number(n), bytes, seconds: now() - t0 };
  },

  unlink([dir, n]) {
    const t0 = now();
    for (let i = 0; i < Number(n); i++) unlinkSync(join(dir, name(i)));
    rmdirSync(dir);
    return { ops: Number(n), seconds: now() - t0 };
  },

  mkfiles([dir, n]) {
    mkdirSync(dir, { recursive: true });
    const t0 = now();
    for (let i = 0; i < Number(n); i++) closeSync(openSync(join(dir, name(i)), 'w'));
    return { ops: Number(n), seconds: now() - t0 };
  },

  readdir([dir]) {
    const t0 = now();
    const names = readdirSync(dir);
    return { ops: names.length, seconds: now() - t0 };
  },

  readdirstat([dir]) {
    const t0 = now();
    const names = readdirSync(dir);
    for (const n of names) lstatSync(join(dir, n));
    return { ops: names.length, seconds: now() - t0 };
  },
};

const [step, ...args] = process.argv.slice(2);
const fn = steps[step ?? ''];
if (!fn) {
  process.stderr.write(`worker: unknown step ${JSON.stringify(step)}; expected one of ${Object.keys(steps).join(', ')}\n`);
  process.exit(2);
}
const startAt = Number(process.env.BENCH_START_AT);
if (!startAt) {
  process.stdout.write(`${JSON.stringify(fn(args))}\n`);
} else {
  const epochMs = (): number => performance.timeOrigin + performance.now();
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let left = startAt - epochMs(); left > 0; left = startAt - epochMs()) Atomics.wait(pause, 0, 0, left);
  const startedAt = epochMs();
  const result = fn(args);
  process.stdout.write(`${JSON.stringify({ ...result, startedAt, endedAt: epochMs() })}\n`);
}
