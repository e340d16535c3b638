/**
 * Traces across two processes, exported by `@effect/opentelemetry`: one process schedules a flow
 * inside a span of its own; another runs it under a worker. Each execution is a trace of its own,
 * linked to the `ergon.schedule` span of the other process (a child flow's, to its parent's run), with
 * a span per step attempt or replay and per wait under it, and none under the worker's span.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import type { SpanRecord } from "./fixtures/trace-process.js"

const root = fileURLToPath(new URL("..", import.meta.url))
const fixture = path.join(root, "test", "fixtures", "trace-process.ts")

const runProcess = (role: string, db: string, flowId: string, dir: string): ReadonlyArray<SpanRecord> => {
  const out = path.join(dir, `${role}.json`)
  const result = spawnSync(process.execPath, ["--import", "tsx", fixture, role, db, out, flowId], {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000
  })
  assert.strictEqual(result.status, 0, `${role} exited with ${result.status}: ${result.stderr}\n${result.stdout}`)
  return JSON.parse(fs.readFileSync(out, "utf8")) as ReadonlyArray<SpanRecord>
}

// OpenTelemetry's SpanKind values.
const PRODUCER = 3
const CONSUMER = 4

describe("traces across processes", () => {
  it("the scheduling span is stored with the flow; each execution is a root span linked to it, with its steps and waits under it", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ergon-trace-"))
    const db = path.join(dir, "trace.db")
    const flowId = "order-trace-1"
    const scheduler = runProcess("schedule", db, flowId, dir)
    const worker = runProcess("work", db, flowId, dir)

    // The scheduling process: the handler's span, and ergon.schedule under it.
    const handler = scheduler.find((span) => span.name === "POST /orders")!
    const schedule = scheduler.find((span) => span.name === "ergon.schedule")!
    assert.isDefined(handler)
    assert.strictEqual(schedule.parentSpanId, handler.spanId)
    assert.strictEqual(schedule.traceId, handler.traceId)
    assert.strictEqual(schedule.kind, PRODUCER)
    assert.strictEqual(schedule.attributes["ergon.flow.id"], flowId)

    // The worker process: the parent ran twice (it suspended on its child), the child once.
    const executions = worker.filter((span) => span.name === "ergon.execute")
    const parentRuns = executions.filter((span) => span.attributes["ergon.flow.id"] === flowId)
    const childRuns = executions.filter((span) => span.attributes["ergon.flow.type"] === "trace-ship")
    assert.strictEqual(parentRuns.length, 2)
    assert.strictEqual(childRuns.length, 1)
    const workerSpan = worker.find((span) => span.name === "ergon.worker")
    for (const execution of executions) {
      // A trace of its own: no parent, so not under the worker's process-long span.
      assert.isNull(execution.parentSpanId, `${execution.attributes["ergon.flow.id"]} has a parent span`)
      if (workerSpan !== undefined) assert.notStrictEqual(execution.traceId, workerSpan.traceId)
      assert.strictEqual(execution.kind, CONSUMER)
    }
    // Both runs of the parent link to where it was scheduled, in the other process.
    for (const run of parentRuns) {
      assert.deepStrictEqual(run.links, [{ traceId: schedule.traceId, spanId: schedule.spanId }])
      assert.strictEqual(run.attributes["ergon.flow.type"], "trace-order")
    }
    const [first, second] = [...parentRuns].sort((a, b) => Number(a.attributes["ergon.flow.attempt"]) - Number(b.attributes["ergon.flow.attempt"]))
    assert.deepStrictEqual(
      [first!, second!].map((run) => [run.attributes["ergon.flow.attempt"], run.attributes["ergon.flow.resumed"], run.attributes["ergon.flow.outcome"]]),
      [[1, false, "suspended"], [2, true, "completed"]]
    )

    const under = (parent: SpanRecord, name: string) =>
      worker.filter((span) => span.name === name && span.parentSpanId === parent.spanId && span.traceId === parent.traceId)

    // First run: two attempts of `charge` with the retry's backoff between them, the sleep (in
    // memory), then the wait for the child, on which it suspended.
    assert.deepStrictEqual(
      under(first!, "ergon.step").map((span) => [span.attributes["ergon.step.key"], span.attributes["ergon.step.attempt"], span.attributes["ergon.step.replayed"]]),
      [["charge", 1, false], ["charge", 2, false]]
    )
    assert.deepStrictEqual(
      under(first!, "ergon.wait").map((span) => [span.attributes["ergon.wait.kind"], span.attributes["ergon.step.key"], span.attributes["ergon.wait.suspended"]]),
      [["retry", "charge", false], ["timer", "$sleep", false], ["child", "$invoke/trace-ship", true]]
    )
    // Second run: `charge` replayed from the journal; the sleep is over and the child has ended (no waits).
    assert.deepStrictEqual(
      under(second!, "ergon.step").map((span) => [span.attributes["ergon.step.key"], span.attributes["ergon.step.replayed"]]),
      [["charge", true]]
    )
    assert.deepStrictEqual(under(second!, "ergon.wait"), [])

    // The child's run links to its parent's run that started it, in the parent's first trace.
    assert.deepStrictEqual(childRuns[0]!.links, [{ traceId: first!.traceId, spanId: first!.spanId }])
    assert.deepStrictEqual(
      under(childRuns[0]!, "ergon.step").map((span) => [span.attributes["ergon.step.key"], span.attributes["ergon.flow.id"]]),
      [["pack", `${flowId}/$invoke/trace-ship`]]
    )
    fs.rmSync(dir, { recursive: true, force: true })
  }, 120_000)
})
