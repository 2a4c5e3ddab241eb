// Every knob of `shoal agent`, declared once: its YAML name, type, bounds, default and why
// (hashicorp/memberlist's Config: what it does, what raising or lowering it costs, why the default).
// docs/config.md's reference table is rendered from this file; load.ts maps it to AgentConfig.
// YAML names are snake_case; each section is a strict mapping (an unknown key is an error).
import * as z from 'zod'
import {
  boolField,
  durationField,
  enumField,
  intField,
  labelsField,
  libraryField,
  listenField,
  nullableIntField,
  nullablePathField,
  nullableStringField,
  pathField,
  socketModeField,
  stringField,
} from './leaves.js'

/** pino's levels, most severe first. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const
export type LogLevel = typeof LOG_LEVELS[number]

/** A section: a strict mapping whose absence (or an empty `section:`) means all its defaults. */
function section<S extends z.core.$ZodLooseShape> (shape: S) {
  // The cast: zod cannot see that {} satisfies a generic shape whose every field has a default.
  return z.strictObject(shape).prefault({} as never)
}

const node = section({
  name: nullableStringField({
    defaultText: '(the host name)',
    maxChars: 253,
    pattern: /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/,
    what: 'a host name (letters, digits, ".", "_", "-")',
    doc: 'This node\'s name in the fleet, in `shoal status` and in logs. Unique per fleet; the host name ' +
      'almost always is, which is why it is the default.',
  }),
  pool: stringField({
    default: 'default',
    maxChars: 63,
    pattern: /^[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?$/,
    what: 'a pool name (lower-case letters, digits, "_", "-"; up to 63)',
    doc: 'The pool this node belongs to; the coordinator sizes and replaces nodes per pool.',
  }),
  labels: labelsField({
    doc: 'Free-form labels gossiped with this node (rack, zone, ...). At most 32; names up to 63 ' +
      'characters, values up to 128: they ride in every health update.',
  }),
  expect: section({
    gpus: nullableIntField({
      min: 0,
      max: 256,
      doc: 'GPUs this node must show to pass the boot gate. null: any count of 1 or more passes. ' +
        'Set it on fixed shapes (8 on an H100 box): a GPU that failed to enumerate then fails the gate.',
    }),
    model: nullableStringField({
      maxChars: 96,
      what: 'part of a GPU model name (e.g. "H100")',
      doc: 'A substring every GPU\'s NVML name must contain to pass the boot gate ("H100" matches ' +
        '"NVIDIA H100 80GB HBM3"). null: any model.',
    }),
  }),
})

const nvml = section({
  library: libraryField({
    default: 'libnvidia-ml.so.1',
    doc: 'The NVML library to dlopen: a name the dynamic loader searches for, or an absolute path ' +
      '(a driver outside the loader path, or the fake library in tests).',
  }),
})

const sampling = section({
  interval: durationField({
    default: '1s',
    min: '100ms',
    max: '1h',
    doc: 'Time between two reads of every signal on every GPU. Lower sees short spikes sooner; ' +
      'a full 8-GPU read costs well under 1 ms (docs/nvml.md). Higher delays polled faults (row ' +
      'remap, a lost GPU on drivers without events). 1 s is the design\'s 1 Hz footprint target.',
  }),
  dedup_window: durationField({
    default: '10s',
    min: '0ms',
    max: '10m',
    doc: 'An XID seen by both NVML and the kernel log within this window counts once. Higher merges ' +
      'genuine repeats; lower lets a slow second witness through as a second fault; 0 turns folding ' +
      'off. 10 s covers a loaded host and stays far below the 3 min burst gap.',
  }),
  event_wait: durationField({
    default: '500ms',
    min: '10ms',
    max: '10s',
    doc: 'One native NVML event wait. It bounds how long shutdown waits for the event thread; lower ' +
      'wakes that thread more often for nothing (events arrive at once either way).',
  }),
  event_queue: intField({
    default: 1024,
    min: 16,
    max: 65536,
    doc: 'NVML events held for JavaScript before more are dropped (and the drop counted). Higher ' +
      'rides out a longer XID storm while the event loop is busy, at the cost of memory.',
  }),
})

const kmsg = section({
  enabled: boolField({
    default: true,
    doc: 'Read the kernel log for XIDs. Some XIDs (79, 119, 120) reach only the kernel log, never ' +
      'NVML; turn off only where /dev/kmsg is unreadable by design.',
  }),
  path: pathField({
    default: '/dev/kmsg',
    doc: 'The kernel log device. Reading it needs CAP_SYSLOG where kernel.dmesg_restrict=1.',
  }),
})

const health = section({
  policy: nullablePathField({
    doc: 'The health policy file. null: the built-in default policy.',
  }),
  watch: boolField({
    default: true,
    doc: 'Reload the policy file when it changes. SIGHUP always reloads. A policy that fails to ' +
      'load is reported and the previous one stays in force.',
  }),
  burst_gap: durationField({
    default: '3m',
    min: '10s',
    max: '1h',
    doc: 'Faults on a node closer than this form one incident (NVIDIA\'s XID burst rule: 3 min). ' +
      'Higher merges separate faults into one incident; lower splits one fault into several.',
  }),
})

const store = section({
  dir: pathField({
    default: '/var/lib/shoal',
    doc: 'The agent\'s state directory (LevelDB: identity, journal, election state). ' +
      'systemd\'s StateDirectory=shoal creates it.',
  }),
  sync: boolField({
    default: false,
    doc: 'fsync every journal write. true survives power loss at the cost of a disk flush per ' +
      'write; false survives a crash of the agent, which is the common case.',
  }),
  journal: section({
    max_entries: intField({
      default: 100_000,
      min: 1000,
      max: 10_000_000,
      doc: 'Journal entries kept; the oldest go first. Higher keeps a longer history for ' +
        '`shoal events` at the cost of disk space.',
    }),
    max_age: durationField({
      default: '30d',
      min: '1h',
      max: '365d',
      doc: 'Journal entries older than this are dropped, whichever limit is reached first.',
    }),
  }),
})

const metrics = section({
  listen: listenField({
    default: '127.0.0.1:9401',
    doc: 'Prometheus endpoint, host:port; null turns it off. The host is an IP address or ' +
      'localhost. 9401 sits next to dcgm-exporter\'s 9400 so both can run; loopback by default ' +
      'because the endpoint has no authentication. Port 0 takes any free port (tests, benchmarks).',
  }),
})

const admin = section({
  socket: pathField({
    default: '/run/shoal/admin.sock',
    maxBytes: 107,
    doc: 'The admin socket the `shoal` CLI talks to (at most 107 bytes: the Unix socket path ' +
      'limit). systemd\'s RuntimeDirectory=shoal creates /run/shoal.',
  }),
  mode: socketModeField({
    default: '0660',
    doc: 'The socket\'s file mode, quoted. Owner and group only: access to the socket is access ' +
      'to cordon and drain, so world bits are refused.',
  }),
})

const log = section({
  level: enumField({
    values: LOG_LEVELS,
    default: 'info',
    doc: 'The least severe level logged (pino\'s levels). Logs are JSON lines on stdout (journald).',
  }),
})

/** The whole file. A top-level key that is not one of these sections is an error. */
export const agentConfigSchema = z.strictObject({
  node,
  nvml,
  sampling,
  kmsg,
  health,
  store,
  metrics,
  admin,
  log,
})

/** The file as validated: snake_case, durations already in ms, the node name maybe still null. */
export type ParsedConfig = z.output<typeof agentConfigSchema>
