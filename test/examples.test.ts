/**
 * The programs in examples/ are run as they are, so the docs that point at them stay true.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"

const root = fileURLToPath(new URL("..", import.meta.url))

const run = (file: string, env: Record<string, string> = {}) => {
  const result = spawnSync(process.execPath, ["--import", "tsx", path.join(root, "examples", file)], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: "utf8",
    timeout: 60_000
  })
  assert.strictEqual(result.status, 0, `${file} exited with ${result.status}: ${result.stderr}`)
  return result.stdout
}

describe("examples", () => {
  it("demo.ts: a killed process is resumed by another, replaying finished steps (twice in a row)", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ergon-demo-"))
    for (let i = 0; i < 2; i++) {
      const out = run("demo.ts", { ERGON_DEMO_DIR: dir })
      assert.include(out, "*** SIGKILL while the step is running ***")
      assert.include(out, "[process 2]   ↺ validate-order: replayed from the log (not run)")
      assert.include(out, "[process 2]   ↺ charge-card: replayed from the log (not run)")
      assert.include(out, "[process 2]   ✓ reserve-inventory: ran and checkpointed")
      assert.match(out, /\[process 2\] flow order-\S+ completed: tracking TRACK-order-/)
      // the card was charged in process 1 only
      assert.notInclude(out, "[process 2]     → charged")
    }
    assert(fs.existsSync(path.join(dir, "demo.db")))
  })

  it("sequential.ts: the second run replays everything", () => {
    const out = run("sequential.ts")
    assert.include(out, "side effects: 3 on the first run, 0 on the second")
  })

  it("custom-errors.ts: retryable errors retried, business errors final and replayed", () => {
    const out = run("custom-errors.ts")
    assert.include(out, "t-1: ok: moved 30 from alice; 70 left | replay: ok: moved 30 from alice; 70 left | calls on replay: 0")
    assert.include(out, "t-2: ok: declined: balance 5 < 50")
    assert.include(out, "t-3: failed with AccountFrozen (carol) | replay: failed with AccountFrozen (carol)")
    assert.include(out, "debit calls in all: 9")
  })

  it("race.ts: the first to arrive wins a race of a signal and a timer, across suspensions; no handler sees them", () => {
    const out = run("race.ts")
    assert.include(out, "req-1: suspended on Signal + Timer")
    assert.include(out, "req-1: completed: notified: req-1 approved by alice")
    assert.include(out, "req-2: completed: notified: req-2 escalated: no answer before the deadline")
    assert.include(out, "the flow's handler ran 0 times")
  })

  it("upgrade.ts: 1.3.0 flows stopped mid-flight are finished by a 1.4.0 worker; the patch applies to new and not-yet-reached points, not to replays", () => {
    const out = run("upgrade.ts")
    assert.include(out, "[1.3.0] order-1 passed its fraud check and waits to ship; order-2 waits for approval (fraud checks so far: 1)")
    assert.include(out, "[versions] no worker: order 1.3.0: 0 pending, 0 running, 2 suspended; STRANDED (no live worker takes it)")
    assert.include(out, "[versions] worker-1.4.0 up: order 1.3.0: 0 pending, 0 running, 2 suspended; taken by worker-1.4.0")
    assert.include(out, "order-1  stamped 1.3.0, last ran under 1.4.0, no patch marker: shipped order-1; approved by maria; fraud checked for order-1")
    assert.include(out, "order-2  stamped 1.3.0, last ran under 1.4.0, patch marker recorded: shipped order-2; approved by li; fraud check skipped (patched path)")
    assert.include(out, "order-3  stamped 1.4.0, last ran under 1.4.0, patch marker recorded: shipped order-3; approved by sam; fraud check skipped (patched path)")
    // order-1's fraud check ran once, under 1.3.0, and was replayed under 1.4.0.
    assert.include(out, "fraud checks run in all: 1")
  })
})
