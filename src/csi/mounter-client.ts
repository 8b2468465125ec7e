// The plugin's side of the mounter socket (mounter-protocol.ts): one
// connection per request. Connecting and sending are synchronous and bounded
// (the request is small, the mounter accepts at once); the reply is read by
// node:net, so waiting for a daemon to start never blocks the event loop.
import { Socket } from 'node:net';
import * as sys from '../sys/libc.ts';
import { connectUnix, sendWithFds } from '../sys/socket.ts';
import { errnoName } from '../vfs/errors.ts';
import { READY_TIMEOUT_MS } from './launcher.ts';
import {
  MAX_MESSAGE_BYTES,
  MounterProtocolError,
  parseReply,
  type LaunchRequest,
  type ListReply,
  type LaunchReply,
  type MounterRequest,
  type ReplyTo,
  type StopReply,
  type StopRequest,
} from './mounter-protocol.ts';

/** Nobody answers on the socket: the mounter is not running (and so neither is any daemon it started). */
export class MounterUnreachable extends Error {
  override name = 'MounterUnreachable';
  readonly errno: string;
  constructor(socket: string, errno: string) {
    super(`the mounter at ${socket} is not reachable (${errno})`);
    this.errno = errno;
  }
}

const CONNECT_TIMEOUT_MS = 5000;
const LIST_TIMEOUT_MS = 5000;
/** A launch waits for the daemon to serve; the mounter gives up on it first. */
const LAUNCH_TIMEOUT_MS = READY_TIMEOUT_MS + 5000;
/** A stop waits for the grace period, SIGTERM's wait and SIGKILL. */
const STOP_MARGIN_MS = 10_000;

export class MounterClient {
  readonly socket: string;

  constructor(socket: string) {
    this.socket = socket;
  }

  /** Hands `fuseFd` and `logFd` (the caller keeps and closes its own copies) to a new daemon. */
  launch(req: Omit<LaunchRequest, 'op'>, fuseFd: number, logFd: number): Promise<LaunchReply> {
    return this.call({ op: 'launch', ...req }, [fuseFd, logFd], LAUNCH_TIMEOUT_MS);
  }

  stop(req: Omit<StopRequest, 'op'>): Promise<StopReply> {
    return this.call({ op: 'stop', ...req }, [], (req.graceMs ?? 2000) + STOP_MARGIN_MS);
  }

  list(): Promise<ListReply> {
    return this.call({ op: 'list' }, [], LIST_TIMEOUT_MS);
  }

  private async call<R extends MounterRequest>(req: R, fds: number[], timeoutMs: number): Promise<ReplyTo<R>> {
    const fd = connectUnix(this.socket, CONNECT_TIMEOUT_MS);
    if (fd < 0) throw new MounterUnreachable(this.socket, errnoName(-fd));
    let sock: Socket;
    try {
      send(fd, Buffer.from(`${JSON.stringify(req)}\n`), fds, req.op);
      sock = new Socket({ fd, readable: true, writable: false });
    } catch (err) {
      sys.close(fd);
      throw err;
    }
    return parseReply<R>(await readLine(sock, timeoutMs, `${req.op} from the mounter at ${this.socket}`), req.op);
  }
}

/** The whole payload, the fds riding on its first bytes. */
function send(fd: number, payload: Buffer, fds: number[], op: string): void {
  let sent = 0;
  while (sent < payload.length) {
    const n = sendWithFds(fd, payload.subarray(sent), sent === 0 ? fds : []);
    if (n < 0) throw new MounterProtocolError(`sending the ${op} request to the mounter failed: ${errnoName(-n)}`);
    sent += n;
  }
}

function readLine(sock: Socket, timeoutMs: number, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const finish = (err: Error | null, line?: string): void => {
      sock.destroy();
      if (err) reject(err);
      else resolve(line!);
    };
    sock.setEncoding('utf8');
    sock.setTimeout(timeoutMs, () => finish(new MounterProtocolError(`no answer to ${what} within ${timeoutMs / 1000}s`)));
    sock.on('data', (chunk: string) => {
      text += chunk;
      const end = text.indexOf('\n');
      if (end >= 0) finish(null, text.slice(0, end));
      else if (text.length > MAX_MESSAGE_BYTES)
        finish(new MounterProtocolError(`the answer to ${what} is longer than ${MAX_MESSAGE_BYTES} bytes`));
    });
    sock.on('end', () => finish(new MounterProtocolError(`the connection closed without an answer to ${what}`)));
    sock.on('error', (err) => finish(new MounterProtocolError(`reading the answer to ${what} failed: ${err.message}`)));
  });
}
