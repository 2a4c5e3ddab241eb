// Time for drivers: always passed in, never read ambiently, so tests and the simulator drive it.
// The system implementations are for composition roots only.
export interface WallClock {
  /** Wall clock, ms since the epoch. */
  wallMs(): number
}

export interface Timers {
  setInterval(fn: () => void, ms: number): unknown
  clearInterval(handle: unknown): void
}

export const systemWallClock: WallClock = { wallMs: () => Date.now() }

export const systemTimers: Timers = {
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (handle) => { clearInterval(handle as ReturnType<typeof setInterval>) },
}

/** One-shot timers, for drivers that wake a core at its `nextWakeAt`. */
export interface Alarm {
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

export const systemAlarm: Alarm = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => { clearTimeout(handle as ReturnType<typeof setTimeout>) },
}
