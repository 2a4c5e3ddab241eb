// Names for the level types the store passes around. level 10 does not export its sublevel class,
// so the type is taken from what `sublevel()` returns.
import type { Level } from 'level'

export type RootLevel = Level<string, unknown>

declare const root: RootLevel
/** A sublevel with string keys and values of type V. */
export type Sublevel<V> = ReturnType<typeof root.sublevel<string, V>>
