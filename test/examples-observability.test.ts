/**
 * examples/observability.ts, run as it is: the worker's default output, the traces and metrics as
 * the OpenTelemetry SDK received them, and a flow's history.
 */
import { spawnSync } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"

const root = fileURLToPath(new URL("..", import.meta.url))

describe("examples/observability.ts", () => {
  it("prints the worker's default log lines, the traces with their links, the metrics and a history", () => {
    const result = spawnSync(process.execPath, ["--import", "tsx", path.join(root, "examples", "observability.ts")], {
      cwd: root,
      encoding: "utf8",
      timeout: 120_000
    })
    assert.strictEqual(result.status, 0, `exited with ${result.status}: ${result.stderr}\n${result.stdout}`)
    const out = result.stdout
    // The worker's default output: one line each, at info and error.
    assert.match(
      out,
      /level=INFO .*message="ergon: worker 'orders' started \(version 1\.0\.0; flows order, ship; concurrency 16; timers on, signals off; lease 30s\)"/
    )
    assert.match(out, /level=ERROR .*message="ergon: flow 'order-o-2' \(order\) failed" cause="CardDeclined: \{ \\"reason\\": \\"over the card's limit\\" \}/)
    assert.match(out, /level=INFO .*message="ergon: worker 'orders' stopped \(0 flows released\)"/)
    assert.notMatch(out, /level=WARN/)
    assert.include(out, "order-o-1: pay-o-1, box-o-1")
    assert.include(out, "order-o-2: CardDeclined")
    // Traces: the handler's span with both schedules; executions linked to them; the child to its parent's wait.
    assert.match(out, /trace \w+: POST \/orders\n {2}ergon\.schedule order-o-\d\n {2}ergon\.schedule order-o-\d\n/)
    assert.match(
      out,
      /ergon\.execute order-o-1 \(execution 1, suspended\), linked to ergon\.schedule\n {2}ergon\.step charge-card attempt 1\n {2}ergon\.wait retry charge-card\n {2}ergon\.step charge-card attempt 2\n {2}ergon\.wait timer \$sleep\n {2}ergon\.wait child \$invoke\/ship \(suspended\)\n/
    )
    assert.match(
      out,
      /ergon\.execute order-o-1\/\$invoke\/ship \(execution 1, completed\), linked to ergon\.execute\n {2}ergon\.wait timer \$sleep\n {2}ergon\.step pack attempt 1\n/
    )
    assert.match(out, /ergon\.execute order-o-1 \(execution 2, completed\), linked to ergon\.schedule\n {2}ergon\.step charge-card attempt 2 \(replayed\)\n/)
    assert.match(out, /ergon\.execute order-o-2 \(execution 1, failed\), linked to ergon\.schedule/)
    // Metrics, as the SDK's reader collected them.
    for (
      const line of [
        "ergon.flows.scheduled {ergon.flow.type=order} 2",
        "ergon.flows.started {ergon.flow.type=order} 2",
        "ergon.flows.completed {ergon.flow.type=order} 1",
        "ergon.flows.failed {ergon.flow.type=order ergon.failure=flow} 1",
        "ergon.step.retries {ergon.step.name=charge-card} 2",
        "ergon.step.duration {ergon.step.name=charge-card ergon.outcome=failure} count 3",
        "ergon.executions.in_flight {} 0"
      ]
    ) assert.include(out, line)
    assert.match(out, /ergon\.claim\.latency \{ergon\.flow\.type=order\} count 3/)
    // The typed history decodes the step's error with the flow's schema.
    assert.include(out, "step charge-card: failure after 2 attempt(s) (CardDeclined: over the card's limit)")
    assert.include(out, "outcome: Failed")
  }, 180_000)
})
