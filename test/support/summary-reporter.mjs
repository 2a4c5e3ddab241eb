// tap reporter: CI reads only a closing line "N passed, N failed[, N skipped]" (tap prints none of
// its own, reference/dependencies.md pitfall 6). tap pipes the raw TAP stream of the whole run into
// this Transform; we parse it with tap-parser, print one line per test file, the full diagnostics of
// every failure, and the closing line. Leaf asserts are counted once: a subtest's summary point is
// not an assert of its own. A file that crashes without a failing assert still counts as a failure.
import { Transform } from 'node:stream'
import { Parser } from 'tap-parser'

export default class SummaryReporter extends Transform {
  constructor () {
    super()
    this.counts = { pass: 0, fail: 0, skip: 0, todo: 0 }
    this.failures = []
    this.parser = new Parser({ passes: true })
    this.files = new Map()
    this.parser.on('child', (file) => this.watchFile(file))
    this.parser.on('assert', (res) => this.fileDone(res))
    this.parser.on('complete', () => this.finish())
  }

  watchFile (file) {
    const name = file.name
    const before = { ...this.counts }
    // A subtest's summary point arrives in its parent right after the child parser of the same name.
    const leaves = (parser, path) => {
      const children = new Set()
      parser.on('child', (child) => { children.add(child.name); leaves(child, [...path, child.name]) })
      parser.on('assert', (res) => {
        if (children.has(res.name)) return
        if (res.skip) this.counts.skip++
        else if (res.todo) this.counts.todo++
        else if (res.ok) this.counts.pass++
        else {
          this.counts.fail++
          this.failures.push({ path: [...path, res.name], diag: res.diag })
        }
      })
    }
    leaves(file, [name])
    this.files.set(name, before)
  }

  // The root's summary point for a file says whether the file as a whole passed: a file that
  // crashed before its first assert (an import error, a signal) is "not ok" here and nowhere else.
  fileDone (res) {
    const before = this.files.get(res.name) ?? this.counts
    const failed = this.counts.fail - before.fail
    const crashed = !res.ok && !res.skip && failed === 0
    if (crashed) {
      this.counts.fail++
      const d = res.diag ?? {}
      this.failures.push({ path: [res.name], diag: { message: 'test file failed without a failing assert (crash, timeout or bailout)', exitCode: d.exitCode, signal: d.signal } })
    }
    const passed = this.counts.pass - before.pass
    const status = failed > 0 || crashed ? 'FAIL' : 'ok  '
    this.push(`${status} ${res.name} (${passed} passed${failed ? `, ${failed} failed` : ''}${crashed ? ', crashed' : ''})\n`)
  }

  finish () {
    for (const f of this.failures) {
      this.push(`\nnot ok: ${f.path.filter(Boolean).join(' > ')}\n`)
      if (f.diag) {
        for (const [k, v] of Object.entries(f.diag)) {
          if (k === 'stack' || k === 'at' || k === 'source') continue
          this.push(`  ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}\n`)
        }
        if (f.diag.at) this.push(`  at: ${JSON.stringify(f.diag.at)}\n`)
      }
    }
    const skipped = this.counts.skip + this.counts.todo
    this.push(`\n${this.counts.pass} passed, ${this.counts.fail} failed${skipped ? `, ${skipped} skipped` : ''}\n`)
  }

  _transform (chunk, _enc, cb) {
    this.parser.write(chunk)
    cb()
  }

  _flush (cb) {
    this.parser.end()
    cb()
  }
}
