// One vfs call seen as data, so a layer can be a single around(op, next) hook
// instead of thirty methods. Layers read the fields and may replace args
// (a shorter read buffer, corrupted write data) before calling next().
import { S_IFMT, S_IFREG } from '../vfs/mode.ts';
import { FsError } from '../vfs/errors.ts';
import { commOf } from '../sys/proc-comm.ts';
import type { Answer, Attr, OpContext, Vfs } from '../vfs/types.ts';

export const OP_NAMES = [
  'getattr',
  'setattr',
  'readlink',
  'mknod',
  'mkdir',
  'symlink',
  'unlink',
  'rmdir',
  'rename',
  'link',
  'open',
  'create',
  'read',
  'write',
  'flush',
  'release',
  'fsync',
  'statfs',
  'setxattr',
  'getxattr',
  'listxattr',
  'removexattr',
  'opendir',
  'readdir',
  'releasedir',
  'fsyncdir',
  'access',
  'fallocate',
  'lseek',
  'copyFileRange',
  'syncfs',
] as const satisfies ReadonlyArray<keyof Vfs>;

export type OpName = (typeof OP_NAMES)[number];

/** Operations on file contents; the rest are metadata. */
export const DATA_OPS: ReadonlySet<OpName> = new Set<OpName>(['read', 'write', 'fsync', 'fallocate', 'copyFileRange', 'flush', 'syncfs']);

export const OP_GROUPS: Readonly<Record<string, ReadonlyArray<OpName>>> = {
  all: OP_NAMES,
  data: [...DATA_OPS],
  metadata: OP_NAMES.filter((n) => !DATA_OPS.has(n)),
  namespace: ['create', 'mknod', 'mkdir', 'symlink', 'link', 'unlink', 'rmdir', 'rename'],
  sync: ['fsync', 'fsyncdir', 'flush', 'syncfs'],
};

export interface Op {
  readonly name: OpName;
  readonly ctx: OpContext;
  /** The path the op is about (the new name for symlink/link, the source for rename/copy). */
  readonly path: string;
  /** The other path of rename, link and copyFileRange. */
  readonly path2: string | undefined;
  /** Byte offset of read/write/fallocate/copy, else -1. */
  readonly offset: number;
  /** Bytes asked for by read/write/fallocate/copy, else 0. */
  readonly size: number;
  /** Arguments after ctx, as the next vfs will receive them; layers may replace entries. */
  readonly args: unknown[];
  /** Names of the rules that acted on this op, for traces and metrics. */
  fired: string[] | undefined;
  /**
   * Size in bytes of the regular file the op is about (the existing file of link), as it is when first asked,
   * which is before the op runs; undefined for anything else: no such file (yet), not a regular file, or
   * no way to stat it. Costs a stat, so it is computed only when a rule asks (a fileSize range), once per op.
   */
  fileSize(): number | undefined;
  /**
   * The command name of the process that made the op (/proc/PID/comm), read when first asked and kept
   * for the op: every rule and trace filter that matches on it, and the span, share one read.
   */
  command(): string;
}

/**
 * Stats a file in the vfs below every layer: through its open handle when the op has one (so an unlinked
 * but open file still has a size), else by path. The stat itself is no op: no layer sees it.
 */
export type StatBelow = (ctx: OpContext, path: string, fh: number | undefined) => Answer<Attr>;

/** The open file handle an op carries, if any (directory handles are left out: their size is no file size). */
function fileHandleOf(name: OpName, args: unknown[]): number | undefined {
  switch (name) {
    case 'getattr':
    case 'read':
    case 'write':
    case 'flush':
    case 'release':
    case 'fsync':
    case 'fallocate':
    case 'lseek':
      return args[1] as number | undefined;
    case 'setattr':
      return args[2] as number | undefined;
    case 'copyFileRange':
      return (args[0] as { fh: number }).fh;
    default:
      return undefined;
  }
}

/** Not yet asked: a size is computed on the first call of fileSize() only. */
const UNASKED = -1;

class OpRecord implements Op {
  readonly name: OpName;
  readonly ctx: OpContext;
  readonly path: string;
  readonly path2: string | undefined;
  readonly offset: number;
  readonly size: number;
  readonly args: unknown[];
  fired: string[] | undefined = undefined;
  private readonly statBelow: StatBelow | undefined;
  private knownFileSize: number | undefined = UNASKED;
  private knownCommand: string | undefined = undefined;

  constructor(
    name: OpName,
    ctx: OpContext,
    path: string,
    path2: string | undefined,
    offset: number,
    size: number,
    args: unknown[],
    statBelow: StatBelow | undefined,
  ) {
    this.name = name;
    this.ctx = ctx;
    this.path = path;
    this.path2 = path2;
    this.offset = offset;
    this.size = size;
    this.args = args;
    this.statBelow = statBelow;
  }

  fileSize(): number | undefined {
    if (this.knownFileSize === UNASKED) this.knownFileSize = this.statFileSize();
    return this.knownFileSize;
  }

  command(): string {
    return (this.knownCommand ??= commOf(this.ctx.pid));
  }

  private statFileSize(): number | undefined {
    if (!this.statBelow) return undefined;
    // link's path is the new name; the file whose size it has is the existing one.
    const path = this.name === 'link' ? this.path2! : this.path;
    let attr: Answer<Attr>;
    try {
      attr = this.statBelow(this.ctx, path, fileHandleOf(this.name, this.args));
    } catch {
      return undefined; // ENOENT before a create, a file gone meanwhile: no size to match
    }
    // Rules decide synchronously; a backend that can only answer later has no size for them (both of ours answer at once).
    if (attr instanceof Promise) {
      attr.catch(() => undefined);
      return undefined;
    }
    if (attr instanceof FsError) return undefined;
    return (attr.mode & S_IFMT) === S_IFREG ? attr.size : undefined;
  }
}

/**
 * Builds the Op for `name` called with `args` (ctx excluded). `statBelow` lets the Op learn its file's size
 * when asked; without it, fileSize() is undefined.
 */
export function makeOp(name: OpName, ctx: OpContext, args: unknown[], statBelow?: StatBelow): Op {
  let path = args[0] as string;
  let path2: string | undefined;
  let offset = -1;
  let size = 0;
  switch (name) {
    case 'symlink':
      path = args[1] as string;
      break;
    case 'rename':
      path2 = args[1] as string;
      break;
    case 'link':
      path = args[1] as string;
      path2 = args[0] as string;
      break;
    case 'read':
    case 'write':
      size = (args[2] as Buffer).length;
      offset = args[3] as number;
      break;
    case 'fallocate':
      offset = args[3] as number;
      size = args[4] as number;
      break;
    case 'copyFileRange': {
      const from = args[0] as { path: string; offset: number };
      const to = args[1] as { path: string };
      path = from.path;
      path2 = to.path;
      offset = from.offset;
      size = args[2] as number;
      break;
    }
  }
  return new OpRecord(name, ctx, path, path2, offset, size, args, statBelow);
}
