// Node 20 lacks Promise.withResolvers (Node 22+), which libp2p 3 uses from its first peer-store
// write (reference/dependencies.md pitfall 1). Loaded before anything else by tap's node-arg and
// by every entry point (agent/polyfill.ts imports this file first).
if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers () {
      let resolve
      let reject
      const promise = new this((res, rej) => { resolve = res; reject = rej })
      return { promise, resolve, reject }
    },
  })
}
