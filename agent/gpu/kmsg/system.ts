// The real clock and file system for the kmsg reader, for the composition root (its timer is
// agent/lib/time.ts's systemTimers). Tests and the simulator pass their own; nothing else in kmsg/
// touches ambient time or node:fs directly.
import * as fs from 'node:fs'
import { systemWallClock } from '../../lib/time.js'
import type { KmsgClock, KmsgFs } from './reader.js'

export const systemKmsgClock: KmsgClock = {
  ...systemWallClock,
  // process.hrtime is CLOCK_MONOTONIC on Linux, the clock printk stamps records with (local_clock
  // tracks it closely; both stop during suspend), so their difference is the record's age.
  monotonicUs: () => Number(process.hrtime.bigint() / 1000n),
}

export const systemKmsgFs: KmsgFs = {
  openSync: (path, flags) => fs.openSync(path, flags),
  fstatSync: (fd) => fs.fstatSync(fd),
  readSync: (fd, buffer) => fs.readSync(fd, buffer, 0, buffer.length, null),
  closeSync: (fd) => { fs.closeSync(fd) },
}
