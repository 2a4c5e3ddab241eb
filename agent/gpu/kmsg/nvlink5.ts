// The detail of an NVLink5 XID (144–150, Blackwell/GB200), xid-catalog.md §4 and §6:
//
//   <UNIT>[/<SUBUNIT>] <Nonfatal|Fatal> XC<0|1> i<n> Link <nn|-1> (<intrinfo> <errstatus> <h3>..<h6>)
//
// Whitespace between fields is sometimes doubled (fixture #42). The decode of intrinfo/errstatus
// into an action belongs to agent/health; this only splits the fields so it need not re-parse.

export interface Nvlink5Detail {
  readonly unit: string
  readonly subunit: string | undefined
  /** As logged; the catalog's decode can still downgrade a Fatal to IGNORE (§6). */
  readonly fatal: boolean
  /** Cross-containment domain, XC0 or XC1. */
  readonly xc: number
  /** The `i<n>` field: error injected by test tooling when non-zero. */
  readonly injected: number
  /** -1: not link-specific. */
  readonly link: number
  /** intrinfo, errorStatus, then up to four more words. */
  readonly words: readonly number[]
}

// Every quantifier is bounded and adjacent fields use disjoint character classes (a hex word must
// be followed by whitespace or `)`), so the match is linear on any input. Unit names in the
// catalog are at most 16 characters; 40 is slack for new ones.
const NVLINK5 = new RegExp(
  '^([A-Z][A-Z0-9_]{0,39})(?:/([A-Z][A-Z0-9_]{0,39}))?\\s{1,8}(Nonfatal|Fatal)\\s{1,8}XC([01])' +
  '\\s{1,8}i(\\d{1,3})\\s{1,8}Link\\s{1,8}(-?\\d{1,3})\\s{1,8}' +
  '\\((0x[0-9a-fA-F]{1,8}(?:\\s{1,8}0x[0-9a-fA-F]{1,8}){1,5})\\s{0,8}\\)',
)

/** Longest detail worth matching: the form above is under 120 characters. */
const NVLINK5_DETAIL_MAX_CHARS = 512

export function parseNvlink5Detail (detail: string): Nvlink5Detail | undefined {
  const m = NVLINK5.exec(detail.slice(0, NVLINK5_DETAIL_MAX_CHARS))
  if (m === null) return undefined
  const [, unit = '', subunit, severity, xc = '0', injected = '0', link = '0', words = ''] = m
  return {
    unit,
    subunit,
    fatal: severity === 'Fatal',
    xc: Number(xc),
    injected: Number(injected),
    link: Number(link),
    words: words.split(/\s+/).map((w) => parseInt(w, 16)),
  }
}
