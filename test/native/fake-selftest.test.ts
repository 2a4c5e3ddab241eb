// The fake library's own C self-check (native/fake/selftest.c), against both builds, and the
// generated symbol table is current with the NVML reference.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { FAKE_LIBRARY, FAKE_OLD_DRIVER_LIBRARY, OLD_DRIVER_MISSING_SYMBOLS } from '../../native/fake/machine.js'

const selftest = join(FAKE_LIBRARY, '..', 'selftest')

// The selftest is told which symbols must be missing: none on the full build.
const builds: Array<[string, string, readonly string[]]> = [
  ['full', FAKE_LIBRARY, []],
  ['old driver', FAKE_OLD_DRIVER_LIBRARY, OLD_DRIVER_MISSING_SYMBOLS],
]
for (const [name, lib, missing] of builds) {
  t.test(`selftest: ${name} library`, async (t) => {
    const out = execFileSync(selftest, [lib, ...missing], { encoding: 'utf8', env: { ...process.env, SHOAL_FAKE_NVML_STATE: '' } })
    t.match(out, /selftest: ok/)
  })
}

t.test('the generated NVML symbol table matches the reference', async (t) => {
  const header = readFileSync('native/src/nvml_symbols.h', 'utf8')
  t.match(header, /X\(nvmlReturn_t, nvmlDeviceGetRetiredPages_v2, \(nvmlDevice_t device, nvmlPageRetirementCause_t cause, unsigned int \*pageCount, unsigned long long \*addresses, unsigned long long \*timestamps\), 0\)/,
    'a "(..., x)" prototype expands from its base call')
  t.match(header, /X\(const char\*, nvmlErrorString, \(nvmlReturn_t result\), 1\)/)
  if (!existsSync(join('..', 'shared', 'reference', 'nvml.md'))) {
    t.comment('../shared/reference/nvml.md absent: freshness not checkable here')
    return
  }
  const out = execFileSync(process.execPath, ['native/gen/symbols.mjs', '--check'], { encoding: 'utf8' })
  t.equal(out, '', 'no stale file reported')
})
