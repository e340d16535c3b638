import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import * as path from "node:path"
import { promisify } from "node:util"

const root = path.resolve(import.meta.dirname, "..")

describe("examples/dag.ts", () => {
  it("runs the checkout DAG, prints its results and timeline, and exits 0", async () => {
    // execFile rejects when the program exits with another code than 0.
    const { stdout } = await promisify(execFile)("npx", ["tsx", "examples/dag.ts"], { cwd: root })
    assert.include(stdout, `receipt: {"user":"Ada","reserved":12,"risk":0.02,"approved":true}`)
    const timeline = stdout.split("\n").filter((line) => /^ {2}\w+ +\d+ → +\d+ /.test(line))
    assert.deepStrictEqual(timeline.map((line) => line.trim().split(/\s+/)[0]), ["user", "inventory", "fraud", "finalize"])
    for (const line of timeline) {
      const [, from, to] = /(\d+) → +(\d+)/.exec(line)!
      assert.isAtMost(Number(from), Number(to))
    }
    assert.include(stdout, "executed again: Completed, steps run: 0")
  }, 60_000)
})
