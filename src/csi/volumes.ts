// The volume manager: publish (validate → mount → hand the fd to a daemon →
// record), unpublish (unmount what mountinfo shows → stop the daemon → remove
// scratch and target → forget), reconcile after a restart, and the health of
// each volume. It never stats a target that may hold a dead FUSE mount: whether
// something is mounted comes from /proc/self/mountinfo. Who runs the daemons
// (the plugin itself or the mounter) is the DaemonSupervisor's business.
import type { MetricsData } from '../config/metrics-data.ts';
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, mkdirSync, openSync, rmdirSync, rmSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FS_TYPE, findMount, mountFuse, refuseMountBeneath, unmountPath } from '../fuse/mount.ts';
import * as sys from '../sys/libc.ts';
import { bridgeOptions } from '../cli/options.ts';
import { validateConfig } from '../config/load.ts';
import { controlSocketFor } from '../control/socket-path.ts';
import { log } from '../util/log.ts';
import { parseAttributes, type AttributePolicy, type VolumeSpec } from './attributes.ts';
import { aborted, alreadyExists, failedPrecondition, internal, invalidArgument, notFound } from './errors.ts';
import type { DaemonSupervisor, DaemonSurvey } from './daemons.ts';
import { logTail } from './launcher.ts';
import type { NodeGetVolumeStatsResponse, VolumeCondition } from './proto.ts';
import type { State, VolumeRecord } from './state.ts';

export interface PublishArgs {
  volumeId: string;
  targetPath: string;
  readonly: boolean;
  /** Capability + readonly + context, serialized: what makes a repeated publish "the same". */
  fingerprint: string;
  volumeContext: Record<string, string>;
}

export interface VolumeManagerOptions {
  stateDir: string;
  state: State;
  policy: AttributePolicy;
  daemons: DaemonSupervisor;
  /**
   * The node serves one metrics endpoint: every volume daemon keeps metrics and serves them on its control socket,
   * with its metrics layer in this data mode (`observe` counts bytes; `kernel` keeps kernel passthrough).
   */
  metrics?: MetricsData;
}

const STATFS_TIMEOUT_MS = 2000;

export class VolumeManager {
  private readonly o: VolumeManagerOptions;
  /** Volume ids and target paths with an operation in flight: a second one gets ABORTED. */
  private readonly busy = new Set<string>();
  /** Daemons already reported dead, so the watcher logs each death once. */
  private readonly reportedDead = new Set<string>();

  constructor(o: VolumeManagerOptions) {
    this.o = o;
    mkdirSync(join(o.stateDir, 'scratch'), { recursive: true, mode: 0o700 });
    mkdirSync(join(o.stateDir, 'logs'), { recursive: true, mode: 0o700 });
  }

  /** Runs `fn` holding the volume's and the target's locks; a held lock means ABORTED (kubelet retries). */
  async locked<T>(volumeId: string, targetPath: string, fn: () => Promise<T>): Promise<T> {
    const keys = [`volume:${volumeId}`, `target:${targetPath}`];
    if (keys.some((k) => this.busy.has(k)))
      throw aborted(`an operation on volume ${volumeId} or target ${targetPath} is already in progress`);
    for (const k of keys) this.busy.add(k);
    try {
      return await fn();
    } finally {
      for (const k of keys) this.busy.delete(k);
    }
  }

  async publish(a: PublishArgs): Promise<void> {
    const target = resolve(a.targetPath);
    const existing = this.o.state.get(a.volumeId);
    if (existing) {
      if (existing.targetPath !== target) {
        throw failedPrecondition(
          `volume ${a.volumeId} is already published at ${existing.targetPath}; it can be published at one target only`,
        );
      }
      if (existing.fingerprint !== a.fingerprint) {
        throw alreadyExists(
          `volume ${a.volumeId} is already published at ${target} with a different capability, read-only flag or volumeAttributes`,
        );
      }
      if (!(await this.condition(existing)).abnormal) return; // idempotent: same arguments, healthy
      log.warn({ volumeId: a.volumeId, target }, 'republishing a volume whose daemon or mount is gone');
      await this.cleanup(a.volumeId, target);
    }
    const other = this.o.state.byTarget(target);
    if (other && other.volumeId !== a.volumeId) throw alreadyExists(`target ${target} already holds volume ${other.volumeId}`);
    // Attributes are checked before anything on the node changes.
    const spec = parseAttributes(a.volumeContext, this.o.policy);
    this.clearStaleMount(target);
    const name = safeName(a.volumeId);
    const scratchDir = spec.scratch ? join(this.o.stateDir, 'scratch', name) : undefined;
    const logFile = join(this.o.stateDir, 'logs', `${name}.log`);
    const readOnly = a.readonly || spec.config.mount.readOnly;
    const doc = configDocument(spec.doc, target, spec, scratchDir, readOnly, this.o.metrics);
    // The document with the node's settings, validated here: a mistake shows before anything is mounted, and the
    // daemon, handed the result, does without the schema (~6 MiB and ~70 ms of each volume's start).
    const config = validateConfig(doc, `config of volume ${a.volumeId} with the node's settings`);
    if (config.backend.type === 'passthrough') {
      try {
        refuseMountBeneath(config.backend.path, target);
      } catch (err) {
        throw invalidArgument((err as Error).message);
      }
    }
    mkdirSync(target, { recursive: true, mode: 0o750 });
    let fd = -1;
    let logFd = -1;
    try {
      if (scratchDir) {
        mkdirSync(scratchDir, { recursive: true });
        chmodSync(scratchDir, 0o1777); // like emptyDir: pods run as any user
      }
      const backendName = scratchDir ? 'scratch' : spec.config.backend.type;
      const mounted = await mountFuse({
        mountpoint: target,
        fsname: `interposer:${backendName}`,
        allowOther: true,
        readOnly,
        maxRead: bridgeOptions(spec.config).maxWrite,
      });
      fd = mounted.fd;
      logFd = openSync(logFile, 'a+', 0o600);
      const daemon = await this.o.daemons.launch({
        volumeId: a.volumeId,
        fuseFd: fd,
        logFd,
        logFile,
        mountpoint: target,
        configDoc: doc,
        config,
      });
      if (spec.config.backend.type !== 'passthrough' && !readOnly) openUp(target);
      const rec: VolumeRecord = {
        volumeId: a.volumeId,
        targetPath: target,
        fingerprint: a.fingerprint,
        readonly: readOnly,
        backend: spec.config.backend.type === 'passthrough' && !scratchDir ? `passthrough:${spec.config.backend.path}` : backendName,
        ...(scratchDir ? { scratchDir } : {}),
        daemon,
        labels: spec.labels,
        publishedAt: new Date().toISOString(),
      };
      this.o.state.put(rec);
      log.info({ volumeId: a.volumeId, target, backend: rec.backend, daemon: daemon.pid, ...spec.labels }, 'volume published');
    } catch (err) {
      // Undo everything so kubelet, which treats a final error as "nothing was mounted", is right.
      if (findMount(target)?.fstype === FS_TYPE) unmountPath(target, true);
      // A launch the plugin gave up on may still have started a daemon in the mounter.
      await this.o.daemons.stop(a.volumeId).catch((e: unknown) => log.warn({ err: String(e) }, 'could not stop a half-launched daemon'));
      if (scratchDir) rmSync(scratchDir, { recursive: true, force: true });
      removeDir(target);
      throw internal(`could not start the interposer volume: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      // The daemon holds its own copies; ours would keep a dead daemon's connection open.
      if (fd >= 0) sys.close(fd);
      if (logFd >= 0) closeSync(logFd);
    }
  }

  /** Undoes a publish; succeeds for unknown volumes and cleans up half-dead ones. */
  async unpublish(volumeId: string, targetPath: string): Promise<void> {
    await this.cleanup(volumeId, resolve(targetPath));
  }

  private async cleanup(volumeId: string, target: string): Promise<void> {
    const rec = this.o.state.get(volumeId);
    const ours = rec && rec.targetPath === target ? rec : undefined;
    this.unmountAll(target);
    if (ours) {
      const st = (await this.o.daemons.survey()).status(volumeId, ours.daemon);
      if (!st.alive && !this.reportedDead.has(volumeId)) {
        log.warn({ volumeId, daemon: ours.daemon.pid, reason: st.why, log: logTail(ours.daemon.logFile) }, 'volume daemon had died');
      }
      await this.o.daemons.stop(volumeId, ours.daemon);
      rmSync(controlSocketFor(target), { force: true }); // left behind by a daemon that was killed
      if (ours.scratchDir) rmSync(ours.scratchDir, { recursive: true, force: true });
      rmSync(ours.daemon.logFile, { force: true });
    }
    removeDir(target);
    if (ours) this.o.state.delete(volumeId);
    this.reportedDead.delete(volumeId);
    log.info({ volumeId, target, known: Boolean(ours) }, 'volume unpublished');
  }

  /** Unmounts every interposer mount stacked on `target` (a dead one too: unmounting needs no daemon). */
  private unmountAll(target: string): void {
    for (let i = 0; i < 8; i++) {
      const m = findMount(target);
      if (!m) return;
      if (m.fstype !== FS_TYPE)
        throw failedPrecondition(`${target} holds a ${m.fstype} mount that this driver did not make; not touching it`);
      // A plain unmount fails with EBUSY while files are open; detach then.
      const err = unmountPath(target, false) && unmountPath(target, true);
      if (err) throw internal(`could not unmount ${target}: ${err}`);
    }
    throw internal(`${target} is still mounted after repeated unmounts`);
  }

  /** An interposer mount on a target we have no record of is a leftover (e.g. lost state): detach it. */
  private clearStaleMount(target: string): void {
    const m = findMount(target);
    if (!m) return;
    if (m.fstype !== FS_TYPE) throw failedPrecondition(`${target} is already a ${m.fstype} mount point`);
    log.warn({ target }, 'detaching a leftover interposer mount with no record');
    this.unmountAll(target);
  }

  /**
   * Healthy = the target is mounted (per mountinfo) and the recorded daemon
   * runs. Pass a survey when judging many volumes at once (one mounter round trip).
   */
  async condition(rec: VolumeRecord, survey?: DaemonSurvey): Promise<VolumeCondition> {
    const mounted = findMount(rec.targetPath)?.fstype === FS_TYPE;
    const st = (survey ?? (await this.o.daemons.survey())).status(rec.volumeId, rec.daemon);
    if (mounted && st.alive) return { abnormal: false, message: `serving (${rec.backend}, daemon pid ${rec.daemon.pid})` };
    if (!st.alive) {
      return {
        abnormal: true,
        message: `${st.why}; the volume fails with "transport endpoint is not connected": recreate the pod`,
      };
    }
    return { abnormal: true, message: `${rec.targetPath} is no longer mounted; recreate the pod` };
  }

  /** Every record with its condition, from one survey. */
  async conditions(): Promise<{ records: { rec: VolumeRecord; condition: VolumeCondition }[]; survey: DaemonSurvey }> {
    const survey = await this.o.daemons.survey();
    const records = [];
    for (const rec of this.o.state.list()) records.push({ rec, condition: await this.condition(rec, survey) });
    return { records, survey };
  }

  /** The record of a volume published at `path` (any path when omitted), or NOT_FOUND. */
  lookup(volumeId: string, path?: string): VolumeRecord {
    const rec = this.o.state.get(volumeId);
    if (!rec) throw notFound(`volume ${volumeId} is not published on this node`);
    if (path && rec.targetPath !== resolve(path)) throw notFound(`volume ${volumeId} is not published at ${path}`);
    return rec;
  }

  /** Usage and, where the spec still has it, the condition; an abnormal volume reports no usage. */
  async stats(volumeId: string, volumePath: string): Promise<{ usage: NodeGetVolumeStatsResponse['usage']; condition: VolumeCondition }> {
    const rec = this.lookup(volumeId, volumePath);
    const condition = await this.condition(rec);
    if (condition.abnormal) return { usage: [], condition };
    // The daemon runs, so statfs is answered; still, never wait forever on a hung one.
    let timer: NodeJS.Timeout | undefined;
    const st = await Promise.race([
      statfs(rec.targetPath),
      new Promise<null>((r) => (timer = setTimeout(() => r(null), STATFS_TIMEOUT_MS))),
    ]).finally(() => clearTimeout(timer));
    if (!st) {
      return {
        usage: [],
        condition: {
          abnormal: true,
          message: `the interposer daemon (pid ${rec.daemon.pid}) did not answer statfs within ${STATFS_TIMEOUT_MS} ms`,
        },
      };
    }
    const total = st.blocks * st.bsize;
    return {
      usage: [
        { unit: 'BYTES', total, available: st.bavail * st.bsize, used: total - st.bfree * st.bsize },
        { unit: 'INODES', total: st.files, available: st.ffree, used: st.files - st.ffree },
      ],
      condition,
    };
  }

  /**
   * After a (re)start: report what survived. Nothing recorded is unmounted or
   * killed here (kubelet will unpublish); a daemon the mounter runs that no
   * record claims (the plugin died between launch and record) is stopped.
   */
  async reconcile(): Promise<void> {
    const { records, survey } = await this.conditions();
    for (const { rec, condition: c } of records) {
      if (c.abnormal) {
        this.reportedDead.add(rec.volumeId);
        log.warn(
          { volumeId: rec.volumeId, target: rec.targetPath, ...rec.labels, reason: c.message, log: logTail(rec.daemon.logFile) },
          'volume unhealthy after restart',
        );
      } else {
        log.info({ volumeId: rec.volumeId, target: rec.targetPath, daemon: rec.daemon.pid }, 'volume still serving');
      }
    }
    for (const d of survey.running) {
      const rec = this.o.state.get(d.volumeId);
      if (rec && rec.daemon.pid === d.pid && rec.daemon.mounter === d.mounter) continue;
      log.warn({ volumeId: d.volumeId, daemon: d.pid }, 'stopping a volume daemon that no volume record claims');
      await this.o.daemons.stop(d.volumeId, undefined);
    }
  }

  /** Logs each daemon death once (volumes stay recorded until kubelet unpublishes them). */
  watch(intervalMs = 5000): () => void {
    let running = false;
    const check = async (): Promise<void> => {
      const { records } = await this.conditions();
      for (const { rec, condition: c } of records) {
        if (this.busy.has(`volume:${rec.volumeId}`) || !this.o.state.get(rec.volumeId)) continue;
        if (!c.abnormal) {
          this.reportedDead.delete(rec.volumeId); // e.g. the mounter answered again
          continue;
        }
        if (this.reportedDead.has(rec.volumeId)) continue;
        this.reportedDead.add(rec.volumeId);
        log.error(
          { volumeId: rec.volumeId, target: rec.targetPath, ...rec.labels, reason: c.message, log: logTail(rec.daemon.logFile) },
          'volume daemon died',
        );
      }
    };
    const timer = setInterval(() => {
      if (running) return; // a slow survey is not stacked
      running = true;
      check()
        .catch((err: unknown) => log.warn({ err: String(err) }, 'volume health check failed'))
        .finally(() => (running = false));
    }, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }
}

/**
 * The pod's document with what the node decided: the scratch directory,
 * allow_other, read-only, telemetry labels from podInfoOnMount (namespace, pod,
 * volume: kubelet's values win).
 */
function configDocument(
  doc: Record<string, unknown>,
  target: string,
  spec: VolumeSpec,
  scratchDir: string | undefined,
  readOnly: boolean,
  metrics: MetricsData | undefined,
): Record<string, unknown> {
  const mount = { ...(doc.mount as Record<string, unknown> | undefined) };
  // Pods run as arbitrary users; the kernel still checks permissions (default_permissions).
  mount.allowOther = true;
  mount.readOnly = readOnly;
  const telemetry = { ...(doc.telemetry as Record<string, unknown> | undefined) };
  const volume = /\/volumes\/kubernetes\.io~csi\/([^/]+)\/mount$/.exec(target)?.[1];
  telemetry.labels = {
    ...(telemetry.labels as Record<string, string> | undefined),
    ...(volume ? { volume } : {}),
    ...(spec.labels.namespace ? { namespace: spec.labels.namespace } : {}),
    ...(spec.labels.pod ? { pod: spec.labels.pod } : {}),
  };
  let layers = doc.layers;
  if (metrics) {
    // Gathered by the plugin from the control socket into the node's endpoint.
    telemetry.metrics = 'control';
    const list = Array.isArray(layers) ? layers : [];
    if (!list.some((l) => l !== null && typeof l === 'object' && 'metrics' in l)) layers = [{ metrics: { data: metrics } }, ...list];
  }
  return { ...doc, ...(scratchDir !== undefined ? { backend: { type: 'passthrough', path: scratchDir } } : {}), mount, telemetry, layers };
}

/**
 * A RAM or null root is created 0755 root-owned; pods run as any user, so
 * open it up like emptyDir (1777), through the now-serving mount. A layer
 * that fails the chmod only costs non-root pods write access: warn.
 */
function openUp(target: string): void {
  try {
    chmodSync(target, 0o1777);
  } catch (err) {
    log.warn({ target, err: (err as Error).message }, 'could not make the volume root world-writable');
  }
}

/** Volume ids become file names: keep readable ones, hash the rest. */
function safeName(volumeId: string): string {
  return /^[A-Za-z0-9._-]{1,100}$/.test(volumeId) && !volumeId.startsWith('.')
    ? volumeId
    : `v-${createHash('sha256').update(volumeId).digest('hex').slice(0, 32)}`;
}

/** Removes the target directory kubelet asked for (never recursively: it may be someone's data if unmounting failed). */
function removeDir(path: string): void {
  try {
    rmdirSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    throw internal(`could not remove ${path}: ${code}`);
  }
}
