// What the plugin and the mounter say to each other over the mounter's unix
// socket: one connection per request, the request as one line of JSON (a
// launch carries the /dev/fuse fd and the log fd as SCM_RIGHTS on its first
// bytes), the reply as one line of JSON. Both sides parse with the functions
// here, so a bad message fails with the field that was wrong and what was
// expected.

/** Start a daemon serving the attached /dev/fuse fd, its output going to the attached log fd. */
export interface LaunchRequest {
  op: 'launch';
  volumeId: string;
  /** The target path: labels, the control socket's name, and the daemon's own log lines. */
  mountpoint: string;
  /** The volume's configuration document: the layers as written, for the control API. */
  configDoc: Record<string, unknown>;
  /** That document as the plugin validated it, handed to the daemon as is (launcher.ts); without it the daemon validates. */
  config?: Record<string, unknown>;
}

/**
 * End a volume's daemon (its mount is gone): wait `graceMs` for it to exit by
 * itself, then SIGTERM, then SIGKILL. With `pid`, only that daemon.
 */
export interface StopRequest {
  op: 'stop';
  volumeId: string;
  pid?: number;
  graceMs?: number;
}

/** Every live daemon and the recent exits. */
export interface ListRequest {
  op: 'list';
}

export type MounterRequest = LaunchRequest | StopRequest | ListRequest;

/** The fds a launch carries, in this order. */
export const LAUNCH_FDS = ['the mounted /dev/fuse fd', 'the daemon log fd'] as const;

export interface RunningDaemon {
  volumeId: string;
  pid: number;
  /** Field 22 of /proc/PID/stat in the mounter's PID namespace. */
  startTime: string;
  mountpoint: string;
  startedAt: string;
}

export interface DaemonExit {
  volumeId: string;
  pid: number;
  code: number | null;
  signal: string | null;
  at: string;
}

/** Every reply names the mounter instance: a restarted mounter has a new one, and none of the old daemons. */
interface Answer {
  ok: true;
  instance: string;
}
export interface LaunchReply extends Answer {
  daemon: { pid: number; startTime: string };
}
export interface StopReply extends Answer {
  /** Whether a daemon was running for the volume (and now is not). */
  stopped: boolean;
  exit?: Pick<DaemonExit, 'code' | 'signal'>;
}
export interface ListReply extends Answer {
  pid: number;
  startedAt: string;
  daemons: RunningDaemon[];
  /** The most recent daemon exits, newest last (bounded), so a volume's condition can say how its daemon ended. */
  exits: DaemonExit[];
}
export interface Refusal {
  ok: false;
  error: string;
}

export type ReplyTo<R extends MounterRequest> = R extends LaunchRequest ? LaunchReply : R extends StopRequest ? StopReply : ListReply;

/** Longest request or reply line accepted: a volume's config comes from volumeAttributes, which Kubernetes caps far below this. */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

export class MounterProtocolError extends Error {
  override name = 'MounterProtocolError';
}

const OPS = ['launch', 'stop', 'list'];

function object(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new MounterProtocolError(`${what}: expected a JSON object`);
  return v as Record<string, unknown>;
}

function text(o: Record<string, unknown>, field: string, op: string): string {
  const v = o[field];
  if (typeof v !== 'string' || v === '')
    throw new MounterProtocolError(`${op}: ${field} must be a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

function count(o: Record<string, unknown>, field: string, op: string): number | undefined {
  const v = o[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
    throw new MounterProtocolError(`${op}: ${field} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return v;
}

/** A request line and the number of fds that came with it → the request, or a MounterProtocolError saying what was wrong. */
export function parseRequest(line: string, fds: number): MounterRequest {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (err) {
    throw new MounterProtocolError(`request is not valid JSON: ${(err as Error).message}`);
  }
  const o = object(raw, 'request');
  const op = o.op;
  if (typeof op !== 'string' || !OPS.includes(op))
    throw new MounterProtocolError(`request op ${JSON.stringify(op)} is not known; expected one of ${OPS.join(', ')}`);
  const wantFds = op === 'launch' ? LAUNCH_FDS.length : 0;
  if (fds !== wantFds) {
    throw new MounterProtocolError(
      op === 'launch'
        ? `launch: expected ${wantFds} fds (${LAUNCH_FDS.join(', then ')}) attached, got ${fds}`
        : `${op}: expected no fds attached, got ${fds}`,
    );
  }
  switch (op) {
    case 'launch':
      return {
        op,
        volumeId: text(o, 'volumeId', op),
        mountpoint: absolute(text(o, 'mountpoint', op), op),
        configDoc: object(o.configDoc, 'launch: configDoc'),
        ...(o.config !== undefined ? { config: object(o.config, 'launch: config') } : {}),
      };
    case 'stop': {
      const pid = count(o, 'pid', op);
      const graceMs = count(o, 'graceMs', op);
      return {
        op,
        volumeId: text(o, 'volumeId', op),
        ...(pid !== undefined ? { pid } : {}),
        ...(graceMs !== undefined ? { graceMs } : {}),
      };
    }
    default:
      return { op: 'list' };
  }
}

function absolute(path: string, op: string): string {
  if (!path.startsWith('/')) throw new MounterProtocolError(`${op}: mountpoint must be an absolute path, got ${JSON.stringify(path)}`);
  return path;
}

/** A reply line → the reply to `op`; a refusal becomes a MounterProtocolError carrying the mounter's message. */
export function parseReply<R extends MounterRequest>(line: string, op: R['op']): ReplyTo<R> {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (err) {
    throw new MounterProtocolError(`the mounter's reply to ${op} is not valid JSON: ${(err as Error).message}`);
  }
  const o = object(raw, `the mounter's reply to ${op}`);
  if (o.ok === false) throw new MounterProtocolError(`the mounter refused ${op}: ${String(o.error)}`);
  if (o.ok !== true || typeof o.instance !== 'string')
    throw new MounterProtocolError(`the mounter's reply to ${op} lacks ok: true and an instance id`);
  const shape: Record<MounterRequest['op'], string> = { launch: 'daemon', stop: 'stopped', list: 'daemons' };
  if (!(shape[op] in o)) throw new MounterProtocolError(`the mounter's reply to ${op} lacks ${shape[op]}`);
  return o as unknown as ReplyTo<R>;
}
