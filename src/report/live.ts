// `report --live`: record a running mount for a while. The mount must write
// spans to a trace file (--trace-file or telemetry.traces.file) and have a
// trace layer. Through the control API the trace filter is widened for the
// recording (to everything, or to --filter), the spans the file gains in the
// meantime are read, and the filter configured for the mount is put back.
import { openSync, readSync, closeSync, statSync, existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { callControl, ControlSocketError, type ControlReply } from '../control/client.ts';
import { controlSocketFor } from '../control/socket-path.ts';
import { parseTraceText, type OpRecord, type ParseStats } from './read.ts';

export class LiveError extends Error {}

export interface LiveOptions {
  mountpoint: string;
  /** Control socket; by default derived from the mountpoint as `interposer ctl` does. */
  socket?: string;
  durationMs: number;
  /** Trace filter for the recording ({} records every operation). */
  filter?: unknown;
  /** The mount's trace file, if its configured path is relative to another directory. */
  file?: string;
  /** Ends the recording early (Ctrl-C). */
  signal?: AbortSignal;
}

interface Reply {
  status: number;
  body: unknown;
}

/** A control API call whose answer is JSON when it parses as JSON, else the text. */
async function call(socket: string, method: string, path: string, body?: string): Promise<Reply> {
  let reply: ControlReply;
  try {
    reply = await callControl(socket, method, path, body);
  } catch (err) {
    // report turns a LiveError into a usage error (exit 2) that names --live.
    if (err instanceof ControlSocketError) throw new LiveError(err.message);
    throw err;
  }
  let parsed: unknown = reply.text;
  try {
    parsed = JSON.parse(reply.text);
  } catch {
    // keep the text
  }
  return { status: reply.status, body: parsed };
}

async function expectOk(socket: string, method: string, path: string, body?: string): Promise<unknown> {
  const r = await call(socket, method, path, body);
  if (r.status >= 400) {
    const msg =
      typeof r.body === 'object' && r.body !== null && 'error' in r.body ? String((r.body as { error: unknown }).error) : String(r.body);
    throw new LiveError(msg);
  }
  return r.body;
}

interface ShownConfig {
  config?: { telemetry?: { traces?: { file?: string } } };
  layers?: unknown[];
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function readFrom(path: string, offset: number): string {
  if (!existsSync(path)) return '';
  const fd = openSync(path, 'r');
  try {
    const chunks: Buffer[] = [];
    const buf = Buffer.allocUnsafe(1 << 20);
    let pos = offset;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n <= 0) break;
      chunks.push(Buffer.from(buf.subarray(0, n)));
      pos += n;
    }
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** Waits until the file stops growing (the trace layer exports in batches every 500 ms). */
async function settle(path: string): Promise<void> {
  const deadline = Date.now() + 5000;
  let last = fileSize(path);
  let stableSince = Date.now();
  while (Date.now() < deadline) {
    await sleep(100);
    const now = fileSize(path);
    if (now !== last) {
      last = now;
      stableSince = Date.now();
    } else if (Date.now() - stableSince >= 1000) return;
  }
}

export async function recordLive(o: LiveOptions): Promise<{ ops: OpRecord[]; stats: ParseStats; file: string; filter: unknown }> {
  const socket = o.socket ?? controlSocketFor(o.mountpoint);
  const shown = (await expectOk(socket, 'GET', '/v1/config')) as ShownConfig;
  const configured = o.file ?? shown.config?.telemetry?.traces?.file;
  if (!configured) {
    throw new LiveError(
      `the mount at ${o.mountpoint} has no trace file: --live reads the spans a mount writes to its trace file; mount it with --trace-file FILE (or telemetry.traces.file)`,
    );
  }
  const file = isAbsolute(configured) ? configured : resolve(configured);
  if (!existsSync(dirname(file))) {
    throw new LiveError(`the mount's trace file ${configured} is relative to the mount's working directory; give its path with --file`);
  }
  const traceLayer = (shown.layers ?? []).find((l): l is { trace: unknown } => typeof l === 'object' && l !== null && 'trace' in l);
  const restore = JSON.stringify(traceLayer?.trace ?? {});
  const filter = await expectOk(socket, 'PUT', '/v1/trace', JSON.stringify(o.filter ?? {}));
  // Spans of ops that started before the filter changed are left out by time.
  await settle(file);
  const offset = fileSize(file);
  const startUs = Date.now() * 1000;
  try {
    await sleep(o.durationMs, undefined, { signal: o.signal }).catch((err: unknown) => {
      if ((err as Error).name !== 'AbortError') throw err;
    });
  } finally {
    await expectOk(socket, 'PUT', '/v1/trace', restore);
  }
  const endUs = Date.now() * 1000;
  await settle(file);
  const stats: ParseStats = { lines: 0, malformed: 0, other: 0 };
  const ops = parseTraceText(readFrom(file, offset), stats).filter((r) => r.startUs >= startUs && r.startUs <= endUs);
  return { ops, stats, file, filter };
}
