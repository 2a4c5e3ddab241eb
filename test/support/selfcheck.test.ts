import t from 'tap'

t.test('the Promise.withResolvers polyfill is loaded before tests', async (t) => {
  const { promise, resolve } = Promise.withResolvers<number>()
  resolve(7)
  t.equal(await promise, 7)
})
