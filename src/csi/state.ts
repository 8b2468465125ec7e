// What the plugin knows about the volumes it published, kept in one JSON file
// so a restarted plugin finds its mounts and daemons again. The file is
// rewritten whole on every change, atomically (tmp + fsync + rename + fsync of
// the directory): a crash mid-write leaves the old state or the new, never half.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { log } from '../util/log.ts';

/** The per-volume daemon: pid plus its start time, so a reused pid is never mistaken for it. */
export interface DaemonRef {
  /** In the PID namespace of whoever started it: the plugin's, or the mounter's (which may not be the plugin's). */
  pid: number;
  /** Field 22 of /proc/PID/stat (clock ticks since boot), as its starter saw it. */
  startTime: string;
  /** Where the daemon writes its log. */
  logFile: string;
  /**
   * The instance id of the mounter that started it; absent when the plugin
   * started it itself. Such a daemon is the mounter's child: only that
   * mounter instance can say whether it runs, or stop it.
   */
  mounter?: string;
}

export interface VolumeRecord {
  volumeId: string;
  targetPath: string;
  /** Capability, readonly flag and volume context as published: equal → idempotent OK, different → ALREADY_EXISTS. */
  fingerprint: string;
  readonly: boolean;
  /** e.g. "memory", "null", "scratch", "passthrough:/srv/data". */
  backend: string;
  /** The per-volume scratch directory, deleted on unpublish. */
  scratchDir?: string;
  daemon: DaemonRef;
  /** podInfoOnMount values (namespace, pod, uid, service account, ephemeral), kept for telemetry labels. */
  labels: Record<string, string>;
  publishedAt: string;
}

export interface State {
  get(volumeId: string): VolumeRecord | undefined;
  byTarget(targetPath: string): VolumeRecord | undefined;
  list(): VolumeRecord[];
  put(rec: VolumeRecord): void;
  delete(volumeId: string): void;
}

interface FileShape {
  version: 1;
  volumes: VolumeRecord[];
}

export class JsonFileState implements State {
  readonly path: string;
  private volumes = new Map<string, VolumeRecord>();

  constructor(path: string) {
    this.path = path;
    mkdirSync(dirname(path), { recursive: true });
    let text: string | undefined;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text === undefined) return;
    try {
      const doc = JSON.parse(text) as FileShape;
      for (const v of doc.volumes ?? []) this.volumes.set(v.volumeId, v);
    } catch (err) {
      // Keep the unreadable file for a human; start empty (mountinfo still
      // lets unpublish clean up whatever the lost records described).
      const aside = `${path}.corrupt-${Date.now()}`;
      renameSync(path, aside);
      log.error({ err, aside }, 'state file unreadable; moved aside, starting empty');
    }
  }

  get(volumeId: string): VolumeRecord | undefined {
    return this.volumes.get(volumeId);
  }

  byTarget(targetPath: string): VolumeRecord | undefined {
    for (const v of this.volumes.values()) if (v.targetPath === targetPath) return v;
    return undefined;
  }

  list(): VolumeRecord[] {
    return [...this.volumes.values()];
  }

  put(rec: VolumeRecord): void {
    this.volumes.set(rec.volumeId, rec);
    this.save();
  }

  delete(volumeId: string): void {
    if (this.volumes.delete(volumeId)) this.save();
  }

  private save(): void {
    const doc: FileShape = { version: 1, volumes: this.list() };
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeFileSync(fd, `${JSON.stringify(doc, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    const dir = openSync(dirname(this.path), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  }
}
