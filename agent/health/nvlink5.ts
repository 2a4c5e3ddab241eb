// Decode of NVLink5 XIDs 144-150 (Blackwell/GB200) into an action, xid-catalog.md §6. The logged
// Fatal/Nonfatal is not enough: some "Fatal" lines are harmless and some "Nonfatal" ones need a
// reset (gpud#1160, #1174). The unit name in the line selects the row; errorStatus (the second
// word) selects the action. NETIR_LINK_EVT decides by the sub-code in intrinfo bits 25..20.
import { HealthAction } from '../../proto/gen/shoal_pb.js'
import type { Nvlink5Detail } from '../gpu/kmsg/nvlink5.js'

const { NONE, WATCH, RESET } = HealthAction

interface Row {
  readonly reset?: readonly number[]
  /** XID_154_EVAL: a 154 follows and carries the real action. */
  readonly eval154?: readonly number[]
  readonly ignore?: readonly number[]
}

const HW_PRESENT = 0x80000000

const ROWS: Record<string, Row> = {
  SAW_MVB: { reset: [0x2, 0x10], ignore: [0x1, 0x4, 0x8, 0x20] },
  RLW_CTRL: { ignore: [HW_PRESENT] },
  RLW_REMAP: { reset: [0x40, 0x80], eval154: [0x1, 0x2, 0x4, 0x8, 0x10, 0x20], ignore: [0x100, 0x200, HW_PRESENT] },
  RLW_RSPCOL: { reset: [0x2], ignore: [0x1, HW_PRESENT] },
  RLW_RXPIPE: { ignore: [0x1, 0x2, 0x4, 0x8, HW_PRESENT] },
  RLW_SRC_TRACK: { reset: [0x1, 0x10, 0x20], eval154: [0x4, 0x8], ignore: [0x2, HW_PRESENT] },
  RLW_TAGSTATE: { reset: [0x2, 0x20000, 0x100000], ignore: [0x1, 0x10000, HW_PRESENT] },
  TLW_CTRL: { reset: [0x4], ignore: [0x1, 0x2, HW_PRESENT] },
  TLW_RX_PIPE0: { reset: [0x4], ignore: [0x1, 0x2, HW_PRESENT] },
  TLW_RX_PIPE1: { reset: [0x4], ignore: [0x1, 0x2, HW_PRESENT] },
  TLW_TX_PIPE0: { reset: [0x4], ignore: [0x1, 0x2, HW_PRESENT] },
  TLW_TX_PIPE1: { reset: [0x4], ignore: [0x1, 0x2, HW_PRESENT] },
  TREX: { ignore: [0x1, HW_PRESENT] },
  NVLPW_CTRL: { ignore: [HW_PRESENT] },
  NETIR: { reset: [0x0] },
  NETIR_INT: { reset: [0x0] },
  NETIR_BER_EVENT: { ignore: [0x0, 0x1, 0x2, 0x3] },
  NETIR_MFDE_EVENT: { reset: [0x1, 0x4, 0x5, 0x7], ignore: [0x3] },
  MSE_WATCHDOG: { reset: [0x0] },
}

/** NETIR_LINK_EVT sub-codes in the sheet; 38 and 40 are IGNORE, every other listed one RESET_GPU. */
const LINK_EVT_SUBCODES = new Set([0, 1, 2, 4, 10, 15, 16, 17, 18, 21, 22, 32, 33, 34, 35, 36, 37, 38, 40, 42, 43])
const LINK_EVT_IGNORED = new Set([38, 40])

export interface Nvlink5Decode {
  readonly action: HealthAction
  readonly why: string
}

export function decodeNvlink5 (d: Nvlink5Detail): Nvlink5Decode {
  const unit = d.subunit === undefined ? d.unit : `${d.unit}_${d.subunit}`
  const [intrinfo = 0, status = 0] = d.words
  if (unit === 'NETIR_LINK_EVT' || unit === 'NETIR_LINK_DOWN') {
    const sub = (intrinfo >>> 20) & 0x3f
    if (LINK_EVT_SUBCODES.has(sub)) {
      return LINK_EVT_IGNORED.has(sub)
        ? { action: NONE, why: `${unit} sub-code ${sub}: ignore` }
        : { action: RESET, why: `${unit} sub-code ${sub}: reset` }
    }
    return fallback(d, `${unit} sub-code ${sub} not in the catalog`)
  }
  const row = ROWS[unit] ?? ROWS[d.unit]
  if (row === undefined) return fallback(d, `unit ${unit} not in the catalog`)
  const hex = `0x${status.toString(16)}`
  if (row.reset?.includes(status) === true) return { action: RESET, why: `${unit} status ${hex}: reset` }
  if (row.eval154?.includes(status) === true) return { action: WATCH, why: `${unit} status ${hex}: the XID 154 that follows decides` }
  if (row.ignore?.includes(status) === true) return { action: NONE, why: `${unit} status ${hex}: ignore` }
  return fallback(d, `${unit} status ${hex} not in the catalog`)
}

/** Unknown rows trust the logged severity, leaning safe: Fatal resets, Nonfatal is watched. */
function fallback (d: Nvlink5Detail, why: string): Nvlink5Decode {
  return d.fatal
    ? { action: RESET, why: `${why}; logged Fatal` }
    : { action: WATCH, why: `${why}; logged Nonfatal` }
}
