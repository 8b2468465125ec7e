// The only adapter between the kernel protocol (fuse/) and the path-level vfs:
// it turns each decoded request into a vfs call on the node's path and the
// answer into a reply. Handlers stay synchronous when the vfs answers
// synchronously, so most metadata requests are answered without a promise.
import { constants } from 'node:fs';
import {
  FATTR_ATIME,
  FATTR_ATIME_NOW,
  FATTR_CTIME,
  FATTR_FH,
  FATTR_GID,
  FATTR_KILL_SUIDGID,
  FATTR_MODE,
  FATTR_MTIME,
  FATTR_MTIME_NOW,
  FATTR_SIZE,
  FATTR_UID,
  FOPEN_DIRECT_IO,
  FOPEN_KEEP_CACHE,
  FOPEN_NOFLUSH,
  FOPEN_PASSTHROUGH,
  FUSE_FSYNC_FDATASYNC,
  FUSE_GETATTR_FH,
  FUSE_SETXATTR_ACL_KILL_SGID,
  FUSE_OPEN_KILL_SUIDGID,
  FUSE_WRITE_CACHE,
  FUSE_WRITE_KILL_SUIDGID,
  OUT_HEADER_SIZE,
} from '../fuse/abi.ts';
import { backingClose, backingOpen } from '../fuse/backing.ts';
import { notifyInvalAttributes, notifyInvalPages } from '../fuse/notify.ts';
import { ringQueues } from '../fuse/ring.ts';
import {
  attrOut,
  bytesOut,
  copyFileRange64Out,
  createOut,
  entryOut,
  getxattrSizeOut,
  lseekOut,
  openOut,
  replyBufferUnsafe,
  statfsOut,
  writeOut,
  type Reply,
} from '../fuse/replies.ts';
import { setxattrExt, type InHeader } from '../fuse/requests.ts';
import type { BackgroundWork, FuseSession, Handlers } from '../fuse/session.ts';
import { log } from '../util/log.ts';
import { SlotTable } from '../util/slot-table.ts';
import { DirHandles } from './dir-handles.ts';
import { onSuccess, replyTo } from './answer.ts';
import { EBADF, EINVAL, ENOENT, ENOSYS, EPERM, ERANGE, errnoName, FsError } from './errors.ts';
import { negotiateInit, type InitSettings } from './init.ts';
import { childPath, NodeTable, type Node, type OpenState } from './node-table.ts';
import { hasSetId, setIdBits } from './set-id.ts';
import { S_IFDIR, S_IFMT, S_ISGID } from './mode.ts';
import type { Answer, Attr, AttrChanges, MaybePromise, OpContext, OpenResult, Vfs } from './types.ts';
import { idleTasksWaiting, runIdleTasks, whenIdle } from '../util/idle-tasks.ts';
import { nameBuffer } from '../util/byte-names.ts';

export interface BridgeOptions extends InitSettings {
  /** How long the kernel may cache names and attributes, in ms. */
  entryTimeoutMs: number;
  attrTimeoutMs: number;
  /** How long the kernel may cache "no such file", in ms (0: never). */
  negativeTimeoutMs: number;
  /** Force FOPEN_DIRECT_IO on every file: every read and write, and every directory listing, reaches the daemon. */
  directIo: boolean;
  /** Keep the page cache across opens (FOPEN_KEEP_CACHE). */
  keepCache: boolean;
  /** io_uring entries per queue (per possible CPU), when INIT turns io_uring on. */
  ringDepth: number;
}

interface FileHandle {
  node: Node;
  fh: number;
  /** Backing id registered for kernel passthrough, 0 if none. */
  backingId: number;
  /**
   * The kernel caches pages of the file read or written through this handle (not passed through, not
   * direct I/O) that a change beside the mount would make stale (not `cache: keep`, not a backend
   * that keeps its pages whatever happens: nothing changes beside it).
   */
  watched: boolean;
  /** Opened FOPEN_DIRECT_IO: the kernel follows no synchronous write of it with an FSYNC. */
  direct: boolean;
}

class RequestContext implements OpContext {
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
  readonly unique: number;
  readonly writeback: 'cached' | 'direct' | undefined;
  readonly umask: number | undefined;
  private readonly bridge: FuseBridge;
  constructor(h: InHeader, bridge: FuseBridge, writeback?: 'cached' | 'direct', umask?: number) {
    this.uid = h.uid;
    this.gid = h.gid;
    this.pid = h.pid;
    this.unique = h.unique;
    this.writeback = writeback;
    this.umask = umask;
    this.bridge = bridge;
  }
  get signal(): AbortSignal | undefined {
    return this.bridge.session?.signalFor(this.unique, this.pid);
  }
  get othersWaiting(): boolean {
    return this.bridge.session?.othersWaiting() ?? false;
  }
}

const ok = (): Reply => 0;
const setgidBit = (a: Attr): number => a.mode & S_ISGID;
/** The context of the bridge's own looks at files, which no caller made. */
const OWN_LOOK: OpContext = { uid: 0, gid: 0, pid: 0, unique: 0 };
/** Least time between two looks at the open files for changes beside the mount. */
const LOOK_MIN_MS = 100;
/** Forgets applied per slice between requests: ~0.3 ms of work. */
const FORGETS_PER_SLICE = 1024;
/** Deferred tasks run between two looks for a request (a trace span takes a few microseconds). */
const IDLE_TASKS_PER_SLICE = 8;
const msOf = (sec: number, nsec: number): number => sec * 1000 + nsec / 1e6;
const O_ACCMODE = 3;

export class FuseBridge {
  readonly nodes = new NodeTable();
  readonly vfs: Vfs;
  readonly options: BridgeOptions;
  session: FuseSession | undefined;
  /** Whether INIT turned on kernel passthrough; cleared if the kernel refuses it. */
  passthrough = false;
  /** Whether INIT turned on the kernel's writeback cache (see openFlags()). */
  private writebackCache = false;
  private readonly files = new SlotTable<FileHandle>();
  private readonly dirs: DirHandles;
  /** Looks every attrTimeout at the open files whose pages the kernel caches; null while none is open. */
  private looking: ReturnType<typeof setInterval> | null = null;
  /** The last page drop asked of the kernel (dropPages). */
  private droppingPages: Promise<number> = Promise.resolve(0);
  /** Page drops asked of the kernel and not yet done, by node id (see fresh()). */
  private readonly pendingDrops = new Map<number, Promise<number>>();
  /** Largest READ or READDIR page answered; the kernel never asks for more than max_pages, a malformed request may. */
  private maxRead = 1 << 20;
  get openFiles(): number {
    return this.files.size;
  }

  /** Files opened with and without kernel passthrough, for metrics. */
  readonly openCounts = { passthrough: 0, daemon: 0 };

  /** What the session does between requests: work the replies left for later (util/idle-tasks.ts), the forgets BATCH_FORGET queued. */
  readonly background: BackgroundWork;

  constructor(vfs: Vfs, options: BridgeOptions) {
    this.vfs = vfs;
    this.options = options;
    const nodes = this.nodes;
    this.background = {
      get pending() {
        return idleTasksWaiting() || nodes.forgetsPending;
      },
      slice: () => (idleTasksWaiting() ? runIdleTasks(IDLE_TASKS_PER_SLICE) : nodes.settle(FORGETS_PER_SLICE)),
    };
    DirHandles.warmUp();
    this.dirs = new DirHandles(
      vfs,
      this.nodes,
      options,
      (size) => this.replyBuffer(size),
      (node) => this.dropAttributes(node),
    );
  }

  /** A large reply the caller fills completely; pooled once a session is serving. */
  private replyBuffer(size: number): Buffer {
    return this.session ? this.session.replies.take(size) : replyBufferUnsafe(size);
  }

  private ctx(h: InHeader, writeback?: 'cached' | 'direct'): OpContext {
    return new RequestContext(h, this, writeback);
  }

  /** The context of a request that makes a node with a mode, which comes without the caller's umask. */
  private makingCtx(h: InHeader, umask: number): OpContext {
    return new RequestContext(h, this, undefined, umask & 0o777);
  }

  private file(fh: number): FileHandle {
    const f = this.files.get(fh);
    if (!f) throw new FsError(EBADF, `unknown file handle ${fh}`);
    return f;
  }

  /**
   * Clears the set-id bits a flagged write or truncating create takes away (`bitsOf`, by default those
   * of vfs/set-id.ts), or a flagged ACL change, through the vfs (a getattr, and a setattr if there is
   * something to clear, as the kernel sent them before HANDLE_KILLPRIV_V2); only for a node last seen
   * with such bits. The new attributes, or undefined if nothing changed.
   */
  private dropSetId(
    ctx: OpContext,
    node: Node,
    fh: number | undefined,
    bitsOf = (a: Attr): number => setIdBits(a.mode, a.gid, ctx, false),
  ): Answer<Attr | undefined> {
    if (!node.setId) return undefined;
    const path = pathFor(node, fh);
    return onSuccess(this.vfs.getattr(ctx, path, fh), (a) => {
      const bits = bitsOf(a);
      if (bits === 0) {
        node.setId = hasSetId(a.mode);
        return undefined;
      }
      return onSuccess(this.vfs.setattr(ctx, path, { mode: a.mode & 0o7777 & ~bits }, fh), (changed) => {
        node.setId = hasSetId(changed.mode);
        return changed;
      });
    });
  }

  /**
   * SETATTR's change, and the node's set-id mark from the attributes it leaves. Its reply never waits
   * for the pages of a file changed beside the mount to drop (fresh() does): the kernel holds back
   * writes to a file it truncates until the SETATTR is answered (fuse_set_nowrite), and dropping the
   * pages waits for the writeback of the dirty ones a shared mmap left, which those writes are: the
   * two would wait for each other for good. The pages go right after the reply.
   */
  private setattr(ctx: OpContext, node: Node, changes: AttrChanges, fh: number | undefined): MaybePromise<Reply> {
    node.wrote();
    return replyTo(this.vfs.setattr(ctx, pathFor(node, fh), changes, fh), (a) => {
      node.setId = hasSetId(a.mode);
      this.lookedAt(node, a);
      return attrOut(a, this.options.attrTimeoutMs);
    });
  }

  /**
   * `reply`, which gives the kernel attributes `a` of `node`, once the kernel has dropped the
   * pages it cached of the file if the file changed beside the mount since (Node.changedElsewhere):
   * dropped before it sees the new attributes, so no read after them can still be served stale.
   * The same holds for a change noticed earlier whose drop is still under way (lookForChanges
   * does not wait for its own): the node's recorded ctime is already the new one then.
   */
  private fresh(node: Node, a: Attr, reply: Reply): MaybePromise<Reply> {
    if (node.changedElsewhere(a.mode, a.ctimeMs)) this.dropPagesOf(node);
    const dropping = this.dropUnderWay(node);
    return dropping === undefined ? reply : dropping.then(() => reply);
  }

  /** Has the kernel drop the node's cached pages (dropPages), warning if it refuses. */
  private dropPagesOf(node: Node): void {
    void this.dropPages(node.id).then((r) => warnIfRefused(node, r));
  }

  /** The drop of the node's pages asked of the kernel and not yet done, if one is. */
  private dropUnderWay(node: Node): Promise<number> | undefined {
    return this.pendingDrops.size > 0 ? this.pendingDrops.get(node.id) : undefined;
  }

  /**
   * Has the kernel drop its cached pages of `node`, one file at a time: each wait for a page lock
   * holds a libuv pool thread, which the request loop also waits for requests on while replies
   * are pending, so several at once could leave none to read the READ that would free the lock.
   */
  private dropPages(nodeid: number): Promise<number> {
    const session = this.session;
    if (session === undefined) return Promise.resolve(0);
    const dropped = this.droppingPages.then(() => notifyInvalPages(session.fd, nodeid));
    this.droppingPages = dropped;
    this.pendingDrops.set(nodeid, dropped);
    void dropped.then(() => {
      if (this.pendingDrops.get(nodeid) === dropped) this.pendingDrops.delete(nodeid);
    });
    return dropped;
  }

  /**
   * The flags to open a file with. With the writeback cache the kernel writes pages back at their
   * own offsets, and reads a page it must fill before a partial write, whatever the opener asked:
   * so the file is opened for reading too, and without O_APPEND, which would put every page written
   * back at the end (the kernel keeps appends at the end itself), as libfuse's passthrough does.
   */
  private openFlags(flags: number): number {
    if (!this.writebackCache) return flags;
    flags &= ~constants.O_APPEND;
    return (flags & O_ACCMODE) === constants.O_WRONLY ? (flags & ~O_ACCMODE) | constants.O_RDWR : flags;
  }

  /** Has the kernel fetch the node's attributes again (no page locks: safe on the request thread). */
  private dropAttributes(node: Node): void {
    this.dropAttributesOf(node.id);
  }

  /** dropAttributes by node id, for a task queued when the node may be gone (ENOENT then, harmless). */
  private readonly dropAttributesOf = (nodeid: number): void => {
    if (this.session) notifyInvalAttributes(this.session.fd, nodeid);
  };

  /**
   * An open handle of a node that left the namespace, to keep fstat/fchmod working. The kernel names
   * the handle for a regular file, never for a directory (removed, or replaced by a rename).
   */
  private handleOf(node: Node): number | undefined {
    if (!node.detached) return undefined;
    if (node.open !== null) for (const f of this.files) if (f.node === node) return f.fh;
    return (node.type & S_IFMT) === S_IFDIR ? this.dirs.backendHandleOf(node) : undefined;
  }

  private entry(parent: Node, name: string, attr: Attr): MaybePromise<Reply> {
    const node = this.nodes.learn(parent, name, attr.ino, attr.mode, attr.nlink);
    return this.fresh(node, attr, entryOut(node.id, node.generation, attr, this.options.entryTimeoutMs, this.options.attrTimeoutMs));
  }

  /** LOOKUP's reply to what getattr answered (no closure per lookup: this is the hottest metadata request). */
  private looked(parent: Node, name: string, a: Attr | FsError): MaybePromise<Reply> {
    return a instanceof FsError ? this.missing(a) : this.entry(parent, name, a);
  }

  /** A failed LOOKUP: a negative entry the kernel may cache for ENOENT (with a negative timeout), else the errno. */
  private missing(err: unknown): Reply {
    if (!(err instanceof FsError)) throw err;
    const ttl = this.options.negativeTimeoutMs;
    return err.errno === ENOENT && ttl > 0 ? entryOut(0, 0, null, ttl, 0) : err.errno;
  }

  /** Registers the handle; `created` makes it a CREATE reply for a node just learned. */
  private opened(node: Node, res: OpenResult, created?: Attr): Reply {
    const mode = created?.mode ?? res.mode;
    if (mode !== undefined) node.setId = hasSetId(mode);
    const open = (node.open ??= { handles: 0, backingId: 0, backingUsers: 0 });
    let backingId = 0;
    let flags = 0;
    const direct = res.directIo || this.options.directIo;
    if (direct) flags |= FOPEN_DIRECT_IO;
    else if (open.backingId > 0) backingId = this.acquireBacking(node, open, -1);
    // The kernel refuses passthrough for an inode already open through the daemon (and the reverse).
    // A set-id file goes through the daemon: a passed-through write would never show us the write
    // whose flag says to clear the bits (vfs/set-id.ts), and the daemon's own writes keep them.
    else if (this.passthrough && res.backingFd !== undefined && open.handles === 0 && mode !== undefined && !node.setId) {
      backingId = this.acquireBacking(node, open, res.backingFd);
    }
    if (res.noFlush) flags |= FOPEN_NOFLUSH;
    if (backingId > 0) flags |= FOPEN_PASSTHROUGH;
    if (backingId > 0) this.openCounts.passthrough++;
    else this.openCounts.daemon++;
    // Pages cached by earlier opens are kept unless the file changed beside the mount since; `cache:
    // keep`, and a backend beside which nothing changes, keep them whatever happened.
    const ctimeMs = created?.ctimeMs ?? res.ctimeMs;
    let watched = false;
    if (direct || backingId > 0) {
      if (open.handles === 0) node.uncachedOpen();
    } else if (res.keepCache || this.options.keepCache) flags |= FOPEN_KEEP_CACHE;
    else if (mode !== undefined && ctimeMs !== undefined) {
      // While a drop of the node's pages is under way (see fresh()), the open drops them itself: an
      // OPEN can come with no GETATTR before it to hold back while the drop waits behind another
      // file's (dropPages), as the kernel forgets the attributes only once the drop starts.
      if (node.cachedOpen(mode, ctimeMs) && this.dropUnderWay(node) === undefined) flags |= FOPEN_KEEP_CACHE;
      watched = true;
    }
    const kfh = this.files.add({ node, fh: res.fh, backingId, watched, direct });
    open.handles++;
    if (watched) this.lookForChangesEvery(Math.max(this.options.attrTimeoutMs, LOOK_MIN_MS));
    if (created) {
      const o = this.options;
      return createOut(node.id, node.generation, created, o.entryTimeoutMs, o.attrTimeoutMs, kfh, flags, backingId);
    }
    return openOut(kfh, flags, backingId);
  }

  /**
   * A synchronous write (O_DSYNC or O_SYNC, or pwritev2's RWF_DSYNC or RWF_SYNC: the WRITE's flags say
   * which) is durable when it returns. Through the page cache the kernel makes it so with an FSYNC after
   * the WRITE (generic_write_sync); with direct I/O it sends none, so the daemon syncs here, through the
   * layers: a durability layer then keeps the data at a crash, and a failing sync fails the write.
   */
  private write(ctx: OpContext, f: FileHandle, data: Buffer, offset: number, flags: number): Answer<number> {
    const written = this.vfs.write(ctx, f.node.path, f.fh, data, offset);
    if (!f.direct || !(flags & constants.O_DSYNC)) return written;
    const datasync = (flags & constants.O_SYNC) !== constants.O_SYNC;
    return onSuccess(written, (n) => onSuccess(this.vfs.fsync(ctx, f.node.path, f.fh, datasync), () => n));
  }

  private lookForChangesEvery(ms: number): void {
    if (this.looking !== null || this.session === undefined) return;
    this.looking = setInterval(() => this.lookForChanges(), ms);
    this.looking.unref();
  }

  /**
   * What AUTO_INVAL_DATA did on reads (vfs/init.ts): a file changed beside the mount while a process
   * holds it open and only reads it loses its cached pages once attrTimeout has passed, when the
   * kernel would have fetched its attributes again. Each node once a pass, straight from the
   * backend (getattrBelow): the layers see no op the caller did not make. Stops when no such file
   * is open.
   */
  private lookForChanges(): void {
    let seen: Set<Node> | null = null;
    try {
      for (const f of this.files) {
        if (!f.watched) continue;
        seen ??= new Set();
        if (seen.has(f.node)) continue;
        seen.add(f.node);
        const node = f.node;
        const answer = this.vfs.getattrBelow
          ? this.vfs.getattrBelow(OWN_LOOK, node.path, f.fh)
          : this.vfs.getattr(OWN_LOOK, node.path, f.fh);
        if (answer instanceof Promise) answer.then((a) => this.lookedAt(node, a), ignoreLookFailure);
        else this.lookedAt(node, answer);
      }
    } catch (err) {
      ignoreLookFailure(err);
    }
    if (seen === null && this.looking !== null) {
      clearInterval(this.looking);
      this.looking = null;
    }
  }

  /** Drops the node's cached pages if the attributes looked at show a change beside the mount. */
  private lookedAt(node: Node, a: Attr | FsError): void {
    if (a instanceof FsError || !node.changedElsewhere(a.mode, a.ctimeMs)) return;
    this.dropPagesOf(node);
  }

  /** One backing id per node, shared by all its opens (the kernel requires it). */
  private acquireBacking(node: Node, open: OpenState, backingFd: number): number {
    if (open.backingId > 0) {
      open.backingUsers++;
      return open.backingId;
    }
    const id = backingOpen(this.session!.fd, backingFd);
    if (id <= 0) {
      if (id === -EPERM) this.passthrough = false;
      log.warn({ path: node.path, errno: errnoName(-id) }, 'kernel passthrough refused; serving this file through the daemon');
      return 0;
    }
    open.backingId = id;
    open.backingUsers = 1;
    return id;
  }

  /** One handle of `node` closed: its backing id goes with its last user, the open state with its last handle. */
  private closed(node: Node, passedThrough: boolean): void {
    const open = node.open!;
    open.handles--;
    if (passedThrough && open.backingId !== 0 && --open.backingUsers === 0) {
      backingClose(this.session!.fd, open.backingId);
      open.backingId = 0;
    }
    if (open.handles === 0) node.open = null;
  }

  /** Every field present, undefined when not asked for: one object shape for every SETATTR. */
  private changes(req: import('../fuse/requests.ts').SetattrIn): AttrChanges {
    const v = req.valid;
    const atime = v & FATTR_ATIME_NOW ? 'now' : v & FATTR_ATIME ? msOf(req.atime, req.atimensec) : undefined;
    const mtime = v & FATTR_MTIME_NOW ? 'now' : v & FATTR_MTIME ? msOf(req.mtime, req.mtimensec) : undefined;
    return {
      mode: v & FATTR_MODE ? req.mode & 0o7777 : undefined,
      uid: v & FATTR_UID ? req.uid : undefined,
      gid: v & FATTR_GID ? req.gid : undefined,
      size: v & FATTR_SIZE ? req.size : undefined,
      atime,
      mtime,
      ctime: v & FATTR_CTIME ? msOf(req.ctime, req.ctimensec) : undefined,
      atimeNsec: typeof atime === 'number' ? req.atimensec : undefined,
      mtimeNsec: typeof mtime === 'number' ? req.mtimensec : undefined,
    };
  }

  handlers(): Handlers {
    const vfs = this.vfs;
    const nodes = this.nodes;
    const o = this.options;
    return {
      INIT: (_h, req) => {
        const out = negotiateInit(req, o);
        this.passthrough = out.passthrough;
        this.writebackCache = out.writebackCache;
        this.maxRead = Math.max(out.maxWrite, 128 * 1024);
        if (out.setxattrExt) this.session?.redecode('SETXATTR', setxattrExt);
        if (out.ringPayload > 0) this.session?.useRingAfterInit({ queues: ringQueues(), depth: o.ringDepth, payloadSize: out.ringPayload });
        return out.reply;
      },
      DESTROY: () => {
        if (this.looking !== null) clearInterval(this.looking);
        this.looking = null;
        return replyTo(vfs.destroy?.(), ok);
      },
      LOOKUP: (h, { name }) => {
        const parent = nodes.get(h.nodeid);
        if (parent.listed) parent.lookedUpAfterListing = true;
        const path = pathIn(parent, name);
        let attr: Answer<Attr>;
        try {
          attr = vfs.getattr(this.ctx(h), path);
        } catch (err) {
          return this.missing(err);
        }
        if (attr instanceof Promise)
          return attr.then(
            (a) => this.looked(parent, name, a),
            (err: unknown) => this.missing(err),
          );
        return this.looked(parent, name, attr);
      },
      FORGET: (h, { nlookup }) => {
        // Behind queued batches, so that forgets apply in the kernel's order (children before their directory).
        if (nodes.forgetsPending) nodes.forgetLater(Float64Array.of(h.nodeid), Float64Array.of(nlookup));
        else nodes.forget(h.nodeid, nlookup);
        return 0;
      },
      BATCH_FORGET: (_h, { nodeids, nlookups }) => {
        nodes.forgetLater(nodeids, nlookups);
        return 0;
      },
      GETATTR: (h, req) => {
        const node = nodes.get(h.nodeid);
        const fh = req.getattrFlags & FUSE_GETATTR_FH ? this.files.get(req.fh)?.fh : this.handleOf(node);
        return replyTo(vfs.getattr(this.ctx(h), pathFor(node, fh), fh), (a) => {
          node.setId = hasSetId(a.mode);
          return this.fresh(node, a, attrOut(a, o.attrTimeoutMs));
        });
      },
      SETATTR: (h, req) => {
        const node = nodes.get(h.nodeid);
        const fh = req.valid & FATTR_FH ? this.files.get(req.fh)?.fh : this.handleOf(node);
        const ctx = this.ctx(h);
        if (fh === undefined && node.detached && (req.valid & ~(FATTR_MTIME | FATTR_CTIME)) === 0) return orphanTimesOut(node, req);
        const changes = this.changes(req);
        // A chown, or a truncation by a caller without CAP_FSETID: the set-id bits go in the same change.
        if (req.valid & FATTR_KILL_SUIDGID && changes.mode === undefined && node.setId) {
          return replyTo(vfs.getattr(ctx, pathFor(node, fh), fh), (a) => {
            const bits = setIdBits(a.mode, a.gid, ctx, (req.valid & (FATTR_UID | FATTR_GID)) !== 0);
            if (bits !== 0) changes.mode = a.mode & 0o7777 & ~bits;
            return this.setattr(ctx, node, changes, fh);
          });
        }
        return this.setattr(ctx, node, changes, fh);
      },
      READLINK: (h) => replyTo(vfs.readlink(this.ctx(h), nodes.get(h.nodeid).reachablePath), (t) => bytesOut(nameBuffer(t))),
      SYMLINK: (h, { name, target }) => {
        const parent = nodes.get(h.nodeid);
        return replyTo(vfs.symlink(this.ctx(h), target, pathIn(parent, name)), (a) => this.entry(parent, name, a));
      },
      MKNOD: (h, { name, mode, rdev, umask }) => {
        const parent = nodes.get(h.nodeid);
        return replyTo(vfs.mknod(this.makingCtx(h, umask), pathIn(parent, name), mode, rdev), (a) => this.entry(parent, name, a));
      },
      MKDIR: (h, { name, mode, umask }) => {
        const parent = nodes.get(h.nodeid);
        return replyTo(vfs.mkdir(this.makingCtx(h, umask), pathIn(parent, name), mode), (a) => this.entry(parent, name, a));
      },
      UNLINK: (h, { name }) => {
        const parent = nodes.get(h.nodeid);
        return replyTo(vfs.unlink(this.ctx(h), pathIn(parent, name)), () => {
          nodes.removed(parent, name);
          return 0;
        });
      },
      RMDIR: (h, { name }) => {
        const parent = nodes.get(h.nodeid);
        return replyTo(vfs.rmdir(this.ctx(h), pathIn(parent, name)), () => {
          nodes.removed(parent, name);
          return 0;
        });
      },
      RENAME: (h, req) => this.rename(h, req.oldname, req.newdir, req.newname, 0),
      RENAME2: (h, req) => this.rename(h, req.oldname, req.newdir, req.newname, req.flags),
      LINK: (h, { oldnodeid, name }) => {
        const parent = nodes.get(h.nodeid);
        const existing = nodes.get(oldnodeid);
        existing.wrote(); // a new link moves its ctime
        return replyTo(vfs.link(this.ctx(h), existing.reachablePath, pathIn(parent, name)), (a) => {
          nodes.linking(existing);
          return this.entry(parent, name, a);
        });
      },
      // OPEN never carries FUSE_OPEN_KILL_SUIDGID: without ATOMIC_O_TRUNC (vfs/init.ts) the kernel sends a
      // truncating open's truncation as a SETATTR, flagged there.
      OPEN: (h, { flags }) => {
        const node = nodes.get(h.nodeid);
        return replyTo(vfs.open(this.ctx(h), node.reachablePath, this.openFlags(flags)), (res) => this.opened(node, res));
      },
      CREATE: (h, { name, flags, mode, umask, openFlags }) => {
        const parent = nodes.get(h.nodeid);
        const path = pathIn(parent, name);
        const ctx = this.makingCtx(h, umask);
        return replyTo(vfs.create(ctx, path, this.openFlags(flags), mode), (res) => {
          const node = nodes.learn(parent, name, res.attr.ino, res.attr.mode, res.attr.nlink);
          // O_TRUNC of a file that existed after all, by a caller without CAP_FSETID.
          if (!(openFlags & FUSE_OPEN_KILL_SUIDGID)) return this.opened(node, res, res.attr);
          return replyTo(this.dropSetId(ctx, node, res.fh), (a) => this.opened(node, res, a ?? res.attr));
        });
      },
      READ: (h, { fh, offset, size: asked }) => {
        const f = this.file(fh);
        const size = Math.min(asked, this.maxRead);
        const buf = this.replyBuffer(size);
        const into = buf.subarray(OUT_HEADER_SIZE);
        return replyTo(vfs.read(this.ctx(h), f.node.path, f.fh, into, offset), (n) =>
          n >= size ? buf : buf.subarray(0, OUT_HEADER_SIZE + n),
        );
      },
      WRITE: (h, { fh, offset, data, writeFlags, flags }) => {
        const f = this.file(fh);
        const ctx = this.ctx(h, writeFlags & FUSE_WRITE_CACHE ? (f.direct ? 'direct' : 'cached') : undefined);
        f.node.wrote();
        // Cleared before the data goes in, as the kernel's file_remove_privs() does.
        if (writeFlags & FUSE_WRITE_KILL_SUIDGID && f.node.setId) {
          return replyTo(this.dropSetId(ctx, f.node, f.fh), (changed) => {
            // A WRITE reply carries no attributes: the kernel would show the old mode until its attr timeout.
            if (changed) this.dropAttributes(f.node);
            return replyTo(this.write(ctx, f, data, offset, flags), writeOut);
          });
        }
        return replyTo(this.write(ctx, f, data, offset, flags), writeOut);
      },
      FLUSH: (h, { fh }) => {
        const f = this.file(fh);
        return replyTo(vfs.flush(this.ctx(h), f.node.path, f.fh), ok);
      },
      RELEASE: (h, { fh, flags }) => {
        const f = this.file(fh);
        this.files.delete(fh);
        this.closed(f.node, f.backingId !== 0);
        // Writes through a shared mapping of a passed-through file reach the backing file alone: the
        // kernel keeps the times it had until they time out. Its writer is done now; the next stat asks.
        // Once no request waits: sent at once, it cost a loop of creates ~8 % (bench/RESULTS.md item 90).
        if (f.backingId !== 0 && (flags & O_ACCMODE) !== constants.O_RDONLY) whenIdle(this.dropAttributesOf, f.node.id);
        return replyTo(vfs.release(this.ctx(h), f.node.path, f.fh), ok);
      },
      FSYNC: (h, { fh, fsyncFlags }) => {
        const f = this.file(fh);
        return replyTo(vfs.fsync(this.ctx(h), f.node.path, f.fh, (fsyncFlags & FUSE_FSYNC_FDATASYNC) !== 0), ok);
      },
      STATFS: (h) => replyTo(vfs.statfs(this.ctx(h), nodes.get(h.nodeid).path), statfsOut),
      SETXATTR: (h, { name, value, flags, setxattrFlags }) => {
        const node = nodes.get(h.nodeid);
        node.wrote();
        const ctx = this.ctx(h);
        const set = vfs.setxattr(ctx, node.reachablePath, name, value, flags);
        if (!(setxattrFlags & FUSE_SETXATTR_ACL_KILL_SGID)) return replyTo(set, ok);
        // The ACL's new mode kept the setgid bit (the daemon is root); the caller may not keep it.
        return replyTo(set, () =>
          replyTo(this.dropSetId(ctx, node, undefined, setgidBit), (changed) => {
            if (changed) this.dropAttributes(node);
            return 0;
          }),
        );
      },
      GETXATTR: (h, { name, size }) => replyTo(vfs.getxattr(this.ctx(h), nodes.get(h.nodeid).reachablePath, name), (v) => sized(v, size)),
      LISTXATTR: (h, { size }) =>
        replyTo(vfs.listxattr(this.ctx(h), nodes.get(h.nodeid).reachablePath), (names) =>
          sized(nameBuffer(names.map((n) => `${n}\0`).join('')), size),
        ),
      REMOVEXATTR: (h, { name }) => {
        const node = nodes.get(h.nodeid);
        node.wrote();
        return replyTo(vfs.removexattr(this.ctx(h), node.reachablePath, name), ok);
      },
      OPENDIR: (h) => this.dirs.open(this.ctx(h), nodes.get(h.nodeid)),
      READDIR: (h, req) => this.dirs.read(this.ctx(h), req, Math.min(req.size, this.maxRead), false),
      READDIRPLUS: (h, req) => this.dirs.read(this.ctx(h), req, Math.min(req.size, this.maxRead), true),
      RELEASEDIR: (h, { fh }) => this.dirs.release(this.ctx(h), fh),
      FSYNCDIR: (h, { fh, fsyncFlags }) => this.dirs.fsync(this.ctx(h), fh, (fsyncFlags & FUSE_FSYNC_FDATASYNC) !== 0),
      ACCESS: (h, { mask }) => replyTo(vfs.access(this.ctx(h), nodes.get(h.nodeid).reachablePath, mask), ok),
      FALLOCATE: (h, { fh, offset, length, mode }) => {
        if (!vfs.fallocate) return ENOSYS;
        const f = this.file(fh);
        f.node.wrote();
        return replyTo(vfs.fallocate(this.ctx(h), f.node.path, f.fh, mode, offset, length), ok);
      },
      // The kernel asks only SEEK_DATA and SEEK_HOLE. Under the writeback cache the backend may not
      // have the data yet (SEEK_DATA at 0 of a file just written found none: ENXIO); ENOSYS has the
      // kernel answer from its own size, all of the file data, for the rest of the mount.
      LSEEK: (h, { fh, offset, whence }) => {
        if (!vfs.lseek || this.writebackCache) return ENOSYS;
        const f = this.file(fh);
        return replyTo(vfs.lseek(this.ctx(h), f.node.path, f.fh, offset, whence), lseekOut);
      },
      COPY_FILE_RANGE: (h, req) => replyTo(this.copyFileRange(h, req), writeOut),
      COPY_FILE_RANGE_64: (h, req) => replyTo(this.copyFileRange(h, req), copyFileRange64Out),
      SYNCFS: (h) => (vfs.syncfs ? replyTo(vfs.syncfs(this.ctx(h), '/'), ok) : 0),
    };
  }

  /**
   * Makes the kernel forget cached data and attributes of every file it knows (after a simulated
   * crash): through dropPages, since a file's pages may be locked by a READ not yet read.
   */
  async invalidateAll(): Promise<number> {
    let n = 0;
    const root = this.nodes.root.id;
    for (const id of Array.from(this.nodes.all(), (node) => node.id)) {
      if (id === root) continue;
      const r = await this.dropPages(id);
      if (r >= 0) n++;
      else log.debug({ node: id, errno: errnoName(-r) }, 'invalidation refused');
    }
    return n;
  }

  private copyFileRange(h: InHeader, req: import('../fuse/requests.ts').CopyFileRangeIn): Answer<number> {
    if (!this.vfs.copyFileRange) throw new FsError(ENOSYS);
    const a = this.file(req.fhIn);
    const b = this.file(req.fhOut);
    b.node.wrote();
    return this.vfs.copyFileRange(
      this.ctx(h),
      { path: a.node.path, fh: a.fh, offset: req.offIn },
      { path: b.node.path, fh: b.fh, offset: req.offOut },
      req.len,
      req.flags,
    );
  }

  private rename(h: InHeader, name: string, newdir: number, newname: string, flags: number): MaybePromise<Reply> {
    const parent = this.nodes.get(h.nodeid);
    const newParent = this.nodes.get(newdir);
    const from = pathIn(parent, name);
    const to = pathIn(newParent, newname);
    parent.children?.get(name)?.wrote(); // a rename moves the ctime of what it moves, on most filesystems
    return replyTo(this.vfs.rename(this.ctx(h), from, to, flags), () => {
      if (flags & 2) this.nodes.exchanged(parent, name, newParent, newname);
      else this.nodes.renamed(parent, name, newParent, newname);
      return 0;
    });
  }
}

/**
 * The path of `name` in directory `parent`. The kernel never sends '', '.',
 * '..' or a name with '/', but a malformed request might: refuse those rather
 * than let them name another node.
 */
function pathIn(parent: Node, name: string): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/')) throw new FsError(EINVAL, `bad name ${JSON.stringify(name)}`);
  // A name in a directory that was removed names nothing, as natively.
  if (parent.detached) throw new FsError(ENOENT, 'the directory was removed');
  return childPath(parent.path, name);
}

/** Where an op on `node` goes: through its open handle `fh` if it has one, else by a path that still reaches it. */
function pathFor(node: Node, fh: number | undefined): string {
  return fh === undefined ? node.reachablePath : node.path;
}

/**
 * SETATTR of mtime and ctime alone for a file no name and no handle reach: under the writeback
 * cache, the kernel writing back the ctime it set when it unlinked the file (or a rename replaced
 * it), before the inode goes. An error would be kept as the file's writeback error, and the next
 * syncfs(2) of the whole mount, by anyone, would fail with it; natively times of an orphan can be
 * set. So it succeeds, with the node's type and times as asked, and attributes the kernel must ask
 * again for at once (the file is gone, its other attributes unknown): a stat through an O_PATH
 * descriptor still gets ENOENT (Node.reachablePath).
 */
function orphanTimesOut(node: Node, req: import('../fuse/requests.ts').SetattrIn): Reply {
  const mtimeMs = req.valid & FATTR_MTIME ? msOf(req.mtime, req.mtimensec) : 0;
  const ctimeMs = req.valid & FATTR_CTIME ? msOf(req.ctime, req.ctimensec) : mtimeMs;
  const attr: Attr = {
    ino: node.ino,
    size: 0,
    blocks: 0,
    atimeMs: mtimeMs,
    mtimeMs,
    ctimeMs,
    mtimeNsec: req.mtimensec,
    ctimeNsec: req.valid & FATTR_CTIME ? req.ctimensec : req.mtimensec,
    mode: node.type,
    nlink: 0,
    uid: 0,
    gid: 0,
    rdev: 0,
    blksize: 4096,
  };
  return attrOut(attr, 0);
}

function warnIfRefused(node: Node, r: number): void {
  if (r < 0 && r !== -ENOENT)
    log.warn({ path: node.path, errno: errnoName(-r) }, 'the kernel refused to drop cached pages of a file changed beside the mount');
}

/** A look at a file that failed (it was removed, the backend refused): the next look, open or stat tells. */
function ignoreLookFailure(err: unknown): void {
  log.debug({ err }, 'looking at an open file for changes beside the mount failed');
}

/** GETXATTR/LISTXATTR: size 0 asks for the length; too small a buffer is ERANGE. */
function sized(value: Buffer, size: number): Reply {
  if (size === 0) return getxattrSizeOut(value.length);
  if (value.length > size) return ERANGE;
  return bytesOut(value);
}
