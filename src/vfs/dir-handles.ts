// Open directories: each handle keeps the listing it took at offset 0, and
// READDIR / READDIRPLUS page through it by index, so entries added or removed
// meanwhile never make a reader skip or repeat a name.
import { DIRENT_SIZE } from '../fuse/abi.ts';
import { DirentWriter, openOut, writeEntryOut, type Reply } from '../fuse/replies.ts';
import type { ReadIn } from '../fuse/requests.ts';
import { EBADF, FsError } from './errors.ts';
import { childPath, type Node, type NodeTable } from './node-table.ts';
import type { Attr, DirEntry, MaybePromise, OpContext, Vfs } from './types.ts';

interface DirHandle {
  node: Node;
  fh: number;
  entries: DirEntry[] | null;
}

const S_IFDIR = 0o040000;

export interface EntryTimeouts {
  entryTimeoutMs: number;
  attrTimeoutMs: number;
}

export class DirHandles {
  private readonly handles = new Map<number, DirHandle>();
  private nextFh = 1;
  private readonly vfs: Vfs;
  private readonly nodes: NodeTable;
  private readonly timeouts: EntryTimeouts;
  private readonly replyBuffer: (size: number) => Buffer;

  /** `replyBuffer(size)`: a reply with room for the header and `size` payload bytes (pooled by the session). */
  constructor(vfs: Vfs, nodes: NodeTable, timeouts: EntryTimeouts, replyBuffer: (size: number) => Buffer) {
    this.vfs = vfs;
    this.nodes = nodes;
    this.timeouts = timeouts;
    this.replyBuffer = replyBuffer;
  }

  private get(fh: number): DirHandle {
    const d = this.handles.get(fh);
    if (!d) throw new FsError(EBADF, `unknown directory handle ${fh}`);
    return d;
  }

  open(ctx: OpContext, node: Node): MaybePromise<Reply> {
    const register = (fh: number): Reply => {
      const id = this.nextFh++;
      this.handles.set(id, { node, fh, entries: null });
      return openOut(id, 0);
    };
    const res = this.vfs.opendir(ctx, node.path);
    return res instanceof Promise ? res.then((r) => register(r.fh)) : register(res.fh);
  }

  release(ctx: OpContext, fh: number): MaybePromise<Reply> {
    const d = this.get(fh);
    this.handles.delete(fh);
    const r = this.vfs.releasedir(ctx, d.node.path, d.fh);
    return r instanceof Promise ? r.then(() => 0) : 0;
  }

  fsync(ctx: OpContext, fh: number, datasync: boolean): MaybePromise<Reply> {
    const d = this.get(fh);
    const r = this.vfs.fsyncdir(ctx, d.node.path, d.fh, datasync);
    return r instanceof Promise ? r.then(() => 0) : 0;
  }

  read(ctx: OpContext, req: ReadIn, plus: boolean): MaybePromise<Reply> {
    const d = this.get(req.fh);
    if (d.entries === null || req.offset === 0) {
      const listed = this.vfs.readdir(ctx, d.node.path, d.fh);
      const keep = (list: DirEntry[]): MaybePromise<Reply> => {
        d.entries = [
          // glibc hides entries whose d_ino is 0, so '.' and '..' carry node ids.
          { name: '.', ino: d.node.id, type: S_IFDIR },
          { name: '..', ino: d.node.links[0]?.parent.id ?? d.node.id, type: S_IFDIR },
          ...list,
        ];
        return this.fill(ctx, d, req, plus);
      };
      return listed instanceof Promise ? listed.then(keep) : keep(listed);
    }
    return this.fill(ctx, d, req, plus);
  }

  /** Packs entries from req.offset; READDIRPLUS looks each one up (possibly asynchronously). */
  private fill(ctx: OpContext, d: DirHandle, req: ReadIn, plus: boolean): MaybePromise<Reply> {
    const entries = d.entries!;
    const size = Math.max(req.size, DIRENT_SIZE + 8);
    const out = new DirentWriter(size, this.replyBuffer(size));
    const { entryTimeoutMs, attrTimeoutMs } = this.timeouts;
    let i = req.offset;
    const step = (): MaybePromise<Reply> => {
      for (; i < entries.length; i++) {
        const e = entries[i];
        const nameBytes = Buffer.byteLength(e.name);
        if (!out.fits(nameBytes, plus)) break;
        if (!plus || e.name === '.' || e.name === '..') {
          out.add(e.name, nameBytes, e.ino, i + 1, e.type, plus ? noEntry : undefined);
          continue;
        }
        let attr: MaybePromise<Attr> | null;
        try {
          attr = this.vfs.getattr(ctx, childPath(d.node.path, e.name));
        } catch {
          attr = null; // vanished since the listing: send it without attributes
        }
        const emit = (a: Attr | null): void => {
          const id = a ? this.nodes.learn(d.node, e.name, a.ino, a.mode).id : 0;
          out.add(e.name, nameBytes, e.ino, i + 1, e.type, (buf, at) => writeEntryOut(buf, at, id, a, entryTimeoutMs, attrTimeoutMs));
        };
        if (attr instanceof Promise) {
          return attr
            .then(emit, () => emit(null))
            .then(() => {
              i++;
              return step();
            });
        }
        emit(attr);
      }
      return out.finish();
    };
    return step();
  }
}

const noEntry = (): void => {};
