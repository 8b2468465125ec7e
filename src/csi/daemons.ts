// Who runs the volume daemons, as the volume manager sees it: the plugin
// itself (direct mode: the CLI, local use, no --mounter-socket), or the
// mounter (the chart). Either way the manager launches, stops and surveys
// through this interface; a record says which one started its daemon, so a
// state file written in one mode is still read right in the other.
import { log } from '../util/log.ts';
import { isAlive, spawnDaemon, stopDaemon } from './launcher.ts';
import { MounterClient, MounterUnreachable } from './mounter-client.ts';
import type { DaemonExit, ListReply } from './mounter-protocol.ts';
import type { Config } from '../config/schema.ts';
import type { DaemonRef } from './state.ts';

export interface DaemonLaunch {
  volumeId: string;
  /** The mounted /dev/fuse fd; the caller closes its copy afterwards. */
  fuseFd: number;
  /** The daemon's log, open for append and read; the caller closes it afterwards. */
  logFd: number;
  logFile: string;
  mountpoint: string;
  configDoc: Record<string, unknown>;
  /** configDoc validated (launcher.ts, LaunchOptions.config). */
  config?: Config;
}

export type DaemonStatus = { alive: true } | { alive: false; why: string };

/** One look at every daemon, taken at once so a batch of volumes costs one round trip. */
export interface DaemonSurvey {
  status(volumeId: string, d: DaemonRef): DaemonStatus;
  /** Daemons the mounter runs (a record may not claim them all); empty in direct mode, which cannot list. */
  running: { volumeId: string; pid: number; mounter: string }[];
  /** Mounter mode: whether the mounter answered. */
  mounterUp?: boolean;
}

export interface DaemonSupervisor {
  /** Starts a daemon serving `fuseFd` and resolves once it serves. */
  launch(l: DaemonLaunch): Promise<DaemonRef>;
  /**
   * Ends a volume's daemon after its mount is gone: it usually exits by
   * itself; then SIGTERM, then SIGKILL. Without `d`, whatever the mounter
   * runs for the volume (cleanup after a failed launch).
   */
  stop(volumeId: string, d?: DaemonRef): Promise<void>;
  survey(): Promise<DaemonSurvey>;
  /** Waits (bounded) until whoever runs the daemons can answer; false if it never did. */
  ready(timeoutMs: number): Promise<boolean>;
}

const NOT_RUNNING = 'is not running';

/** A daemon the plugin started itself, checked through /proc: pid and start time. */
function directStatus(d: DaemonRef): DaemonStatus {
  return isAlive(d) ? { alive: true } : { alive: false, why: `the interposer daemon (pid ${d.pid}) ${NOT_RUNNING}` };
}

/** The plugin spawns and owns the daemons (detached, so they outlive the plugin's process but not its container). */
export function directDaemons(): DaemonSupervisor {
  return {
    async launch(l) {
      const started = await spawnDaemon({
        fd: l.fuseFd,
        logFd: l.logFd,
        mountpoint: l.mountpoint,
        configDoc: l.configDoc,
        config: l.config,
        exitWithParent: false,
      });
      return { pid: started.pid, startTime: started.startTime, logFile: l.logFile };
    },
    async stop(volumeId, d) {
      if (!d) return;
      if (d.mounter !== undefined) {
        log.warn(
          { volumeId, daemon: d.pid },
          'this daemon was started by a mounter and this plugin has no --mounter-socket; not stopping it',
        );
        return;
      }
      await stopDaemon(d);
    },
    async survey() {
      return {
        running: [],
        status: (_id, d) =>
          d.mounter === undefined
            ? directStatus(d)
            : {
                alive: false,
                why: `the interposer daemon (pid ${d.pid}) was started by a mounter, and this plugin has no --mounter-socket to ask whether it runs`,
              },
      };
    },
    ready: async () => true,
  };
}

/** The mounter spawns and owns the daemons; the plugin asks it, never /proc (the mounter may be in another PID namespace). */
export function mounterDaemons(socket: string): DaemonSupervisor {
  const client = new MounterClient(socket);
  return {
    async launch(l) {
      const reply = await client.launch(
        { volumeId: l.volumeId, mountpoint: l.mountpoint, configDoc: l.configDoc, ...(l.config ? { config: l.config } : {}) },
        l.fuseFd,
        l.logFd,
      );
      return { pid: reply.daemon.pid, startTime: reply.daemon.startTime, logFile: l.logFile, mounter: reply.instance };
    },
    async stop(volumeId, d) {
      if (d && d.mounter === undefined) return stopDaemon(d); // started by this plugin before it had a mounter
      try {
        const list = await client.list();
        // A daemon of an earlier mounter instance ended with it; a pid of this instance may be a new daemon for the volume.
        if (d && d.mounter !== list.instance) return;
        await client.stop({ volumeId, ...(d ? { pid: d.pid } : {}) });
      } catch (err) {
        if (err instanceof MounterUnreachable) return; // its daemons ended with it
        throw err;
      }
    },
    async survey() {
      let list: ListReply | undefined;
      let unreachable = '';
      try {
        list = await client.list();
      } catch (err) {
        unreachable = err instanceof Error ? err.message : String(err);
      }
      return {
        mounterUp: list !== undefined,
        running: list?.daemons.map((d) => ({ volumeId: d.volumeId, pid: d.pid, mounter: list.instance })) ?? [],
        status(volumeId, d) {
          if (d.mounter === undefined) return directStatus(d);
          const dead = `the interposer daemon (pid ${d.pid}) ${NOT_RUNNING}`;
          if (!list) return { alive: false, why: `${dead}: ${unreachable}, and daemons end with their mounter` };
          if (list.instance !== d.mounter)
            return { alive: false, why: `${dead}: the mounter that ran it has restarted, and its daemons ended with it` };
          if (list.daemons.some((r) => r.volumeId === volumeId && r.pid === d.pid)) return { alive: true };
          const exit = lastExit(list.exits, volumeId, d.pid);
          return { alive: false, why: exit ? `${dead} (${exit})` : dead };
        },
      };
    },
    async ready(timeoutMs) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        try {
          await client.list();
          return true;
        } catch (err) {
          if (Date.now() > until) {
            log.warn({ socket, err: (err as Error).message }, 'the mounter does not answer; volumes it ran read as dead');
            return false;
          }
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    },
  };
}

function lastExit(exits: DaemonExit[], volumeId: string, pid: number): string | undefined {
  const e = exits.findLast((x) => x.volumeId === volumeId && x.pid === pid);
  if (!e) return undefined;
  return e.signal ? `killed by ${e.signal}` : `exited with status ${e.code}`;
}
