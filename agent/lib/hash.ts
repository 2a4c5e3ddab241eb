// FNV-1a, 32 bits: a fast, stable, non-cryptographic hash for ids and digests that peers compare.
export function fnv1a (text: string, seed = 0x811c9dc5, prime = 0x01000193): number {
  let h = seed >>> 0
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), prime) >>> 0
  return h
}
