// Where a Prometheus endpoint listens, as the CLI, configs and the CSI plugin spell it.
import { ConfigError } from '../config/load.ts';

/** `telemetry.metrics: control`: no port of its own; metrics are served on the control socket (GET /metrics). */
export const ON_CONTROL_SOCKET = 'control';

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[?([^\]]*)\]?:)?(\d+)$/.exec(listen);
  if (!m || !isPort(Number(m[2]))) {
    throw new ConfigError(
      `metrics address ${JSON.stringify(listen)} is not HOST:PORT; expected e.g. 127.0.0.1:9464 (a port from 1 to 65535)`,
    );
  }
  return { host: m[1] || '127.0.0.1', port: Number(m[2]) };
}

/** The error of a metrics endpoint that could not listen, as the user should read it. */
export function listenError(listen: string, err: NodeJS.ErrnoException): ConfigError {
  return new ConfigError(
    `cannot serve metrics on ${listen}: ${err.code ?? err.message}; expected an address of this machine and a port nothing else listens on`,
  );
}

export function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}
