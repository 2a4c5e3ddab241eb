// Invariants, TigerBeetle style: a core that finds the impossible stops loudly rather than carry a
// corrupt state into a verdict. Not for input validation: bad input gets a named error instead.

export class AssertionError extends Error {
  override name = 'AssertionError'
}

export function assert (condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message)
}
