// Terms: Raft's logical clock and Shoal's fencing token (Kleppmann 2016; reference/mesh.md §4).
// Every node persists the highest term it has seen; a command, renew, vote request or announce
// carrying a lower term comes from a coordinator (or candidate) that has been superseded, and is
// refused. A coordinator that was cut off and still believes in itself is harmless: whatever it
// sends carries the old term and every node that has seen the new one refuses it.

/**
 * The largest term accepted: 2^40, 35,000 years of one election a second, and small enough that
 * term × EPOCH_TERM_STRIDE (council.ts) stays an exact double. A peer sending more is malformed.
 */
export const MAX_TERM = 2 ** 40

/** Sequence numbers and epochs are whole numbers on the wire (proto doubles): anything else is malformed. */
export function isWireNumber (n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0
}

export function isWireTerm (n: number): boolean {
  return isWireNumber(n) && n <= MAX_TERM
}

/** Fencing: a message or command from `term` must be refused by a node that has seen `highest`. */
export function isStaleTerm (term: number, highest: number): boolean {
  return term < highest
}
