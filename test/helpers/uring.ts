// The fuse module's enable_uring parameter, switched for the length of a test
// and put back after: the kernel reads it when a mount sends INIT.
import { readFileSync, writeFileSync } from 'node:fs';

export const ENABLE_URING = '/sys/module/fuse/parameters/enable_uring';

export async function withUringParam<T>(value: 'Y' | 'N', fn: () => Promise<T>): Promise<T> {
  const before = readFileSync(ENABLE_URING, 'utf8').trim();
  writeFileSync(ENABLE_URING, value);
  try {
    return await fn();
  } finally {
    writeFileSync(ENABLE_URING, before);
  }
}
