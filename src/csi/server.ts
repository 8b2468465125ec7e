// The gRPC server on a unix socket: registers the services it is given and one
// logging interceptor (method, status, duration, request without secrets).
import { mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { log } from '../util/log.ts';
import { toStatus } from './errors.ts';
import { trimmerWhenQuiet } from '../util/heap-trim.ts';
import { performance } from '../util/clock.ts';

/** Takes the decoded request (a proto-loader object of the handler's own type) and resolves with the response. */
type Handler = (req: never) => Promise<object>;
export type ServiceImpl = Record<string, Handler>;

export interface ServiceBinding {
  definition: grpc.ServiceDefinition;
  impl: ServiceImpl;
}

/** `unix:///csi/csi.sock`, `unix:/csi/csi.sock` or `/csi/csi.sock` → the socket path. */
export function socketPath(endpoint: string): string {
  const m = /^unix:(?:\/\/)?(\/.*)$/.exec(endpoint);
  if (m) return m[1];
  if (endpoint.startsWith('/')) return endpoint;
  throw new Error(`endpoint ${endpoint}: expected unix:///path/to/csi.sock or an absolute socket path`);
}

const QUIET = new Set(['/csi.v1.Identity/Probe', '/csi.v1.Node/NodeGetCapabilities', '/csi.v1.Node/NodeGetVolumeStats']);

/** Copies a request for the log, without secrets (NodePublish secrets, service account tokens). */
function redact(req: unknown): unknown {
  if (!req || typeof req !== 'object') return req;
  const out: Record<string, unknown> = { ...(req as Record<string, unknown>) };
  if ('secrets' in out) out.secrets = Object.keys(out.secrets ?? {}).length ? '***' : {};
  const ctx = out.volume_context as Record<string, string> | undefined;
  if (ctx && 'csi.storage.k8s.io/serviceAccount.tokens' in ctx) {
    out.volume_context = { ...ctx, 'csi.storage.k8s.io/serviceAccount.tokens': '***' };
  }
  return out;
}

/** Loading the CSI protos at start and decoding calls leave freed C heap behind; it goes back after each burst. */
export const trimWhenQuiet = trimmerWhenQuiet();

const logging: grpc.ServerInterceptor = (method, call) => {
  const started = performance.now();
  let request: unknown;
  return new grpc.ServerInterceptingCall(call, {
    start: (next) =>
      next({
        onReceiveMessage: (msg, nextMsg) => {
          request = msg;
          nextMsg(msg);
        },
      }),
    sendStatus: (st, next) => {
      const entry = {
        method: method.path,
        code: grpc.status[st.code ?? grpc.status.OK],
        ms: Math.round((performance.now() - started) * 10) / 10,
        request: redact(request),
        ...(st.code ? { details: st.details } : {}),
      };
      if (st.code) log.warn(entry, 'csi call failed');
      else if (QUIET.has(method.path)) log.debug(entry, 'csi call');
      else log.info(entry, 'csi call');
      next(st);
      trimWhenQuiet();
    },
  });
};

function wrap(impl: ServiceImpl): grpc.UntypedServiceImplementation {
  const out: grpc.UntypedServiceImplementation = {};
  for (const [name, fn] of Object.entries(impl)) {
    out[name] = ((call: grpc.ServerUnaryCall<unknown, object>, cb: grpc.sendUnaryData<object>) => {
      fn(call.request as never).then(
        (res) => cb(null, res),
        (err: unknown) => {
          const st = toStatus(err);
          if (st.code === grpc.status.INTERNAL) log.error({ err }, 'csi handler failed');
          cb({ code: st.code, details: st.details });
        },
      );
    }) as grpc.UntypedHandleCall;
  }
  return out;
}

export interface CsiServer {
  path: string;
  close(): Promise<void>;
}

/** Serves `services` on the endpoint's unix socket; a stale socket file left by a dead plugin is replaced. */
export async function startServer(endpoint: string, services: ServiceBinding[]): Promise<CsiServer> {
  const path = socketPath(endpoint);
  mkdirSync(dirname(path), { recursive: true });
  rmSync(path, { force: true });
  const server = new grpc.Server({ interceptors: [logging] });
  for (const s of services) server.addService(s.definition, wrap(s.impl));
  await new Promise<number>((res, rej) =>
    server.bindAsync(`unix:${path}`, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? rej(err) : res(port))),
  );
  return {
    path,
    close: () =>
      new Promise<void>((res) => {
        const timer = setTimeout(() => server.forceShutdown(), 5000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          rmSync(path, { force: true });
          res();
        });
      }),
  };
}
