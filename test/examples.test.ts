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
})
