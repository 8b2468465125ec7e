// The client side of the control API: one HTTP request over a mount's unix
// socket. `interposer ctl` and `report --live` both talk to a mount this way.
import { http } from '../util/http.ts';

export interface ControlReply {
  status: number;
  text: string;
}

/** The control socket could not be reached (no mount there, or the request failed on the way). */
export class ControlSocketError extends Error {}

export function callControl(socket: string, method: string, path: string, body?: string): Promise<ControlReply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, method, path, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', (err: NodeJS.ErrnoException) =>
      reject(
        new ControlSocketError(
          err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
            ? `no control socket at ${socket}: is an interposer mount running there? (give --socket PATH if it uses another)`
            : `control socket ${socket}: ${err.message}`,
        ),
      ),
    );
    req.end(body);
  });
}
