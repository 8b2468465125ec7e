// Assembles one interposed mount: mountpoint checks, mount, bridge, session,
// and the lifecycle around them (signals, crashes, unmount).
import { atEnd, endProcess } from './end-process.ts';
import { FuseSession } from '../fuse/session.ts';
import { resolve } from 'node:path';
import {
  insideDir,
  mountFuse,
  prepareMountpoint,
  refuseInsideMount,
  unmountPath,
  type KernelMountFlag,
  type Mounted,
} from '../fuse/mount.ts';
import { FuseBridge, type BridgeOptions } from '../vfs/bridge.ts';
import type { Vfs } from '../vfs/types.ts';
import { log } from '../util/log.ts';
import * as sys from '../sys/libc.ts';
import type { Controller } from '../control/controller.ts';
import { startControlServer } from '../control/server.ts';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { deferredModulePaths, requireDeferredNow } from '../util/require.ts';

export interface ServeOptions {
  mountpoint: string;
  fsname: string;
  /** Mount flags beyond nosuid, nodev and ro: noexec, noatime, ... */
  kernelFlags?: readonly KernelMountFlag[];
  vfs: Vfs;
  bridge: BridgeOptions;
  /** SessionOptions.busyPollMs. */
  busyPollMs?: number;
  allowOther: boolean;
  readOnly: boolean;
  /** Called once the mount is serving (to register metrics that read its state). */
  onServed?: (served: Served) => void;
  /** Serve the control API for this mount on this unix socket. */
  control?: { controller: Controller; socket: string };
  /** A /dev/fuse fd already mounted on `mountpoint` (handed over by the CSI plugin): skip preparing and mounting. */
  fd?: number;
  /** Files the daemon writes by name while it serves: refused inside the mountpoint, where it would wait for itself. */
  writesByName?: Array<{ path: string; what: string }>;
}

export interface Served {
  mounted: Mounted;
  bridge: FuseBridge;
  session: FuseSession;
  /** Resolves when the mount is gone (unmounted here or from outside). */
  ended: Promise<void>;
  /** Unmounts; `lazy` detaches even if files are still open. */
  unmount(lazy?: boolean): string | null;
}

const live = new Set<Served>();

export async function serve(o: ServeOptions): Promise<Served> {
  // glibc gives each thread that mallocs (V8's helpers, libuv's pool, koffi's) an arena of its own, and
  // freed memory stays in them: one shared arena kept a daemon's memory after an untar + rm -rf at 66
  // instead of 107 MiB, for no measurable CPU. The threads are few and rarely contend.
  sys.limitMallocArenas(1);
  let mounted: Mounted;
  if (o.fd !== undefined) {
    mounted = { fd: o.fd, mountpoint: resolve(o.mountpoint), via: 'mount(2)' };
  } else {
    await prepareMountpoint(o.mountpoint);
    for (const f of o.writesByName ?? []) refuseInsideMount(o.mountpoint, f.path, f.what);
    // Mounted over its own files (in place over a directory that holds this installation), the daemon would
    // read a module it requires while serving through its own mount, and wait for itself: require them now.
    if ([fileURLToPath(import.meta.url), ...deferredModulePaths()].some((file) => insideDir(o.mountpoint, file))) {
      requireDeferredNow();
    }
    mounted = await mountFuse({
      mountpoint: o.mountpoint,
      fsname: o.fsname,
      allowOther: o.allowOther,
      readOnly: o.readOnly,
      maxRead: o.bridge.maxWrite,
      flags: o.kernelFlags,
    });
  }
  const bridge = new FuseBridge(o.vfs, o.bridge);
  const session = new FuseSession(mounted.fd, bridge.handlers(), {
    bufferSize: o.bridge.maxWrite + 4096,
    busyPollMs: o.busyPollMs,
    background: bridge.background,
    // glibc keeps the C heap's freed pages as RSS: some of what starting the daemon let go, and the buffers a
    // burst of requests used. Handed back each time the mount goes quiet, ~0.4 ms a time: 1.6-1.8 MiB less
    // at rest, 3-5 MiB less after a listing of 30,000 names (bench/RESULTS.md item 77).
    onIdle: () => sys.trimMallocHeap(),
  });
  bridge.session = session;
  session.start();
  if (o.control) o.control.controller.invalidateKernelCache = () => bridge.invalidateAll();
  const control = o.control ? await startControlServer(o.control.controller, o.control.socket) : undefined;
  // A process that ends before this session (files still open after a stop, a second signal, a crash, an orphaned
  // CSI daemon) takes the socket with it; a session that ends first removes it below.
  const dropSocket = o.control ? atEnd(() => rmSync(o.control!.socket, { force: true })) : undefined;
  let gone = false;
  const served: Served = {
    mounted,
    bridge,
    session,
    ended: session.ended.then(async () => {
      gone = true;
      live.delete(served);
      sys.close(mounted.fd);
      if (control) {
        control.close();
        rmSync(o.control!.socket, { force: true });
        dropSocket?.();
      }
      try {
        await o.vfs.destroy?.();
      } catch (err) {
        log.warn({ err }, 'backend cleanup failed');
      }
    }),
    unmount(lazy = false) {
      if (gone) return null;
      return unmountPath(mounted.mountpoint, lazy);
    },
  };
  live.add(served);
  o.onServed?.(served);
  installExitHandlers();
  return served;
}

let installed = false;
const STOP_GRACE_MS = 3000;

/**
 * SIGINT/SIGTERM unmount every live mount and let the sessions end; an
 * exception nobody caught detaches the mounts before the process dies, so a
 * crash never leaves "transport endpoint is not connected" behind.
 */
function installExitHandlers(): void {
  if (installed) return;
  installed = true;
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal; exiting now');
      endProcess(0);
    }
    stopping = true;
    log.info({ signal, mounts: [...live].map((s) => s.mounted.mountpoint) }, 'unmounting');
    for (const s of live) {
      const err = s.unmount(true);
      if (err) log.error({ err }, 'unmount failed');
    }
    // A detached mount lives on while processes keep files open in it; give
    // them a moment to finish, then end the connection (they get ENOTCONN).
    setTimeout(() => {
      if (live.size === 0) return;
      log.warn({ graceMs: STOP_GRACE_MS }, 'files still open in the detached mount; closing the connection');
      endProcess(0);
    }, STOP_GRACE_MS).unref();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGHUP', () => stop('SIGHUP'));
  const crash = (err: unknown): void => {
    log.fatal({ err }, 'unexpected error outside any request; unmounting and exiting');
    for (const s of live) s.unmount(true);
    endProcess(70);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
}
