/**
 * Runs examples/versioning.ts as a child process, as a user would, and checks what it prints:
 * version routing (1.3.0 flows on the 1.3.0 worker with the 1.3.0 code, 1.4.0 flows on the 1.4.0
 * worker with the new code, and not before that worker is up; unversioned flows on either), and
 * the drain of 1.3.0 before its worker stops.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import * as path from "node:path"
import { promisify } from "node:util"

const root = path.resolve(import.meta.dirname, "..")
const file = path.join(root, "examples/versioning.ts")

interface Ran {
  readonly id: string
  readonly version: string
  readonly worker: string
  readonly detail: string
}

describe("examples/versioning.ts", () => {
  it("routes flows by version, drains 1.3.0, stops its worker, and exits 0", async () => {
    // execFile rejects when the program exits with another code than 0 (or is killed by the timeout).
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", file], {
      cwd: root,
      timeout: 60_000
    })
    const lines = stdout.split("\n")

    // Which worker ran which flow: one line per flow.
    const ran: Array<Ran> = lines.flatMap((line) => {
      const match = /^ {2}(\S+) +(\S+) +ran on (worker-\S+) {2}(.*)$/.exec(line)
      return match === null ? [] : [{ id: match[1]!, version: match[2]!, worker: match[3]!, detail: match[4]! }]
    })
    assert.deepStrictEqual(
      ran.map((r) => r.id).sort(),
      ["order-1", "order-2", "order-3", "order-4", "order-5", "order-6"]
        .concat(["receipt-1", "receipt-2", "receipt-3", "receipt-4", "receipt-5", "receipt-6", "receipt-7"])
        .sort()
    )
    for (const r of ran) {
      if (r.id.startsWith("order-")) {
        const old = Number(r.id.slice("order-".length)) <= 3
        // old flows stamped 1.3.0, ran on the old worker with the old code; new ones on the new
        assert.strictEqual(r.version, old ? "1.3.0" : "1.4.0", r.id)
        assert.strictEqual(r.worker, old ? "worker-1.3.0" : "worker-1.4.0", r.id)
        assert.include(r.detail, old ? "under 1.3.0 rules" : "under 1.4.0 rules (10% off)", r.id)
      } else {
        assert.strictEqual(r.version, "unversioned", r.id)
        assert.oneOf(r.worker, ["worker-1.3.0", "worker-1.4.0"], r.id)
      }
    }
    // the 1.4.0 flows waited for a 1.4.0 worker: the 1.3.0 worker, up and idle, left them alone
    assert.include(stdout, "[1.4.0] before worker-1.4.0 starts: order-4 pending, order-5 pending, order-6 pending")
    assert.include(stdout, "order-1    1.3.0        ran on worker-1.3.0  charged 100.00 under 1.3.0 rules")
    assert.include(stdout, "order-4    1.4.0        ran on worker-1.4.0  charged 360.00 under 1.4.0 rules (10% off)")
    // scheduled after the old worker stopped: only the new one can have run it
    assert.include(stdout, "receipt-7  unversioned  ran on worker-1.4.0  receipt sent")

    // The drain: Client.list of the unfinished 1.3.0 flows goes down to empty, then the old worker stops.
    const drain = lines.flatMap((line) => {
      const match = /^\[drain\] {3}(\d+)/.exec(line)
      return match === null ? [] : [Number(match[1])]
    })
    assert.isAbove(drain.length, 1, "the drain saw unfinished 1.3.0 flows before it saw none")
    assert.isAbove(drain[0]!, 0)
    assert.strictEqual(drain[drain.length - 1], 0)
    for (let i = 1; i < drain.length; i++) assert.isAtMost(drain[i]!, drain[i - 1]!, "the count only goes down")
    const emptied = lines.indexOf("[drain]   0")
    const stopped = lines.indexOf("[drain] stopped worker-1.3.0")
    assert.isAbove(emptied, -1)
    assert.isAbove(stopped, emptied, "the old worker stops after the drain")
    assert.isBelow(stopped, lines.indexOf("which worker ran which flow:"))

    assert.include(stdout, "1.4.0 flows not ended: 0; 1.3.0 flows not ended: 0")
    assert.strictEqual(lines.filter((line) => line.length > 0).at(-1), "done")
  }, 90_000)
})
