// Node 20 lacks Promise.withResolvers (Node 22+), which libp2p 3 uses from its first peer-store
// write (reference/dependencies.md pitfall 1). Loaded before anything else by tap's node-arg and
// by every entry point (its first import).
export {}

// Typed loosely: the ES2023 lib this project compiles against does not declare withResolvers.
if (typeof (Promise as { withResolvers?: unknown }).withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers (this: PromiseConstructor) {
      let resolve: ((value: unknown) => void) | undefined
      let reject: ((reason?: unknown) => void) | undefined
      const promise = new this((res, rej) => { resolve = res; reject = rej })
      return { promise, resolve, reject }
    },
  })
}
