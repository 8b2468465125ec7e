// Errors that already carry their gRPC status code, so handlers and the state
// store throw them and the server passes them through unwrapped (as
// csi-driver-host-path's state package does). Anything else becomes INTERNAL.
import { status } from '@grpc/grpc-js';

export class CsiError extends Error {
  override name = 'CsiError';
  readonly code: status;
  constructor(code: status, message: string) {
    super(message);
    this.code = code;
  }
}

export const invalidArgument = (msg: string): CsiError => new CsiError(status.INVALID_ARGUMENT, msg);
export const notFound = (msg: string): CsiError => new CsiError(status.NOT_FOUND, msg);
export const alreadyExists = (msg: string): CsiError => new CsiError(status.ALREADY_EXISTS, msg);
export const aborted = (msg: string): CsiError => new CsiError(status.ABORTED, msg);
export const failedPrecondition = (msg: string): CsiError => new CsiError(status.FAILED_PRECONDITION, msg);
export const internal = (msg: string): CsiError => new CsiError(status.INTERNAL, msg);

/** The status a thrown value maps to: a CsiError keeps its code, anything else is INTERNAL. */
export function toStatus(err: unknown): { code: status; details: string } {
  if (err instanceof CsiError) return { code: err.code, details: err.message };
  return { code: status.INTERNAL, details: err instanceof Error ? err.message : String(err) };
}
