// Tests drive the real addon against the fake libnvidia-ml.so.1. The fake reads the state file named
// by SHOAL_FAKE_NVML_STATE at nvmlInit and re-reads it on nvmlDeviceGetCount_v2, which the addon's
// refresh() calls: write the machine, refresh, and the next read sees it. One NVML per process, so
// each test file opens it once.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FAKE_LIBRARY, FAKE_STATE_ENV, FakeMachine } from '../../native/fake/machine.js'
import { openNvml, type Nvml } from '../../native/nvml.js'

export interface FakeNvml {
  machine: FakeMachine
  nvml: Nvml
  /** Writes the machine and refreshes handles, so the next read sees the new state. */
  apply(): void
  close(): Promise<void>
}

export function stateFile (machine: FakeMachine): { path: string, write(): void, remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-fake-nvml-'))
  const path = join(dir, 'state')
  machine.write(path)
  process.env[FAKE_STATE_ENV] = path
  return {
    path,
    write: () => machine.write(path),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  }
}

export function openFake (machine: FakeMachine = FakeMachine.preset('dgx-h100'), libraryPath = FAKE_LIBRARY): FakeNvml {
  const file = stateFile(machine)
  const nvml = openNvml({ libraryPath })
  nvml.refresh()
  return {
    machine,
    nvml,
    apply: () => { file.write(); nvml.refresh() },
    close: async () => { await nvml.close(); file.remove() },
  }
}
