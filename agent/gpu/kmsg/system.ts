// The real clock, timer and file system for the kmsg reader, for the composition root. Tests and
// the simulator pass their own; nothing else in kmsg/ touches ambient time or node:fs directly.
import * as fs from 'node:fs'
import type { KmsgClock, KmsgFs, PollTimer } from './reader.js'

export const systemKmsgClock: KmsgClock = {
  wallMs: () => Date.now(),
  // process.hrtime is CLOCK_MONOTONIC on Linux, the clock printk stamps records with (local_clock
  // tracks it closely; both stop during suspend), so their difference is the record's age.
  monotonicUs: () => Number(process.hrtime.bigint() / 1000n),
}

export const systemPollTimer: PollTimer = {
  setInterval: (callback, ms) => setInterval(callback, ms),
  clearInterval: (handle) => { clearInterval(handle as ReturnType<typeof setInterval>) },
}

export const systemKmsgFs: KmsgFs = {
  openSync: (path, flags) => fs.openSync(path, flags),
  fstatSync: (fd) => fs.fstatSync(fd),
  readSync: (fd, buffer) => fs.readSync(fd, buffer, 0, buffer.length, null),
  closeSync: (fd) => { fs.closeSync(fd) },
}
