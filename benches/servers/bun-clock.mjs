// CLOCK_MONOTONIC on Bun. Bun's `process.hrtime()` counts from the process's start, not from
// the clock's origin, so it cannot be compared with the load generator's stamps; libc's
// clock_gettime (through bun:ffi, glibc on Linux) reads the same clock Node and the load
// generator do.
import { dlopen, FFIType, ptr } from 'bun:ffi';

const CLOCK_MONOTONIC = 1;
const { symbols } = dlopen('libc.so.6', { clock_gettime: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 } });
const timespec = new BigInt64Array(2);
const at = ptr(timespec);

/** Microseconds on CLOCK_MONOTONIC. */
export function monoUs() {
  symbols.clock_gettime(CLOCK_MONOTONIC, at);
  return Number(timespec[0]) * 1e6 + Math.floor(Number(timespec[1]) / 1e3);
}
