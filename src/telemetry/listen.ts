// Where a Prometheus endpoint listens, as the CLI, configs and the CSI plugin spell it.

/** `telemetry.metrics: control`: no port of its own; metrics are served on the control socket (GET /metrics). */
export const ON_CONTROL_SOCKET = 'control';

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[?([^\]]*)\]?:)?(\d+)$/.exec(listen);
  if (!m) throw new Error(`metrics address ${JSON.stringify(listen)} is not HOST:PORT; expected e.g. 127.0.0.1:9464`);
  return { host: m[1] || '127.0.0.1', port: Number(m[2]) };
}
