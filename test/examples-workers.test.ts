/**
 * The worker examples (timers, signals, child flows, distributed workers) are run as they are, as
 * child processes, so the docs that point at them stay true.
 */
import { spawnSync } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"

const root = fileURLToPath(new URL("..", import.meta.url))

const run = (file: string, timeout = 60_000) => {
  const result = spawnSync(process.execPath, ["--import", "tsx", path.join(root, "examples", file)], {
    cwd: root,
    encoding: "utf8",
    timeout
  })
  assert.strictEqual(result.status, 0, `${file} exited with ${result.status ?? result.signal}: ${result.stderr}\n${result.stdout}`)
  return result.stdout
}

describe("worker examples", () => {
  it("timers.ts: the flow suspends on its sleep, and a worker with timers resumes it when due", () => {
    const out = run("timers.ts")
    assert.match(out, /Executor\.execute returned Suspended: Timer until \+1\.\ds/)
    assert.include(out, "status in the store: suspended")
    assert.match(out, /invoice-42: suspended \(Timer until \+1\.\ds\): released/)
    assert.include(out, "result: reminded ada of INV-42")
    assert.include(out, "result: reminded grace of INV-43")
    assert.include(out, "invoice-42: completed 1.")
    assert.include(out, "create-invoice ran 2 times for 2 invoices")
  })

  it("signals.ts: a buffered signal, a signal that wakes a waiting flow, order, and typed errors to senders", () => {
    const out = run("signals.ts")
    assert.include(out, "exp-1: pending, 1 signal buffered before any worker ran it")
    assert.include(out, "exp-1: paid 12000 cents to ada, approved by maria")
    assert.include(out, "votes: ann:yes bob:no cy:yes (in the order sent)")
    assert.include(out, "exp-2: suspended, waiting for 'manager-approval', times out in 24 h")
    assert.include(out, "exp-2: rejected by maria")
    assert.include(out, "unknown flow:      FlowNotFoundError: ergon: there is no flow 'exp-404'")
    assert.include(out, "payload mismatch:  InvalidSignalError: ergon: signal 'manager-approval' for flow 'exp-3' does not match its schema")
    assert.include(out, "signals stored for exp-3: 0")
    assert.include(out, "flow has ended:    FlowEndedError: ergon: flow 'exp-1' is completed")
  })

  it("child-flows.ts: keyed children, a typed child failure handled by the parent, in-process children, cascade cancel", () => {
    const out = run("child-flows.ts")
    assert.include(out, "  apple: reserved (res-apple-3)")
    assert.include(out, "  pear: back-ordered (only 1 in stock)")
    assert.include(out, "  plum: reserved (res-plum-1)")
    assert.match(out, /order-o-1\/\$invoke\/pear +reserve-item +completed \(Failure\)/)
    assert.match(out, /order-o-1\/\$invoke\/apple +reserve-item +completed \(Success\)/)
    assert.include(out, `order-o-2 (Executor.execute): Completed`)
    assert.match(out, /order-o-2\/\$invoke\/apple +reserve-item +completed \(Success\)/)
    assert.match(out, /shipment-1: suspended; its children:\n +shipment-1\/\$invoke\/north +await-truck +suspended/)
    assert.match(out, /shipment-1 cancelled: cancelled; its children:\n +shipment-1\/\$invoke\/north +await-truck +cancelled/)
    assert.include(out, "awaiting shipment-1: FlowCancelledError")
  })

  it("distributed-workers.ts: three processes on one file; a SIGKILLed worker's jobs are finished by the others", () => {
    const out = run("distributed-workers.ts", 150_000)
    const kill = /\*\*\* SIGKILL worker-2 \(pid \d+\) while it runs ([\w\-, ]+) \*\*\*/.exec(out)
    assert(kill !== null, out)
    const orphans = kill[1]!.split(", ")
    assert(orphans.length >= 2)
    assert.include(out, "all 30 jobs completed")
    const counts = Array.from(out.matchAll(/ {2}worker-\d: (\d+) jobs/g), (m) => Number(m[1]))
    assert.strictEqual(counts.reduce((a, b) => a + b, 0), 30)
    for (const job of orphans) {
      assert.match(out, new RegExp(`${job}: started on worker-2, then worker-[13]; finished by worker-[13] \\d+\\.\\d s after the kill`))
    }
    assert.include(out, "worker-2: SIGKILL")
    assert.include(out, "worker-1: exit code 0")
    assert.include(out, "worker-3: exit code 0")
  }, 180_000)
})
