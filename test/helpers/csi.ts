// Driving the CSI plugin the way kubelet does: the real `interposer csi`
// command in a child process, and a grpc-js client loaded from the same
// csi.proto. Everything started here is stopped by PID in the tests' finally.
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadCsi } from '../../src/csi/proto.ts';
import { processStartTime } from '../../src/csi/launcher.ts';
import { FS_TYPE, readMountInfo, unmountPath } from '../../src/fuse/mount.ts';
import { controlSocketFor } from '../../src/control/socket-path.ts';
import { CLI, NODE, startLogged, waitFor } from './mount.ts';
import { stopProcess } from './run.ts';

const DEBUG = { INTERPOSER_LOG: 'debug' };

export interface PluginProcess {
  child: ChildProcess;
  socket: string;
  log(): string;
  exited: Promise<number | null>;
}

/** Starts `interposer csi` and waits until its socket answers. */
export async function startPlugin(stateDir: string, extra: string[] = []): Promise<PluginProcess> {
  const socket = join(stateDir, 'csi.sock');
  const args = [CLI, 'csi', '--endpoint', `unix://${socket}`, '--node-id', 'test-node', '--state-dir', stateDir, ...extra];
  const { child, log, exited } = await startLogged(NODE, args, {
    ready: /"msg":"csi plugin serving"/,
    name: 'the csi plugin to serve',
    env: DEBUG,
  });
  return { child, socket, log, exited };
}

export interface MounterProcess {
  child: ChildProcess;
  pid: number;
  socket: string;
  log(): string;
  exited: Promise<number | null>;
}

/**
 * The capabilities the chart grants the mounter container (everything else
 * dropped, no privilege escalation); test/integration/helm.test.ts checks the
 * chart against this list, and the tests run the mounter with exactly it.
 */
export const MOUNTER_CAPABILITIES = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'MKNOD'];

/**
 * Starts `interposer csi mounter` on `socket` and waits until it serves. It
 * runs as the chart runs it: root with only MOUNTER_CAPABILITIES (bounding
 * set, so its daemons get no more) and no_new_privs.
 */
export async function startMounter(socket: string, capabilities = MOUNTER_CAPABILITIES): Promise<MounterProcess> {
  const bounding = ['-all', ...capabilities.map((c) => `+${c.toLowerCase()}`)].join(',');
  const setpriv = ['--no-new-privs', '--inh-caps=-all', `--bounding-set=${bounding}`, '--'];
  const args = [...setpriv, NODE, CLI, 'csi', 'mounter', '--socket', socket];
  const { child, log, exited } = await startLogged('setpriv', args, {
    ready: /"msg":"mounter serving"/,
    name: 'the mounter to serve',
    env: DEBUG,
  });
  return { child, pid: child.pid!, socket, log, exited };
}

/** SIGTERM (or SIGKILL) the mounter and wait; its daemons end with it. */
export async function stopMounter(m: MounterProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  await stopProcess(m.child, m.exited, signal);
}

/** Every process whose parent chain leads to `pid` (not `pid` itself), per /proc. */
export function descendantsOf(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited while we looked
    }
  }
  const out: number[] = [];
  for (const p of parent.keys()) {
    for (let q = parent.get(p); q !== undefined && q > 1; q = parent.get(q)) {
      if (q === pid) {
        out.push(p);
        break;
      }
    }
  }
  return out;
}

/**
 * What a container restart does to the plugin: SIGKILL to it and to every
 * process descended from it, all found before any dies (a dead parent's
 * children are reparented and would no longer look like descendants).
 */
export async function killWithDescendants(p: PluginProcess): Promise<number[]> {
  const pid = p.child.pid!;
  const victims = descendantsOf(pid);
  for (const v of [pid, ...victims]) {
    try {
      process.kill(v, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await p.exited;
  return victims;
}

/** SIGTERM (or SIGKILL), then wait; the plugin's volume daemons are not touched. */
export async function stopPlugin(p: PluginProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  await stopProcess(p.child, p.exited, signal);
}

type Unary = (req: object) => Promise<Record<string, unknown>>;
export type CsiClient = Record<string, Unary> & { close(): void };

/** A client of one CSI service (Identity, Node or Controller) over the unix socket, with promise-returning methods. */
export function csiClient(socket: string, service: 'Identity' | 'Node' | 'Controller'): CsiClient {
  const Ctor = loadCsi()[service];
  // kubelet dials with authority "localhost" (kubernetes/kubernetes#112597).
  const client = new Ctor(`unix://${socket}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'localhost' });
  const out: Record<string, unknown> = { close: () => client.close() };
  for (const name of Object.keys(Ctor.service)) {
    out[name] = (req: object) =>
      new Promise((resolve, reject) => {
        const method = (client as unknown as Record<string, Function>)[name].bind(client);
        method(req, { deadline: Date.now() + 120_000 }, (err: grpc.ServiceError | null, res: Record<string, unknown>) =>
          err ? reject(err) : resolve(res),
        );
      });
  }
  return out as CsiClient;
}

/** What kubelet computes for an inline volume: `csi-` + sha256(podUID + volumeName). */
export function inlineVolumeId(podUid: string, volumeName: string): string {
  return `csi-${createHash('sha256')
    .update(podUid + volumeName)
    .digest('hex')}`;
}

export interface InlineVolume {
  request: Record<string, unknown>;
  volumeId: string;
  targetPath: string;
}

/**
 * The NodePublishVolume request kubelet sends for a pod's inline CSI volume,
 * after creating the parent of the target (kubelet writes vol_data.json there).
 */
export function inlineVolume(
  kubeletDir: string,
  pod: { uid: string; name: string; namespace: string },
  volumeName: string,
  attributes: Record<string, string>,
): InlineVolume {
  const parent = join(kubeletDir, 'pods', pod.uid, 'volumes', 'kubernetes.io~csi', volumeName);
  mkdirSync(parent, { recursive: true, mode: 0o750 });
  const volumeId = inlineVolumeId(pod.uid, volumeName);
  const targetPath = join(parent, 'mount');
  return {
    volumeId,
    targetPath,
    request: {
      volume_id: volumeId,
      target_path: targetPath,
      volume_capability: { mount: { fs_type: '', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' } },
      readonly: false,
      volume_context: {
        ...attributes,
        // kubelet's podInfoOnMount values overwrite same-named user keys
        'csi.storage.k8s.io/pod.name': pod.name,
        'csi.storage.k8s.io/pod.namespace': pod.namespace,
        'csi.storage.k8s.io/pod.uid': pod.uid,
        'csi.storage.k8s.io/serviceAccount.name': 'default',
        'csi.storage.k8s.io/ephemeral': 'true',
      },
    },
  };
}

export function exists(path: string): boolean {
  return existsSync(path);
}

interface StateFile {
  volumes: {
    volumeId: string;
    targetPath: string;
    scratchDir?: string;
    daemon: { pid: number; startTime: string; mounter?: string };
    labels: Record<string, string>;
  }[];
}

export function readState(stateDir: string): StateFile {
  try {
    return JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as StateFile;
  } catch {
    return { volumes: [] };
  }
}

/** Interposer mounts at or beneath `dir`, per mountinfo. */
export function mountsBeneath(dir: string): string[] {
  return readMountInfo()
    .filter((m) => m.fstype === FS_TYPE && (m.mountpoint === dir || m.mountpoint.startsWith(`${dir}/`)))
    .map((m) => m.mountpoint);
}

/**
 * Last-resort cleanup for a test's finally: detach mounts left beneath `base`
 * and kill the volume daemons its plugin recorded (by PID, after checking the
 * start time so a recycled PID is never hit).
 */
export async function forceCleanup(base: string, stateDir: string, daemonsSeen: { pid: number; startTime: string }[] = []): Promise<void> {
  for (const mnt of mountsBeneath(base).reverse()) unmountPath(mnt, true);
  const daemons = [...readState(stateDir).volumes.map((v) => v.daemon), ...daemonsSeen];
  for (const d of daemons) {
    if (processStartTime(d.pid) !== d.startTime) continue;
    try {
      process.kill(d.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await waitFor(() => daemons.every((d) => processStartTime(d.pid) !== d.startTime), 5000, 'volume daemons to exit');
  // Daemons killed here leave their control sockets (the leak check would count them against a later test).
  for (const v of readState(stateDir).volumes) rmSync(controlSocketFor(v.targetPath), { force: true });
}
