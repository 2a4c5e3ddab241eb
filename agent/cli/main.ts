#!/usr/bin/env node
// Entry point of the `shoal` binary. The polyfill comes first: later commands load libp2p, which
// needs Promise.withResolvers on Node 20.
import '../polyfill.js'
import { main } from './shoal.js'

main(process.argv.slice(2), {
  out: (t) => { process.stdout.write(t) },
  err: (t) => { process.stderr.write(t) },
}, process.env).then((code) => { process.exitCode = code }, (err: unknown) => {
  process.stderr.write(`shoal: internal error: ${err instanceof Error ? err.stack : String(err)}\n`)
  process.exitCode = 70
})
