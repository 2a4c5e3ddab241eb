// Runs async tasks one at a time, in call order. The journal uses it so that concurrent appends
// never read the same lastSeq, and a prune never interleaves with an append.
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve()

  /** Queues `task`; a failed task rejects only its own caller, the queue goes on. */
  run<T> (task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(task)
    this.#tail = result.catch(() => undefined)
    return result
  }

  /** Resolves once every task queued so far has settled. */
  async idle (): Promise<void> {
    await this.#tail
  }
}
