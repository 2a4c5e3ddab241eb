// A typed listener list: the reader's events are few and synchronous, so Node's EventEmitter (string
// names, any payloads, an 'error' event that throws when nobody listens) buys nothing here.

export type Listener<T> = (payload: T) => void

export class TypedEmitter<Events extends object> {
  readonly #listeners = new Map<keyof Events, Set<Listener<never>>>()

  /** Returns the function that removes this listener. */
  on<K extends keyof Events> (name: K, listener: Listener<Events[K]>): () => void {
    let set = this.#listeners.get(name)
    if (set === undefined) {
      set = new Set()
      this.#listeners.set(name, set)
    }
    set.add(listener)
    return () => { set.delete(listener) }
  }

  /**
   * A listener that throws is a bug in the listener: it propagates to the caller of emit, as any
   * programmer error does (STYLE.md), rather than being swallowed here.
   */
  emit<K extends keyof Events> (name: K, payload: Events[K]): void {
    const set = this.#listeners.get(name)
    if (set === undefined) return
    for (const listener of [...set]) (listener as Listener<Events[K]>)(payload)
  }
}
