// Simulated power loss, as LazyFS does it: every write not yet made durable
// by fsync, fdatasync or syncfs can be thrown away by `interposer ctl crash`.
//
// Writes go through to the backend at once (reads and sizes stay right); the
// layer keeps an undo log of the bytes each unsynced write replaced and of the
// file's size when it was last synced. fsync of a file drops its log, syncfs
// drops all; a crash plays the logs back, newest first, and truncates each
// file to its synced size. Only file data is covered: names created, renamed
// or removed since the last sync stay as they are.
import { constants } from 'node:fs';
import picomatch from 'picomatch';
import type { MaybePromise, OpContext, Vfs } from '../vfs/types.ts';
import { onSuccess, settled } from '../vfs/answer.ts';
import { ENOENT } from '../vfs/errors.ts';
import type { Op } from './op.ts';
import type { Layer, Next } from './stack.ts';

interface FileLog {
  syncedSize: number;
  undo: Array<{ offset: number; data: Buffer }>;
}

export interface CrashReport {
  files: number;
  bytes: number;
}

const DAEMON: OpContext = { uid: 0, gid: 0, pid: 0, unique: 0 };

export interface DurabilityLayer extends Layer {
  /**
   * Discards every unsynced write; resolves to what was undone. Until restored(), the pages the
   * kernel writes back of tracked files are dropped unwritten: they were in memory at the power
   * loss (with writebackCache, or a shared mapping's), and the kernel writes them back as its
   * cache is dropped after the crash.
   */
  crash(): Promise<CrashReport>;
  /** Ends the crash once the kernel's cache is dropped; returns the bytes of written-back pages dropped meanwhile. */
  restored(): number;
  /** Bytes of undo data held. */
  held(): number;
}

export function createDurabilityLayer(config: { paths?: string[]; exclude?: string[] }): DurabilityLayer {
  const strip = (g: string): string => (g.startsWith('/') ? g.slice(1) : g);
  const inc = config.paths?.length ? picomatch(config.paths.map(strip), { dot: true }) : null;
  const exc = config.exclude?.length ? picomatch(config.exclude.map(strip), { dot: true }) : null;
  const tracked = (path: string): boolean => (!inc || inc(path.slice(1))) && !(exc && exc(path.slice(1)));
  const logs = new Map<string, FileLog>();
  let backend: Vfs | undefined;
  let heldBytes = 0;
  /** Between crash() and restored(): bytes of written-back pages dropped, else null. */
  let lostFromCache: number | null = null;

  /** Saves what [offset, offset + length) of `path` holds now, before an op through handle `fh` (if any) changes it. */
  async function capture(path: string, offset: number, length: number, fh?: number): Promise<void> {
    const b = backend!;
    const { size, nlink } = await settled(b.getattr(DAEMON, path, fh));
    // Open but unlinked (or replaced by a rename): a power loss takes it along, nothing to undo; and
    // its last path may name another file by now.
    if (nlink === 0) return;
    let log = logs.get(path);
    if (!log) logs.set(path, (log = { syncedSize: size, undo: [] }));
    const end = Math.min(offset + length, size);
    if (end <= offset) return;
    const data = Buffer.alloc(end - offset);
    const reader = (await settled(b.open(DAEMON, path, constants.O_RDONLY))).fh;
    try {
      let got = 0;
      while (got < data.length) {
        const n = await settled(b.read(DAEMON, path, reader, data.subarray(got), offset + got));
        if (n <= 0) break;
        got += n;
      }
      log.undo.push({ offset, data: data.subarray(0, got) });
      heldBytes += got;
    } finally {
      await settled(b.release(DAEMON, path, reader));
    }
  }

  function forget(path: string): void {
    const log = logs.get(path);
    if (!log) return;
    for (const u of log.undo) heldBytes -= u.data.length;
    logs.delete(path);
  }

  const before = (path: string, offset: number, length: number, next: Next, fh: number | undefined): MaybePromise<unknown> =>
    tracked(path) ? capture(path, offset, length, fh).then(next) : next();
  /** Runs `f` once the op has succeeded: a failed sync made nothing durable, a failed unlink removed nothing. */
  const afterwards = (next: Next, f: () => void): MaybePromise<unknown> =>
    onSuccess(next(), (v) => {
      f();
      return v;
    });

  return {
    kind: 'durability',
    disturbs: true,
    attach(b) {
      backend = b;
    },
    around(op: Op, next: Next) {
      switch (op.name) {
        case 'write':
          if (lostFromCache !== null && op.ctx.writeback !== undefined && tracked(op.path)) {
            lostFromCache += op.size;
            return op.size;
          }
          return before(op.path, op.offset, op.size, next, op.args[1] as number);
        case 'fallocate':
          return before(op.path, op.offset, op.size, next, op.args[1] as number);
        case 'copyFileRange': {
          const to = op.args[1] as { path: string; fh: number; offset: number };
          return before(to.path, to.offset, op.size, next, to.fh);
        }
        case 'setattr': {
          const size = (op.args[1] as { size?: number }).size;
          return size === undefined
            ? next()
            : before(op.path, size, Number.MAX_SAFE_INTEGER - size, next, op.args[2] as number | undefined);
        }
        case 'create': {
          // A CREATE racing with another creator opens the existing file with the caller's O_TRUNC: keep what
          // it held. (OPEN never carries O_TRUNC: the kernel truncates with a SETATTR, vfs/init.ts.)
          const flags = op.args[1] as number;
          if (!(flags & constants.O_TRUNC) || !tracked(op.path)) return next();
          return capture(op.path, 0, Number.MAX_SAFE_INTEGER).then(next, (err: { errno?: number }) => {
            if (err?.errno !== ENOENT) throw err;
            return next();
          });
        }
        case 'fsync':
          return afterwards(next, () => forget(op.path));
        case 'syncfs':
          return afterwards(next, () => {
            logs.clear();
            heldBytes = 0;
          });
        case 'unlink':
          return afterwards(next, () => forget(op.path));
        case 'rename':
          return afterwards(next, () => {
            const from = logs.get(op.path);
            const to = logs.get(op.path2!);
            logs.delete(op.path);
            logs.delete(op.path2!);
            if (from) logs.set(op.path2!, from);
            if (to && ((op.args[2] as number) & 2) !== 0) logs.set(op.path, to);
          });
        default:
          return next();
      }
    },
    needs: (shortcut, path) => shortcut === 'data' && tracked(path),
    held: () => heldBytes,
    restored() {
      const lost = lostFromCache ?? 0;
      lostFromCache = null;
      return lost;
    },
    async crash() {
      const b = backend!;
      lostFromCache ??= 0;
      const report: CrashReport = { files: 0, bytes: 0 };
      for (const [path, log] of logs) {
        let fh: number;
        try {
          ({ fh } = await settled(b.open(DAEMON, path, constants.O_WRONLY)));
        } catch {
          continue; // removed meanwhile
        }
        try {
          for (let i = log.undo.length - 1; i >= 0; i--) {
            const u = log.undo[i];
            await settled(b.write(DAEMON, path, fh, u.data, u.offset));
            report.bytes += u.data.length;
          }
          await settled(b.setattr(DAEMON, path, { size: log.syncedSize }, fh));
          report.files++;
        } finally {
          await settled(b.release(DAEMON, path, fh));
        }
      }
      logs.clear();
      heldBytes = 0;
      return report;
    },
  };
}
