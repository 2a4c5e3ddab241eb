import t from 'tap'

// libp2p 3 calls Promise.withResolvers, which Node 20 lacks; tap's node-arg loads agent/polyfill.ts.
t.test('the Promise.withResolvers polyfill is loaded before tests', async (t) => {
  const P = Promise as unknown as { withResolvers<T>(): { promise: Promise<T>, resolve(v: T): void } }
  t.type(P.withResolvers, 'function')
  const { promise, resolve } = P.withResolvers<number>()
  resolve(7)
  t.equal(await promise, 7)
})
