import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import { pipeArguments } from "effect/Pipeable"
import * as Schema from "effect/Schema"
import type * as Dag from "../Dag.js"
import { ExecutionLog } from "../ExecutionLog.js"
import { FlowDefinitionError, type StoreError } from "../FlowError.js"
import { FlowInstance, scoped } from "./instance.js"
import * as journal from "./journal.js"

/** @internal */
export const TypeId: Dag.TypeId = Symbol.for("ergon/Dag") as Dag.TypeId

/** @internal */
export const isDag = (u: unknown): u is Dag.Any => typeof u === "object" && u !== null && TypeId in u

/** The runtime shape behind the `Dag` interface. */
interface DagImpl extends Dag.Any {
  /** What is wrong with the definition (found while it was built); reported by `run`. */
  readonly problems: ReadonlyArray<string>
}

const Proto = {
  [TypeId]: {
    _Name: (_: never) => _,
    _Steps: (_: never) => _,
    _Error: (_: never) => _,
    _Requirements: (_: never) => _
  },
  step(this: DagImpl, name: string, second: unknown, third?: unknown): DagImpl {
    const problems = [...this.problems]
    let node: Dag.Node
    if (Array.isArray(second)) {
      const deps: ReadonlyArray<string> = second
      for (const dep of deps) {
        if (!this.nodes.some((earlier) => earlier.name === dep)) {
          problems.push(`step '${name}' depends on '${String(dep)}', which is not a step declared before it`)
        }
      }
      if (typeof third !== "function") problems.push(`step '${name}' has dependencies but no function to call with them`)
      const f = third as Dag.Node["run"]
      node = { name, deps, run: f }
    } else {
      if (!Effect.isEffect(second)) problems.push(`step '${name}' is not an Effect`)
      const effect = second as Effect.Effect<unknown, unknown, unknown>
      node = { name, deps: [], run: () => effect }
    }
    if (typeof name !== "string" || name === "") problems.push("a step name must not be empty")
    else if (this.nodes.some((earlier) => earlier.name === name)) problems.push(`duplicate step '${name}'`)
    return makeImpl(this.name, [...this.nodes, node], problems)
  },
  pipe() {
    return pipeArguments(this, arguments)
  }
}

const makeImpl = (name: string, nodes: ReadonlyArray<Dag.Node>, problems: ReadonlyArray<string>): DagImpl => {
  const self = Object.create(Proto)
  self.name = name
  self.nodes = nodes
  self.problems = problems
  return self
}

/** @internal */
export const make = <const Name extends string>(name: Name): Dag.Dag<Name, {}, never, never> =>
  // The typestate exists only in the types: at run time every DAG is a `DagImpl`.
  makeImpl(name, [], typeof name === "string" && name !== "" ? [] : ["a DAG name must not be empty"]) as any

// ---------------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------------

/** What a node's `$node` journal entry holds. */
const NodeRecord = Schema.Struct({
  dag: Schema.String,
  node: Schema.String,
  startedAt: Schema.Number,
  finishedAt: Schema.Number,
  outcome: Schema.Literal("success", "failure")
})

/** The name of a node's timing entry inside the node's key scope. `$` names are the engine's. */
const NODE_ENTRY = "$node"
const isNodeKey = (key: string): boolean => /(^|\/)\$node(#\d+)?$/.test(key)
const decodeNodeRecord = Schema.decodeUnknownOption(NodeRecord)

const definitionError = (self: DagImpl, options: Dag.RunOptions | undefined): FlowDefinitionError | undefined => {
  const problems = [...self.problems]
  const concurrency = options?.concurrency
  if (concurrency !== undefined && concurrency !== "unbounded" && !(Number.isInteger(concurrency) && concurrency >= 1)) {
    problems.push(`concurrency must be a positive integer or "unbounded", not ${String(concurrency)}`)
  }
  return problems.length === 0 ? undefined : new FlowDefinitionError({ name: self.name, detail: problems.join("; ") })
}

/**
 * Runs one node in its key scope: times it and records the timing entry once it has ended,
 * unless it was interrupted (it will run again) or the entry is already there (a replay).
 */
const runNode = (
  instance: FlowInstance.Service,
  self: DagImpl,
  node: Dag.Node,
  input: Readonly<Record<string, unknown>>,
  onSuccess: (value: unknown) => Effect.Effect<void>
): Effect.Effect<unknown, unknown, unknown> =>
  scoped(
    `${self.name}/${node.name}`,
    Effect.gen(function*() {
      const place = yield* journal.begin(instance, NODE_ENTRY, "dag")
      const startedAt = yield* Clock.currentTimeMillis
      const exit = yield* Effect.exit(node.run(input))
      const finishedAt = yield* Clock.currentTimeMillis
      // Dependents start before the timing entry is written: it is not on their critical path.
      if (Exit.isSuccess(exit)) yield* onSuccess(exit.value)
      const interrupted = Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)
      if (!interrupted && instance.journal.get(place.key)?.status !== "completed") {
        yield* journal.note(instance, place, {
          inputHash: null,
          exit: NodeRecord.make({
            dag: self.name,
            node: node.name,
            startedAt,
            finishedAt,
            outcome: Exit.isSuccess(exit) ? "success" : "failure"
          }),
          attempts: 1,
          startedAt,
          completedAt: finishedAt
        })
      }
      return yield* exit
    })
  )

const runImpl = (self: DagImpl, options?: Dag.RunOptions): Effect.Effect<any, any, any> =>
  Effect.suspend(() => {
    const invalid = definitionError(self, options)
    if (invalid !== undefined) return Effect.die(invalid)
    const concurrency = options?.concurrency
    return Effect.gen(function*() {
      const instance = yield* FlowInstance
      const semaphore = typeof concurrency === "number" ? yield* Effect.makeSemaphore(concurrency) : undefined
      const done = new Map<string, Deferred.Deferred<unknown>>()
      for (const node of self.nodes) done.set(node.name, yield* Deferred.make<unknown>())
      const outputs: Record<string, unknown> = {}
      let firstFailure: Cause.Cause<unknown> | undefined

      const start = (node: Dag.Node) =>
        Effect.gen(function*() {
          // Waiting for dependencies holds no concurrency slot, so a bounded run cannot deadlock.
          const input: Record<string, unknown> = {}
          for (const dep of node.deps) input[dep] = yield* Deferred.await(done.get(dep)!)
          const body = runNode(instance, self, node, input, (value) => {
            outputs[node.name] = value
            return Deferred.succeed(done.get(node.name)!, value)
          })
          return yield* semaphore === undefined ? body : semaphore.withPermits(1)(body)
        }).pipe(
          Effect.onError((cause) =>
            Effect.sync(() => {
              // Remember the first real failure: the causes of the nodes it interrupts are not the run's.
              if (firstFailure === undefined && !Cause.isInterruptedOnly(cause)) firstFailure = cause
            })
          )
        )

      // Every node gets a fiber at once; each one blocks on its own dependencies' Deferreds, so a
      // node starts as soon as they are done. `forEach` interrupts the others on the first failure.
      yield* Effect.forEach(self.nodes, start, { concurrency: "unbounded", discard: true }).pipe(
        Effect.catchAllCause((cause) => Effect.failCause(firstFailure ?? cause))
      )
      return outputs
    })
  }).pipe(Effect.withSpan("ergon.dag.run", { attributes: { "ergon.dag.name": self.name }, captureStackTrace: false }))

/** @internal */
export const run: {
  (options?: Dag.RunOptions): (self: Dag.Any) => Effect.Effect<any, any, any>
  (self: Dag.Any, options?: Dag.RunOptions): Effect.Effect<any, any, any>
} = dual(
  (args) => isDag(args[0]),
  (self: Dag.Any, options?: Dag.RunOptions) => runImpl(self as DagImpl, options)
)

// ---------------------------------------------------------------------------------------------
// Timeline
// ---------------------------------------------------------------------------------------------

/** @internal */
export const timeline = (flowId: string): Effect.Effect<ReadonlyArray<Dag.TimelineEntry>, StoreError, ExecutionLog> =>
  Effect.flatMap(ExecutionLog, (log) => log.loadFlow(flowId)).pipe(
    Effect.map(Option.match({
      onNone: () => [],
      onSome: ({ steps }) => {
        const entries: Array<Dag.TimelineEntry> = []
        for (const step of steps) {
          if (step.status !== "completed" || !isNodeKey(step.key)) continue
          // An entry that does not decode is not a node's (a user step named `$node`): it is skipped.
          const decoded = decodeNodeRecord(step.exit)
          if (Option.isSome(decoded)) entries.push({ ...decoded.value, key: step.key })
        }
        return entries.sort((a, b) =>
          a.startedAt - b.startedAt || a.finishedAt - b.finishedAt || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
        )
      }
    })),
    Effect.withSpan("ergon.dag.timeline", { attributes: { "ergon.flow.id": flowId } })
  )
