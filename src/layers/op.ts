// One vfs call seen as data, so a layer can be a single around(op, next) hook
// instead of thirty methods. Layers read the fields and may replace args
// (a shorter read buffer, corrupted write data) before calling next().
import type { OpContext, Vfs } from '../vfs/types.ts';

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
}

/** Builds the Op for `name` called with `args` (ctx excluded). */
export function makeOp(name: OpName, ctx: OpContext, args: unknown[]): Op {
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
  return { name, ctx, path, path2, offset, size, args, fired: undefined };
}
