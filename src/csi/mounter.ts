// The mounter (`interposer csi mounter`): a long-lived process, in Kubernetes
// its own container beside the plugin's, that owns every volume's FUSE
// daemon. The plugin mounts (it has the privileges and the kubelet directory)
// and sends the /dev/fuse fd with the volume's configuration over this
// process's unix socket; the daemon then runs as this process's child, in
// this container's cgroup, so the plugin container can restart (a crash, a
// failed liveness probe, an OOM kill) without a volume noticing.
//
// Daemons end with the mounter: they are started with --exit-with-parent, and
// in a container the kernel kills what is left when its PID 1 dies. A
// restarted mounter has a new instance id and no daemons; the plugin sees its
// volumes as dead and cleans them up on unpublish.
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, fstatSync, lstatSync, mkdirSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/schema.ts';
import * as sys from '../sys/libc.ts';
import { acceptUnix, connectUnix, listenUnix, receiveWithFds } from '../sys/socket.ts';
import { errnoName } from '../vfs/errors.ts';
import { log } from '../util/log.ts';
import { trimmerWhenQuiet } from '../util/heap-trim.ts';
import { processStartTime, spawnDaemon } from './launcher.ts';
import {
  MAX_MESSAGE_BYTES,
  MounterProtocolError,
  parseRequest,
  type DaemonExit,
  type LaunchReply,
  type LaunchRequest,
  type ListReply,
  type MounterRequest,
  type Refusal,
  type RunningDaemon,
  type StopReply,
  type StopRequest,
} from './mounter-protocol.ts';

export interface MounterOptions {
  /** The unix socket to serve on; a stale socket file is replaced, a live mounter on it is an error. */
  socket: string;
}

export interface Mounter {
  socket: string;
  /** New on every start: daemons started under another instance are gone. */
  instance: string;
  running(): RunningDaemon[];
  /** Stops accepting requests; the daemons keep running. */
  close(): Promise<void>;
}

const EAGAIN = -11;
/** How long a client may take to send its whole request once connected. */
const REQUEST_TIMEOUT_MS = 5000;
/** How often the accept loop looks up from poll(2) to notice close(). */
const ACCEPT_POLL_MS = 1000;
/** Exits kept for `list`, so a volume's condition can say how its daemon ended. */
const EXITS_KEPT = 256;
const DEFAULT_GRACE_MS = 2000;
const TERM_WAIT_MS = 5000;

interface Managed {
  volumeId: string;
  mountpoint: string;
  startedAt: string;
  /** Settles when the launch has succeeded or failed: a stop waits for it. */
  launched: Promise<void>;
  child?: ChildProcess;
  pid?: number;
  startTime?: string;
  exited?: Promise<Pick<DaemonExit, 'code' | 'signal'>>;
}

export async function startMounter(o: MounterOptions): Promise<Mounter> {
  const path = o.socket;
  mkdirSync(dirname(path), { recursive: true });
  replaceStaleSocket(path);
  const listenFd = listenUnix(path);
  if (listenFd < 0) throw new Error(`cannot listen on ${path}: ${errnoName(-listenFd)}`);
  // Whoever can connect can run daemons as root over any path this container sees: root only.
  chmodSync(path, 0o600);
  const instance = randomUUID();
  const daemons = new Map<string, Managed>();
  const exits: DaemonExit[] = [];
  const startedAt = new Date().toISOString();

  function running(): RunningDaemon[] {
    const out: RunningDaemon[] = [];
    for (const d of daemons.values()) {
      if (d.pid === undefined || d.startTime === undefined) continue; // still launching
      // Dead but not reaped yet (node:child_process reports the exit a moment later): not running.
      if (processStartTime(d.pid) !== d.startTime) continue;
      out.push({ volumeId: d.volumeId, pid: d.pid, startTime: d.startTime, mountpoint: d.mountpoint, startedAt: d.startedAt });
    }
    return out;
  }

  async function launch(req: LaunchRequest, fds: number[]): Promise<LaunchReply> {
    const [fuseFd, logFd] = fds;
    try {
      if (!isDevFuse(fuseFd)) throw new MounterProtocolError('launch: the first fd attached is not /dev/fuse');
      const current = daemons.get(req.volumeId);
      if (current) {
        throw new MounterProtocolError(
          `launch: volume ${req.volumeId} already has a daemon${current.pid ? ` (pid ${current.pid})` : ' starting'}; stop it first`,
        );
      }
      let settle = (): void => {};
      const entry: Managed = {
        volumeId: req.volumeId,
        mountpoint: req.mountpoint,
        startedAt: new Date().toISOString(),
        launched: new Promise<void>((r) => (settle = r)),
      };
      daemons.set(req.volumeId, entry);
      try {
        const l = await spawnDaemon({
          fd: fuseFd,
          logFd,
          mountpoint: req.mountpoint,
          configDoc: req.configDoc,
          config: req.config as Config | undefined, // validated by the plugin, which sent it
          exitWithParent: true,
        });
        entry.child = l.child;
        entry.pid = l.pid;
        entry.startTime = l.startTime;
        entry.exited = watchExit(entry, l.child);
        log.info({ volumeId: req.volumeId, daemon: l.pid, mountpoint: req.mountpoint }, 'volume daemon started');
        return { ok: true, instance, daemon: { pid: l.pid, startTime: l.startTime } };
      } catch (err) {
        if (daemons.get(req.volumeId) === entry) daemons.delete(req.volumeId);
        throw err;
      } finally {
        settle();
      }
    } finally {
      // The daemon holds its own copies; ours must not keep a dead daemon's connection open.
      for (const fd of fds) sys.close(fd);
    }
  }

  /** Reaps the daemon (node:child_process waits for it) and logs how it ended. */
  function watchExit(entry: Managed, child: ChildProcess): Promise<Pick<DaemonExit, 'code' | 'signal'>> {
    return new Promise((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (daemons.get(entry.volumeId) === entry) daemons.delete(entry.volumeId);
        const exit: DaemonExit = { volumeId: entry.volumeId, pid: entry.pid!, code, signal, at: new Date().toISOString() };
        exits.push(exit);
        if (exits.length > EXITS_KEPT) exits.shift();
        const level = code === 0 ? 'info' : 'warn';
        log[level]({ volumeId: entry.volumeId, daemon: entry.pid, code, signal, mountpoint: entry.mountpoint }, 'volume daemon exited');
        resolve({ code, signal });
      };
      if (child.exitCode !== null || child.signalCode !== null) done(child.exitCode, child.signalCode);
      else child.once('exit', done);
    });
  }

  async function stop(req: StopRequest): Promise<StopReply> {
    const found = daemons.get(req.volumeId);
    if (found) await found.launched;
    const d = daemons.get(req.volumeId);
    if (!d?.child || !d.exited || (req.pid !== undefined && d.pid !== req.pid)) return { ok: true, instance, stopped: false };
    // Usually the plugin has unmounted, so the daemon is already on its way out.
    const grace = req.graceMs ?? DEFAULT_GRACE_MS;
    const ended = d.exited;
    const within = async (ms: number): Promise<boolean> => (await Promise.race([ended.then(() => true), sleep(ms, false)])) === true;
    if (!(await within(grace))) {
      log.warn({ volumeId: d.volumeId, daemon: d.pid }, 'volume daemon did not exit after its unmount; SIGTERM');
      d.child.kill('SIGTERM');
      if (!(await within(TERM_WAIT_MS))) {
        log.warn({ volumeId: d.volumeId, daemon: d.pid }, 'volume daemon ignored SIGTERM; SIGKILL');
        d.child.kill('SIGKILL');
      }
    }
    return { ok: true, instance, stopped: true, exit: await ended };
  }

  function list(): ListReply {
    return { ok: true, instance, pid: process.pid, startedAt, daemons: running(), exits: [...exits] };
  }

  async function dispatch(req: MounterRequest, fds: number[]): Promise<LaunchReply | StopReply | ListReply> {
    switch (req.op) {
      case 'launch':
        return launch(req, fds);
      case 'stop':
        return stop(req);
      case 'list':
        return list();
    }
  }

  // What starting left behind in the C heap, and what a burst of requests used, goes back after it.
  const trimWhenQuiet = trimmerWhenQuiet();

  async function serveConnection(conn: number): Promise<void> {
    let fds: number[] = [];
    let reply: LaunchReply | StopReply | ListReply | Refusal;
    try {
      const got = await readRequest(conn);
      fds = got.fds;
      const req = parseRequest(got.line, fds.length);
      const owned = fds;
      fds = []; // the handler owns them now
      reply = await dispatch(req, owned);
      if (req.op !== 'list') log.debug({ request: { ...req, configDoc: undefined }, reply }, 'mounter request');
    } catch (err) {
      const refusal: Refusal = { ok: false, error: err instanceof Error ? err.message : String(err) };
      log.warn({ error: refusal.error }, 'mounter request refused');
      reply = refusal;
    } finally {
      for (const fd of fds) sys.close(fd);
    }
    const sock = new Socket({ fd: conn, readable: false, writable: true });
    sock.on('error', (err) => log.warn({ err: err.message }, 'could not send the mounter reply'));
    sock.end(`${JSON.stringify(reply)}\n`, () => sock.destroy());
    trimWhenQuiet();
  }

  let closed = false;
  const loop = (async () => {
    while (!closed) {
      const ev = await sys.pollOneAsync(listenFd, sys.POLLIN, ACCEPT_POLL_MS);
      if (closed) break;
      if (ev < 0) log.warn({ errno: errnoName(-ev) }, 'poll on the mounter socket failed');
      for (;;) {
        const conn = acceptUnix(listenFd);
        if (conn < 0) {
          if (conn !== EAGAIN) log.warn({ errno: errnoName(-conn) }, 'accept on the mounter socket failed');
          break;
        }
        void serveConnection(conn);
      }
    }
  })();

  log.info({ socket: path, instance }, 'mounter serving');
  trimWhenQuiet();
  return {
    socket: path,
    instance,
    running,
    close: async () => {
      closed = true;
      await loop;
      sys.close(listenFd);
      rmSync(path, { force: true });
    },
  };
}

/** Reads one newline-terminated request and the fds that came with it; closes those fds if it fails. */
async function readRequest(conn: number): Promise<{ line: string; fds: number[] }> {
  const chunks: Buffer[] = [];
  const fds: number[] = [];
  let size = 0;
  try {
    for (;;) {
      const r = receiveWithFds(conn, 64 * 1024);
      if (r === EAGAIN) {
        const ev = await sys.pollOneAsync(conn, sys.POLLIN, REQUEST_TIMEOUT_MS);
        if (ev === 0) throw new MounterProtocolError(`no complete request within ${REQUEST_TIMEOUT_MS / 1000}s`);
        continue;
      }
      if (typeof r === 'number') throw new MounterProtocolError(`reading the request failed: ${errnoName(-r)}`);
      fds.push(...r.fds);
      if (r.data.length === 0) break; // the client closed its side
      chunks.push(r.data);
      size += r.data.length;
      if (r.data.includes(0x0a)) break;
      if (size > MAX_MESSAGE_BYTES) throw new MounterProtocolError(`request longer than ${MAX_MESSAGE_BYTES} bytes`);
    }
    const all = Buffer.concat(chunks);
    const end = all.indexOf(0x0a);
    if (end < 0) throw new MounterProtocolError('request ended without a newline; expected one line of JSON');
    return { line: all.subarray(0, end).toString('utf8'), fds };
  } catch (err) {
    for (const fd of fds) sys.close(fd);
    throw err;
  }
}

/** /dev/fuse is character device 10:229. */
function isDevFuse(fd: number | undefined): boolean {
  if (fd === undefined) return false;
  try {
    const st = fstatSync(fd);
    return st.isCharacterDevice() && Math.floor(st.rdev / 256) % 4096 === 10 && st.rdev % 256 === 229;
  } catch {
    return false;
  }
}

/** A socket file no one answers on is a dead mounter's: remove it. Anything else at the path is an error. */
function replaceStaleSocket(path: string): void {
  if (!existsSync(path)) return;
  if (!lstatSync(path).isSocket()) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  const probe = connectUnix(path);
  if (probe >= 0) {
    sys.close(probe);
    throw new Error(`another mounter is already serving on ${path}`);
  }
  rmSync(path, { force: true });
}
