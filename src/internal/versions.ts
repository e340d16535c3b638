import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { ExecutionLog, FlowGroup, WorkerRow } from "../ExecutionLog.js"
import type * as Flow from "../Flow.js"
import { type InvalidVersionError, type StoreError, VersionMigrationError } from "../FlowError.js"
import * as Version from "../Version.js"
import * as logs from "./logs.js"
import * as wake from "./wake.js"
import { accepts, isLive } from "./registry.js"

/**
 * The stranded-version report and the migration of stranded executions: `Client.versions` and
 * `Client.migrate`, judged from the store alone (the flows that have not ended, and the live
 * workers' registrations, which carry the versions each pinned type lists).
 */

/** The executions of one flow type stamped with one version that have not ended, and who can take them. */
export interface VersionGroup {
  readonly type: string
  /** The stamped version; `null` for unversioned flows. */
  readonly version: string | null
  readonly pending: number
  readonly running: number
  readonly suspended: number
  /** The live workers that take them: their version is this one, or their flow lists both. */
  readonly workers: ReadonlyArray<{ readonly id: string; readonly name: string; readonly version: string | null }>
  /** No live worker takes them: they wait until one of a version that can comes, or a `migrate`. */
  readonly stranded: boolean
}

/** Groups the flows that have not ended by type and version, with the live workers that take each. */
export const report = (log: ExecutionLog.Service): Effect.Effect<ReadonlyArray<VersionGroup>, StoreError> =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const groups = yield* log.flowGroups(now)
    const live = (yield* log.listWorkers()).filter((worker) => isLive(worker, now))
    return summarise(groups, live)
  })

export const summarise = (groups: ReadonlyArray<FlowGroup>, live: ReadonlyArray<WorkerRow>): ReadonlyArray<VersionGroup> => {
  const byKey = new Map<string, { type: string; version: string | null; pending: number; running: number; suspended: number }>()
  for (const group of groups) {
    const key = JSON.stringify([group.type, group.version])
    let entry = byKey.get(key)
    if (entry === undefined) {
      entry = { type: group.type, version: group.version, pending: 0, running: 0, suspended: 0 }
      byKey.set(key, entry)
    }
    entry[group.status] += group.count
  }
  return Array.from(byKey.values())
    .sort((a, b) =>
      a.type < b.type ? -1 : a.type > b.type ? 1 : a.version === b.version ? 0 : a.version === null ? -1 : b.version === null ? 1 : Version.compare(a.version, b.version)
    )
    .map((entry): VersionGroup => {
      const workers = live
        .filter((worker) => accepts(worker, entry.type, entry.version))
        .map((worker) => ({ id: worker.id, name: worker.name, version: worker.version }))
      return { ...entry, workers, stranded: workers.length === 0 }
    })
}

/** What `migrate` is asked: the flow type (or its definition, whose pins then count too), from and to. */
export interface MigrateOptions {
  readonly type: string | Flow.Any
  readonly from: string
  readonly to: string
}

/** What `migrate` did. */
export interface Migrated {
  readonly type: string
  readonly from: string
  readonly to: string
  /** How many executions were re-stamped. */
  readonly count: number
  /** The live workers that take them now. */
  readonly workers: ReadonlyArray<string>
}

const parseVersion = (value: string, which: "from" | "to"): Effect.Effect<string, InvalidVersionError> => {
  const parsed = Version.parse(value, `Client.migrate ${which}`)
  return Either.isRight(parsed) ? Effect.succeed(parsed.right) : Effect.fail(parsed.left)
}

const pinsText = (pins: ReadonlyArray<string>): string => `[${pins.map((pin) => `'${pin}'`).join(", ")}]`

/**
 * Re-stamps the executions of `type` stamped `from` that have not ended with `to`, after checking
 * that it is safe: `from` and `to` are versions and differ; the type is known; the flow's
 * `versions` list both (or it is not pinned) — the definition's when given, and those registered
 * by every live worker that would take them; and some live worker takes them once stamped `to`.
 * Otherwise nothing changes and the error says why. Logged as an operator step.
 */
export const migrate = (
  log: ExecutionLog.Service,
  options: MigrateOptions
): Effect.Effect<Migrated, VersionMigrationError | InvalidVersionError | StoreError> =>
  Effect.gen(function*() {
    const type = typeof options.type === "string" ? options.type : options.type.name
    const from = yield* parseVersion(options.from, "from")
    const to = yield* parseVersion(options.to, "to")
    const refuse = (reason: VersionMigrationError["reason"], detail: string) =>
      new VersionMigrationError({ reason, flowType: type, from, to, detail })
    if (from === to) return yield* refuse("SameVersion", "from and to are the same version; nothing to migrate")
    const now = yield* Clock.currentTimeMillis
    const live = (yield* log.listWorkers()).filter((worker) => isLive(worker, now))
    const registering = live.filter((worker) => worker.types.includes(type))
    if (registering.length === 0 && (yield* log.countFlows({ type })) === 0) {
      return yield* refuse(
        "UnknownType",
        `no flow of type '${type}' is in the store and no live worker registers it (check the name with 'ergon versions')`
      )
    }
    if (typeof options.type !== "string") {
      const pins = options.type.versions
      if (pins !== undefined && !(pins.includes(from) && pins.includes(to))) {
        return yield* refuse(
          "NotPinnedToBoth",
          `the flow's versions are ${pinsText(pins)}: add both '${from}' and '${to}' to them once its code for '${to}' can replay executions of '${from}'`
        )
      }
    }
    const takers = live.filter((worker) => accepts(worker, type, to))
    if (takers.length === 0) {
      return yield* refuse(
        "WouldStrand",
        `no live worker would take them once stamped '${to}' (live workers of '${type}': ${
          registering.length === 0 ? "none" : registering.map((worker) => `${worker.id} (${logs.versionText(worker.version)})`).join(", ")
        }); start workers of version '${to}' first`
      )
    }
    // Every worker that would run them must have declared its code able to replay `from`.
    for (const worker of takers) {
      const pins = worker.pins?.[type]
      if (pins !== undefined && !(pins.includes(from) && pins.includes(to))) {
        return yield* refuse(
          "NotPinnedToBoth",
          `the live worker ${worker.id} (${logs.versionText(worker.version)}) runs '${type}' pinned to ${pinsText(pins)}, ` +
            `which does not list both '${from}' and '${to}': its code was not declared able to replay executions of '${from}'`
        )
      }
    }
    const count = yield* log.restampFlows(type, from, to, now)
    // Workers of this process look again at once (on PostgreSQL, the store notifies the others).
    yield* wake.notify(log)
    yield* logs.log(
      "Info",
      `ergon: migrated ${count} unfinished flow${count === 1 ? "" : "s"} of '${type}' from version ${from} to ${to} (operator step)`,
      { "ergon.event": "versions-migrated", "ergon.flow.type": type, "ergon.migrate.from": from, "ergon.migrate.to": to, "ergon.migrate.count": count }
    )
    return { type, from, to, count, workers: takers.map((worker) => worker.id) }
  })
