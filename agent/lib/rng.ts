// Randomness for cores: always injected, never Math.random, so a seed reproduces a run (the
// simulator) and the agent still gets real entropy (its composition root seeds from crypto).
import { randomBytes } from 'node:crypto'

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number
}

/** sfc32: small, fast, good enough statistics for jitter and peer choice; 128 bits of state. */
export function seededRng (seed: number | string): Rng {
  let h = 1779033703 ^ String(seed).length
  const text = String(seed)
  for (let i = 0; i < text.length; i++) {
    h = Math.imul(h ^ text.charCodeAt(i), 3432918353)
    h = (h << 13) | (h >>> 19)
  }
  const mix = (): number => {
    h = Math.imul(h ^ (h >>> 16), 2246822507)
    h = Math.imul(h ^ (h >>> 13), 3266489909)
    return (h ^= h >>> 16) >>> 0
  }
  let a = mix(); let b = mix(); let c = mix(); let d = mix()
  return {
    next (): number {
      a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0
      let t = (a + b) | 0
      a = b ^ (b >>> 9)
      b = (c + (c << 3)) | 0
      c = (c << 21) | (c >>> 11)
      d = (d + 1) | 0
      t = (t + d) | 0
      c = (c + t) | 0
      return (t >>> 0) / 4294967296
    },
  }
}

/** For composition roots only. */
export function systemRng (): Rng {
  return seededRng(randomBytes(16).toString('hex'))
}

/** Integer in [0, n). */
export function pick (rng: Rng, n: number): number {
  return Math.floor(rng.next() * n)
}

/** Fisher–Yates, in place. */
export function shuffle<T> (rng: Rng, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = pick(rng, i + 1)
    const t = items[i]!
    items[i] = items[j]!
    items[j] = t
  }
  return items
}
