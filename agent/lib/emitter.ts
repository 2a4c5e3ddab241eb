// A typed event emitter: `noun:verb` event names mapped to their payload type, so a listener for
// 'gpu:event' gets a GpuEvent and a typo is a compile error. Node's EventEmitter (string names, any
// payloads, an 'error' event that throws when nobody listens) buys nothing for these few synchronous
// events. Listener errors are not caught: an exception in a listener is a bug and surfaces in the
// caller of emit, as any programmer error does.
export class TypedEmitter<Events extends object> {
  readonly #listeners = new Map<keyof Events, Set<(payload: never) => void>>()

  /** Returns the function that removes this listener. */
  on<K extends keyof Events> (name: K, listener: (payload: Events[K]) => void): () => void {
    let set = this.#listeners.get(name)
    if (set === undefined) {
      set = new Set()
      this.#listeners.set(name, set)
    }
    set.add(listener as (payload: never) => void)
    return () => { set.delete(listener as (payload: never) => void) }
  }

  protected emit<K extends keyof Events> (name: K, payload: Events[K]): void {
    const set = this.#listeners.get(name)
    if (set === undefined) return
    for (const listener of [...set]) (listener as (p: Events[K]) => void)(payload)
  }
}
