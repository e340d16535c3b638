/**
 * `scripts/version-sync.ts`, run as a child process (as CI runs it) on a temporary
 * `package.json` and output file.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"

const root = path.resolve(import.meta.dirname, "..")
const script = path.join(root, "scripts/version-sync.ts")

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const run = async (args: ReadonlyArray<string>): Promise<Run> => {
  try {
    const { stderr, stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", script, ...args], {
      cwd: root
    })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const failed = error as { readonly code?: unknown; readonly stdout?: string; readonly stderr?: string }
    if (typeof failed.code !== "number") throw error
    return { code: failed.code, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" }
  }
}

const temp = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ergon-version-sync-"))
  const pkg = path.join(dir, "package.json")
  const out = path.join(dir, "src/PackageVersion.ts")
  const setVersion = (version: string) =>
    fs.writeFileSync(pkg, JSON.stringify({ name: "app", version, type: "module" }, null, 2))
  return { dir, pkg, out, setVersion, files: ["--package", pkg, "--out", out] }
}

describe("scripts/version-sync.ts", () => {
  it("writes the version, checks it, and fails the check after a bump until synced again", async () => {
    const { dir, files, out, setVersion } = temp()
    try {
      setVersion("1.3.0")

      const missing = await run(["--check", ...files])
      assert.strictEqual(missing.code, 1)
      assert.match(missing.stderr, /PackageVersion\.ts is missing/)

      const write = await run(files)
      assert.strictEqual(write.code, 0, write.stderr)
      const written = fs.readFileSync(out, "utf8")
      assert.include(written, `export const version = "1.3.0" as const\n`)
      assert.include(written, "do not edit")
      assert.include(written, "@since 0.1.0")
      assert.include(written, "@category Models")

      const inSync = await run(["--check", ...files])
      assert.strictEqual(inSync.code, 0, inSync.stderr)
      assert.match(inSync.stdout, /in sync .*\(1\.3\.0\)/)

      setVersion("1.4.0")
      const stale = await run(["--check", ...files])
      assert.strictEqual(stale.code, 1)
      assert.match(stale.stderr, /has version 1\.3\.0 but .*package\.json has version 1\.4\.0/)
      assert.include(stale.stderr, "npm run version:sync")
      assert.strictEqual(fs.readFileSync(out, "utf8"), written, "--check does not write")

      const sync = await run(files)
      assert.strictEqual(sync.code, 0, sync.stderr)
      assert.include(sync.stdout, "1.3.0 -> 1.4.0")
      assert.include(fs.readFileSync(out, "utf8"), `export const version = "1.4.0" as const\n`)
      assert.strictEqual((await run(["--check", ...files])).code, 0)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("fails the check when the file was edited by hand", async () => {
    const { dir, files, out, setVersion } = temp()
    try {
      setVersion("1.4.0")
      assert.strictEqual((await run(files)).code, 0)
      fs.appendFileSync(out, "export const extra = 1\n")
      const edited = await run(["--check", ...files])
      assert.strictEqual(edited.code, 1)
      assert.match(edited.stderr, /is not what version-sync writes for version 1\.4\.0/)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("refuses a package version that is not a semantic version, and unknown arguments", async () => {
    const { dir, files, out, setVersion } = temp()
    try {
      setVersion("1.4")
      const invalid = await run(files)
      assert.strictEqual(invalid.code, 1)
      assert.include(invalid.stderr, "'1.4'")
      assert.include(invalid.stderr, "is not a semantic version")
      assert.isFalse(fs.existsSync(out))

      const unknown = await run(["--chek", ...files])
      assert.strictEqual(unknown.code, 2)
      assert.include(unknown.stderr, "unknown argument '--chek'")
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("src/PackageVersion.ts of this repository is in sync with its package.json", async () => {
    const check = await run(["--check"])
    assert.strictEqual(check.code, 0, check.stderr)
  })
})
