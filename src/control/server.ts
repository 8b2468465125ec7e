// The control API: HTTP + JSON on a unix socket, one route per controller
// action. Errors answer with a status and {"error": "..."}.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError, parseConfigDoc } from '../config/load.ts';
import { parseDuration } from '../config/units.ts';
import { ControlError, type Controller } from './controller.ts';
import { scrapeHandler } from '../telemetry/running.ts';
import { http } from '../util/http.ts';

const MAX_BODY = 1 << 20;

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > MAX_BODY) reject(new ControlError(413, 'request body larger than 1 MiB'));
    });
    req.on('end', () => resolve(text));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, value: unknown): void {
  const text = `${JSON.stringify(value, null, 2)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

type Route = (c: Controller, url: URL, req: IncomingMessage) => Promise<unknown> | unknown;

const routes: Record<string, Route> = {
  'GET /v1/config': (c) => c.show(),
  'PUT /v1/config': async (c, _u, req) => {
    c.replace(parseConfigDoc(await body(req), 'new config'));
    return { ok: true };
  },
  'GET /v1/rules': (c) => c.rules(),
  'POST /v1/rules': async (c, _u, req) => {
    const doc = parseConfigDoc(await body(req), 'rule') as { layer?: number | string; rule?: unknown; ttl?: string | number };
    if (typeof doc?.rule === 'string') doc.rule = parseConfigDoc(doc.rule, 'rule');
    if (doc?.layer === undefined || typeof doc.rule !== 'object' || doc.rule === null) {
      throw new ControlError(400, 'expected {"layer": <index or kind>, "rule": {...}, "ttl": "30s"?}');
    }
    const ttl = doc.ttl === undefined ? undefined : parseDuration(doc.ttl);
    if (ttl === null) throw new ControlError(400, `ttl ${JSON.stringify(doc.ttl)} is not a duration; expected e.g. 30s`);
    return { name: c.addRule(doc.layer, doc.rule as Record<string, unknown>, ttl) };
  },
  'DELETE /v1/rules': (c, url) => {
    c.removeRule(url.searchParams.get('name') ?? '');
    return { ok: true };
  },
  'POST /v1/crash': (c) => c.crash(),
  'PUT /v1/trace': async (c, _u, req) => c.setTraceFilter(parseConfigDoc(await body(req), 'trace filter')),
  'POST /v1/pause': (c) => (c.setPaused(true), { paused: true }),
  'POST /v1/resume': (c) => (c.setPaused(false), { paused: false }),
  'GET /v1/wait': (c, url) => {
    const name = url.searchParams.get('rule') ?? '';
    const fired = url.searchParams.get('fired') ?? '1';
    const count = /^\d+$/.test(fired) ? Number(fired) : NaN;
    if (!(count >= 1)) throw new ControlError(400, `fired ${JSON.stringify(fired)} is not a count; expected a whole number of at least 1`);
    const within = url.searchParams.get('timeout') ?? '30s';
    const timeout = parseDuration(within);
    if (timeout === null) throw new ControlError(400, `timeout ${JSON.stringify(within)} is not a duration; expected e.g. 30s`);
    return c.waitFired(name, count, timeout);
  },
};

export async function startControlServer(controller: Controller, socketPath: string): Promise<Server> {
  mkdirSync(dirname(socketPath), { recursive: true, mode: 0o700 });
  rmSync(socketPath, { force: true });
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://interposer');
    if (req.method === 'GET' && url.pathname === '/metrics') {
      const handler = scrapeHandler();
      return handler ? handler(req, res) : send(res, 404, { error: 'metrics are off for this mount (telemetry.metrics)' });
    }
    const route = routes[`${req.method} ${url.pathname}`];
    if (!route) return send(res, 404, { error: `no route ${req.method} ${url.pathname}; see interposer ctl --help` });
    Promise.resolve()
      .then(() => route(controller, url, req))
      .then(
        (value) => send(res, 200, value),
        (err: unknown) => {
          if (err instanceof ControlError) send(res, err.status, { error: err.message });
          else if (err instanceof ConfigError) send(res, 400, { error: err.message });
          else send(res, 500, { error: String(err) });
        },
      );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, resolve);
  });
  chmodSync(socketPath, 0o600);
  server.unref();
  return server;
}
