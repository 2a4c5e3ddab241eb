// Bounded polling, for drivers and tests that watch something outside the process (agent
// processes, sockets, a real network) where no event says "done". Never unbounded.
/** Polls `check` every `everyMs` until it holds or `timeoutMs` passes (then throws, naming `what`). */
export async function waitUntil (what: string, check: () => Promise<boolean> | boolean, o: { timeoutMs: number, everyMs?: number }): Promise<number> {
  const start = Date.now()
  for (;;) {
    if (await check()) return Date.now() - start
    if (Date.now() - start > o.timeoutMs) throw new Error(`timed out after ${o.timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, o.everyMs ?? 100))
  }
}
