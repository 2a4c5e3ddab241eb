// Every knob of `shoal agent`, declared once: its YAML name, type, bounds, default and why
// (hashicorp/memberlist's Config: what it does, what raising or lowering it costs, why the default).
// docs/config.md's reference table is rendered from this file; load.ts maps it to AgentConfig.
// YAML names are snake_case; each section is a strict mapping (an unknown key is an error).
import * as z from 'zod'
import { formatDuration } from '../lib/duration.js'
import {
  argvField,
  boolField,
  durationField,
  enumField,
  intField,
  labelsField,
  libraryField,
  listenField,
  multiaddrListField,
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

/** A problem that only shows between fields of one section: the field to blame and why. */
interface Relation { readonly field: string, readonly message: string }

/** A section whose fields must also agree with each other (checked once each field is valid). */
function relatedSection<S extends z.core.$ZodLooseShape> (shape: S, relations: (v: z.output<z.ZodObject<S, z.core.$strict>>) => Relation[]) {
  return z.strictObject(shape).superRefine((v, ctx) => {
    for (const r of relations(v)) ctx.addIssue({ code: 'custom', message: r.message, path: [r.field], input: v })
  }).prefault({} as never)
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
  instance_id: nullableStringField({
    maxChars: 128,
    pattern: /^[A-Za-z0-9][A-Za-z0-9._:-]*$/,
    what: 'a cloud instance id (letters, digits, ".", "_", ":", "-")',
    doc: 'This host\'s instance id at its cloud (i-0abc… on EC2, the instance name on GCP, the ' +
      'id on Lambda). The coordinator matches the instances it lists to agents by this id, or else ' +
      'by node name. null: match by name only (instances the coordinator launches are named for it).',
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

const mesh = relatedSection({
  fleet: stringField({
    default: 'default',
    maxChars: 63,
    pattern: /^[a-z0-9][a-z0-9-]{0,62}$/,
    what: 'a fleet id (lower-case letters, digits, "-"; up to 63; not starting with "-")',
    doc: 'The fleet this agent belongs to. Gossip topics are `shoal/<fleet>/...` and a message ' +
      'naming another fleet is rejected, so two fleets that share a key still cannot mix. Change it ' +
      'only with every agent of the fleet.',
  }),
  key_file: nullablePathField({
    doc: 'The fleet key: a libp2p pre-shared key file (`/key/swarm/psk/1.0.0/`, `/base16/`, 64 hex ' +
      'digits, one per line). Only hosts with the key can connect at all. null: no mesh; the agent ' +
      'judges its own node and answers `shoal health`, and fleet requests answer `mesh-off`.',
  }),
  listen: multiaddrListField({
    default: ['/ip4/0.0.0.0/tcp/7700'],
    use: 'listen',
    minItems: 1,
    maxItems: 16,
    doc: 'Where the agent accepts mesh connections: /ip4 or /ip6 multiaddrs over TCP. Port 7700 by ' +
      'default; every interface, because peers are other hosts (the fleet key keeps strangers out). ' +
      'Port 0 takes any free port (tests).',
  }),
  announce: multiaddrListField({
    default: [],
    use: 'announce',
    minItems: 0,
    maxItems: 16,
    doc: 'Addresses advertised to peers instead of the listen ones: needed behind NAT, or where ' +
      'listen is 0.0.0.0 and peers should use one interface. DNS names allowed. Empty: the listen ' +
      'addresses, with 0.0.0.0 expanded to the host\'s interfaces.',
  }),
  bootstrap: multiaddrListField({
    default: [],
    use: 'bootstrap',
    minItems: 0,
    maxItems: 64,
    doc: 'Agents already in the fleet, as multiaddrs ending in /p2p/<peer id>; any one that answers ' +
      'is enough, a few guard against one being down. Empty: this agent founds the fleet (a council ' +
      'of one) unless its store already knows peers. Needs key_file.',
  }),
  coordinator_eligible: boolField({
    default: true,
    doc: 'May this agent sit on the council and become coordinator. Turn off on hosts that should ' +
      'never run cloud API calls (no credentials, a flaky network). A fleet needs at least one ' +
      'eligible agent; council_size of them take part in elections.',
  }),
  council_size: intField({
    default: 5,
    min: 1,
    max: 7,
    odd: true,
    doc: 'Voters in the election council (Raft\'s rules, majority quorum). 5 survives two lost ' +
      'voters; 3 survives one and elects a little faster; 7 survives three at the cost of more ' +
      'lease traffic. Odd: an even council tolerates no more failures than one smaller. The fleet ' +
      'grows its council to this size as eligible agents join.',
  }),
  probe_interval: durationField({
    default: '250ms',
    min: '50ms',
    max: '60s',
    doc: 'SWIM: time between two probes of one random member. With probe_timeout it sets how fast a ' +
      'dead host is declared (about 4 s at the defaults, 1,000 agents) and the probe traffic (about ' +
      '20 kbit/s per agent). Slower probing detects later and costs less (memberlist\'s WAN profile ' +
      'probes every 5 s).',
  }),
  probe_timeout: durationField({
    default: '100ms',
    min: '5ms',
    max: '30s',
    doc: 'SWIM: how long a direct probe waits for its ack before asking k peers to probe indirectly. ' +
      'A LAN round trip is well under 1 ms; 100 ms leaves room for a busy agent. At most half of ' +
      'probe_interval.',
  }),
  deny_peers_file: nullablePathField({
    doc: 'A file of peer ids this agent refuses, one per line (`#` comments allowed), re-read every ' +
      '500 ms while set: their connections are closed and neither side can dial the other. Cuts a ' +
      'misbehaving host off without stopping it (the harness partitions local fleets with it); ' +
      'empty the file to let them back. A missing file denies no one. null: no deny list.',
  }),
}, (m): Relation[] => {
  if (m.probe_timeout * 2 > m.probe_interval) {
    return [{ field: 'probe_timeout', message: `(${m.probe_timeout} ms) must be at most half of probe_interval (${m.probe_interval} ms): a probe's indirect round needs the other half` }]
  }
  if (m.key_file === null) {
    return m.bootstrap.length > 0
      ? [{ field: 'bootstrap', message: 'is set but key_file is null: without the fleet key the agent runs alone and never dials these peers' }]
      : []
  }
  if (m.bootstrap.length === 0 && !m.coordinator_eligible) {
    return [{ field: 'bootstrap', message: 'is empty, so this agent would found the fleet, but coordinator_eligible is false: give the address of an agent already in the fleet' }]
  }
  return []
})

const hooks = relatedSection({
  cordon: argvField({
    doc: 'Run when the coordinator cordons this node: the program (absolute path) and its arguments, ' +
      'no shell, e.g. ["/usr/local/bin/shoal-cordon"]. It should stop new work landing here (kubectl ' +
      'cordon, a Slurm drain state). null: the cordon is recorded and gossiped, nothing is run. ' +
      'docs/hooks.md has the contract.',
  }),
  uncordon: argvField({
    doc: 'Run when the node is uncordoned (also ends a drain). null: recorded only.',
  }),
  drain: argvField({
    doc: 'Run to drain the node: start moving its workloads away. It may return at once (then ' +
      'drain_status reports progress) or wait until they are gone; it runs for at most drain_timeout. ' +
      'null: only drain_status is polled, or, without it, the drain is recorded at once.',
  }),
  drain_status: argvField({
    doc: 'Polled every drain_poll during a drain: exit 0 and print the number of workloads still ' +
      'running as the first word of stdout; 0 means drained. null: the drain counts as done when ' +
      'the drain hook exits 0.',
  }),
  timeout: durationField({
    default: '30s',
    min: '1s',
    max: '10m',
    doc: 'Longest run of the cordon, uncordon and drain_status hooks; past it the hook\'s process ' +
      'group is killed and the command fails. 30 s covers an API call to a busy scheduler; a hook ' +
      'that hangs must not hold the command for long.',
  }),
  drain_timeout: durationField({
    default: '10m',
    min: '10s',
    max: '24h',
    doc: 'Longest drain, from the start of the drain hook to drain_status reporting 0; then the ' +
      'drain fails ("N workloads still running after 10m") and the coordinator decides. 10 m lets ' +
      'typical jobs checkpoint; raise it for long checkpoints.',
  }),
  drain_poll: durationField({
    default: '5s',
    min: '1s',
    max: '10m',
    doc: 'Time between two drain_status runs. Lower notices a finished drain sooner at the cost of ' +
      'more scheduler queries.',
  }),
}, (h): Relation[] => h.drain_poll > h.drain_timeout
  ? [{ field: 'drain_poll', message: `must not exceed drain_timeout (${formatDuration(h.drain_timeout)}), got ${formatDuration(h.drain_poll)}` }]
  : [])

const coordinator = section({
  file: nullablePathField({
    doc: 'The coordinator file: pools, providers and webhooks (docs/pools.md). Every ' +
      'coordinator-eligible agent should have the same one: whichever is elected runs it. null: ' +
      'this agent coordinates the mesh (commands, the council) but manages no pools.',
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
  mesh,
  hooks,
  coordinator,
  log,
})

/** The file as validated: snake_case, durations already in ms, the node name maybe still null. */
export type ParsedConfig = z.output<typeof agentConfigSchema>
