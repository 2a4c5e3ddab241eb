// The built-in policy, used when health.policy is not set. `shoal policy default` prints it; an
// operator who wants another copies it and edits. Each threshold's source is in its description
// and in docs/health-policy.md.
export const DEFAULT_POLICY_SOURCE = 'built-in'

export const DEFAULT_POLICY_YAML = `# Shoal's default health policy (docs/health-policy.md explains every rule).
version: 1
name: shoal-default
description: >
  NVIDIA's XID catalog with a cloud fleet's actions, plus thresholds on ECC, row remapping,
  thermal and power slowdown, PCIe and NVLink from reference/nvml.md and fleet-failures.md.
rules:
  # ---- Events (XIDs, NVML events), classified by the XID catalog (agent/health/xid.ts) ----------
  - name: xid-replace
    description: a replace-class fault (fallen off the bus, row remap failure, aux power, ...)
    on: event
    when: event.action == "replace"
    state: unhealthy
    action: replace
    hold: forever
    message: "{event.kind} {event.xid} {event.xid_name}: replace the node"

  - name: xid-reboot
    description: the driver asks for a node reboot
    on: event
    when: event.action == "reboot"
    state: unhealthy
    action: reboot
    hold: 1h
    message: "{event.kind} {event.xid} {event.xid_name}: reboot the node"

  - name: xid-reset
    description: a reset-class fault (DBE, GSP timeout, NVLink fatal, ...) on its first occurrence
    on: event
    when: event.action == "reset"
    state: unhealthy
    action: reset
    hold: 1h
    message: "{event.kind} {event.xid} {event.xid_name}: drain and reset the GPU"

  - name: xid-repeat
    description: a reset-class fault back in a later burst within a day (NVIDIA "replace if persistent"; gpud threshold 2)
    on: event
    when: event.escalate && (event.action == "reset" || event.action == "reboot") && event_bursts(duration("24h")) >= 2
    state: unhealthy
    action: replace
    hold: forever
    message: "{event.kind} {event.xid} {event.xid_name} again, in {event_bursts(duration(\\"24h\\"))} bursts within 24h: replace"

  - name: xid-watch
    description: a hardware warning that needs no action yet (SBE interrupts, remap scheduled, unused codes)
    on: event
    when: event.action == "watch" && !event.app
    state: degraded
    action: watch
    hold: 1h
    message: "{event.kind} {event.xid} {event.xid_name}"

  - name: app-xid-repeat
    description: an application-level XID (13, 31, 43, 45, 68, 69, 94, ...) in 3 separate bursts within a day on one GPU (WORKFLOW_XID_13/31)
    on: event
    when: event.app && event_bursts(duration("24h")) >= 3
    state: degraded
    action: watch
    hold: 24h
    message: "application XID {event.xid} in {event_bursts(duration(\\"24h\\"))} bursts within 24h on one GPU: check the GPU"

  - name: dbe-burst
    description: 3 uncorrectable ECC errors within 10 minutes (events or the counter)
    on: event
    when: event.kind == "ecc_double_bit" && count("ecc_double_bit", duration("10m")) >= 3
    state: unhealthy
    action: replace
    hold: forever
    message: "{count(\\"ecc_double_bit\\", duration(\\"10m\\"))} uncorrectable ECC errors in 10 minutes"

  # ---- Samples: the GPU's state, polled every sampling interval --------------------------------
  - name: gpu-lost
    description: the GPU is gone (GPU_IS_LOST or missing from the device count)
    on: sample
    when: gpu.lost
    state: unhealthy
    action: replace
    class: gpu-lost
    hold: forever
    message: "GPU {gpu.index} is lost"

  - name: reset-required
    description: NVML answers RESET_REQUIRED
    on: sample
    when: gpu.reset_required
    state: unhealthy
    action: reset
    class: gpu
    message: "GPU {gpu.index} needs a reset"

  - name: recovery-action
    description: the driver's recovery action (NVML field 230) asks for a reset or a reboot
    on: sample
    when: has(gpu.recovery_action) && gpu.recovery_action != 0
    state: unhealthy
    action: reset
    class: gpu
    message: "GPU {gpu.index} recovery action {gpu.recovery_action} (1 reset, 2 reboot, 3 drain P2P, 4 drain and reset)"

  - name: recovery-reboot
    description: the driver's recovery action is a node reboot
    on: sample
    when: has(gpu.recovery_action) && (gpu.recovery_action == 2 || gpu.recovery_action == 5)
    state: unhealthy
    action: reboot
    class: gpu
    message: "GPU {gpu.index} asks for a node reboot"

  - name: row-remap-failure
    description: a row remap failed, no spare rows (Azure aznhc fails on any)
    on: sample
    when: has(gpu.remapped_rows.failure) && gpu.remapped_rows.failure
    state: unhealthy
    action: replace
    class: hbm
    hold: forever
    message: "GPU {gpu.index} row remap failed"

  - name: row-remap-pending
    description: a remapped row waits for a GPU reset to take effect
    on: sample
    when: has(gpu.remapped_rows.pending) && gpu.remapped_rows.pending
    state: degraded
    action: reset
    class: hbm
    message: "GPU {gpu.index} has a row remap pending: reset to activate"

  - name: remapped-rows-high
    description: more than 512 rows remapped for uncorrectable errors (Azure aznhc, ND H100 v5)
    on: sample
    when: has(gpu.remapped_rows.uncorrected) && gpu.remapped_rows.uncorrected > 512
    state: unhealthy
    action: replace
    class: hbm
    hold: forever
    message: "GPU {gpu.index} has {gpu.remapped_rows.uncorrected} rows remapped for uncorrectable errors"

  - name: dbe-rate
    description: the uncorrectable ECC counter grew by 3 or more within 10 minutes
    on: sample
    when: increase("ecc.volatile_uncorrected", duration("10m")) >= 3.0
    state: unhealthy
    action: replace
    class: hbm
    hold: forever
    message: "GPU {gpu.index}: {increase(\\"ecc.volatile_uncorrected\\", duration(\\"10m\\"))} uncorrectable ECC errors in 10 minutes"

  - name: sram-uncorrectable
    description: a new uncorrectable SRAM error (Azure fails on any)
    on: sample
    when: increase("ecc.sram_volatile_uncorrected", duration("10m")) > 0.0
    state: unhealthy
    action: reset
    class: sram
    hold: 1h
    message: "GPU {gpu.index}: uncorrectable SRAM error"

  - name: sbe-rate
    description: corrected ECC errors above 100 in an hour (Navarch degrades above 100)
    on: sample
    when: increase("ecc.volatile_corrected", duration("1h")) > 100.0
    state: degraded
    action: watch
    class: hbm
    hold: 1h
    message: "GPU {gpu.index}: {increase(\\"ecc.volatile_corrected\\", duration(\\"1h\\"))} corrected ECC errors in the last hour"

  - name: hw-slowdown
    description: HW slowdown, HW thermal or power-brake slowdown held 30 s (nvml.md §7; fleet-failures §7)
    on: sample
    when: >-
      has(gpu.clock_events.raw) &&
      (gpu.clock_events.hw_slowdown || gpu.clock_events.hw_thermal || gpu.clock_events.hw_power_brake)
    for: 30s
    state: degraded
    action: watch
    class: thermal
    message: "GPU {gpu.index} clocks held by hardware slowdown (reasons {gpu.clock_events.raw}) for 30s or more"

  - name: hw-slowdown-persistent
    description: hardware slowdown held 10 minutes ("replace if persistent")
    on: sample
    when: >-
      has(gpu.clock_events.raw) &&
      (gpu.clock_events.hw_slowdown || gpu.clock_events.hw_thermal || gpu.clock_events.hw_power_brake)
    for: 10m
    state: unhealthy
    action: replace
    class: thermal
    hold: forever
    message: "GPU {gpu.index} in hardware slowdown for 10 minutes"

  - name: power-brake
    description: the external power brake is engaged (PSU), held 30 s
    on: sample
    when: has(gpu.clock_events.hw_power_brake) && gpu.clock_events.hw_power_brake
    for: 30s
    state: degraded
    action: watch
    class: power
    message: "GPU {gpu.index} power brake engaged"

  - name: temperature-at-slowdown
    description: GPU at or within 2 C of its slowdown threshold for 60 s
    on: sample
    when: >-
      (has(gpu.temperature_margin_c) && gpu.temperature_margin_c <= 2) ||
      (!has(gpu.temperature_margin_c) && has(gpu.temperature_c) && has(gpu.slowdown_c) && gpu.temperature_c >= gpu.slowdown_c - 2)
    for: 60s
    state: degraded
    action: watch
    class: thermal
    message: "GPU {gpu.index} at {has(gpu.temperature_c) ? string(gpu.temperature_c) : \\"?\\"} C, at its slowdown threshold"

  - name: memory-temperature
    description: HBM at or above its max operating temperature for 60 s
    on: sample
    when: has(gpu.memory_temperature_c) && has(gpu.memory_max_c) && gpu.memory_temperature_c >= gpu.memory_max_c
    for: 60s
    state: degraded
    action: watch
    class: thermal
    message: "GPU {gpu.index} HBM at {gpu.memory_temperature_c} C (max {gpu.memory_max_c} C)"

  - name: power-over-limit
    description: drawing 10% over the enforced limit for 30 s (a sensor or regulation fault)
    on: sample
    when: has(gpu.power_w) && has(gpu.power_limit_w) && gpu.power_limit_w > 0.0 && gpu.power_w > gpu.power_limit_w * 1.1
    for: 30s
    state: degraded
    action: watch
    class: power
    message: "GPU {gpu.index} draws {gpu.power_w} W over its {gpu.power_limit_w} W limit"

  - name: pcie-replay-rate
    description: PCIe replays above 8 a minute, over 3 minutes (DCGM's PCIe replay limit)
    on: sample
    when: rate("pcie.replay_counter", duration("3m")) > 8.0 / 60.0
    for: 30s
    state: degraded
    action: watch
    class: pcie
    message: "GPU {gpu.index} PCIe replays at {rate(\\"pcie.replay_counter\\", duration(\\"3m\\")) * 60.0} a minute"

  - name: pcie-link-downtrained
    description: PCIe link narrower than its maximum for 60 s (width does not drop at idle; generation does)
    on: sample
    when: has(gpu.pcie.link_width) && has(gpu.pcie.max_link_width) && gpu.pcie.link_width < gpu.pcie.max_link_width
    for: 60s
    state: degraded
    action: watch
    class: pcie
    message: "GPU {gpu.index} PCIe link x{gpu.pcie.link_width} of x{gpu.pcie.max_link_width}"

  - name: nvlink-down
    description: an NVLink found at start is not active, for 30 s
    on: sample
    when: has(gpu.nvlink.inactive) && gpu.nvlink.inactive > 0
    for: 30s
    state: unhealthy
    action: reset
    class: nvlink
    message: "GPU {gpu.index}: {gpu.nvlink.inactive} of {gpu.nvlink.expected} NVLinks down"

  - name: nvlink-errors
    description: NVLink replay or recovery errors growing, or CRC errors above 100 a second, over a minute
    on: sample
    when: >-
      increase("nvlink.recovery", duration("1m")) > 0.0 ||
      increase("nvlink.replay", duration("1m")) > 100.0 ||
      rate("nvlink.crc_flit", duration("1m")) > 100.0
    for: 30s
    state: degraded
    action: watch
    class: nvlink
    message: "GPU {gpu.index} NVLink errors growing"

  - name: nvlink-recovery-failed
    description: an NVLink recovery failed (NVLink5)
    on: sample
    when: increase("nvlink.recovery_failed", duration("10m")) > 0.0
    state: unhealthy
    action: reset
    class: nvlink
    hold: 1h
    message: "GPU {gpu.index} NVLink recovery failed"

  - name: fabric-error
    description: NVSwitch fabric registration completed with an error
    on: sample
    when: has(gpu.fabric.state) && gpu.fabric.state == 3 && has(gpu.fabric.status) && gpu.fabric.status != 0
    for: 30s
    state: unhealthy
    action: reset
    class: nvlink
    message: "GPU {gpu.index} fabric status {gpu.fabric.status}"

  - name: retired-pages-pending
    description: a page retirement waits for a reset (pre-Ampere)
    on: sample
    when: has(gpu.retired_pages.pending) && gpu.retired_pages.pending
    state: degraded
    action: reset
    class: hbm
    message: "GPU {gpu.index} has a page retirement pending"
`
