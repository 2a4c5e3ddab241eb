// The four ways NVML can be unusable, each a typed error with a message an operator can act on,
// and an older driver that lacks newer symbols: it loads, and each missing call degrades one signal.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { FakeMachine, FAKE_LIBRARY, OLD_DRIVER_MISSING_SYMBOLS } from '../../native/fake/machine.js'
import { NvmlLoadError, openNvml, nvmlReturnName } from '../../native/nvml.js'
import { stateFile } from '../support/fake-nvml.js'

t.test('no driver: library-missing, naming the library', async (t) => {
  const err = t.throws(() => openNvml({ libraryPath: '/nonexistent/libnvidia-ml.so.1' })) as NvmlLoadError
  t.type(err, NvmlLoadError)
  t.equal(err.reason, 'library-missing')
  t.match(err.message, /no NVIDIA driver found: cannot load \/nonexistent\/libnvidia-ml\.so\.1/)
})

t.test('a library that is not NVML: not-nvml, naming the missing symbol', async (t) => {
  const err = t.throws(() => openNvml({ libraryPath: 'libm.so.6' })) as NvmlLoadError
  t.equal(err.reason, 'not-nvml')
  t.match(err.message, /missing symbol nvmlInit_v2 in libm\.so\.6/)
})

t.test('a driver that refuses init: init-failed with NVML\'s code', async (t) => {
  const machine = FakeMachine.preset('dgx-h100').setSystem({ initRc: 9 })
  const file = stateFile(machine)
  t.teardown(file.remove)
  const err = t.throws(() => openNvml({ libraryPath: FAKE_LIBRARY })) as NvmlLoadError
  t.equal(err.reason, 'init-failed')
  t.equal(err.nvml?.codeName, 'DRIVER_NOT_LOADED')
  t.match(err.message, /nvmlInit_v2/)
  // The same process recovers once the driver answers.
  machine.setSystem({ initRc: 0 })
  file.write()
  const nvml = openNvml({ libraryPath: FAKE_LIBRARY })
  t.equal(nvml.refresh().count, 8)
  await nvml.close()
})

t.test('return code names come from the reference table', async (t) => {
  t.equal(nvmlReturnName(15), 'GPU_IS_LOST')
  t.equal(nvmlReturnName(3), 'NOT_SUPPORTED')
  t.equal(nvmlReturnName(999), 'UNKNOWN')
  t.equal(nvmlReturnName(12345), 'UNKNOWN_RETURN_12345')
})

t.test('an old driver without the newer symbols loads and degrades per signal', async (t) => {
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'test/native/fixtures/old-driver.ts'],
    { encoding: 'utf8', env: { ...process.env, SHOAL_FAKE_NVML_STATE: '' } })
  const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as {
    missing: string[], temperature?: number, memoryUsed?: number, clockEventReasons?: number,
    remapCorrected?: number, unread: Array<[string, number]>, infoUnread: Array<[string, number]>
  }
  t.same([...r.missing].sort(), [...OLD_DRIVER_MISSING_SYMBOLS].sort(), 'exactly the newer calls are missing')
  t.type(r.temperature, 'number', 'temperature through the pre-13.0 call')
  t.type(r.memoryUsed, 'number', 'memory through nvmlDeviceGetMemoryInfo')
  t.type(r.clockEventReasons, 'number', 'clock reasons through the throttle-reasons call')
  t.type(r.remapCorrected, 'number', 'remapped rows through the v1 call')
  const degraded = Object.fromEntries(r.unread)
  t.equal(degraded['temperature.margin'], 13, 'margin temperature: FUNCTION_NOT_FOUND')
  t.equal(degraded['fabric'], 13)
  t.equal(degraded['repair_status'], 13)
  t.equal(Object.fromEntries(r.infoUnread)['supported_clock_event_reasons'], 13)
})
