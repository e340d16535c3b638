/**
 * The package as a user gets it: `npm pack` (which builds `dist/` through the `prepare` script),
 * then the tarball installed into a fresh application, as a user would install it:
 *
 * - a strict ESM TypeScript app (`module: NodeNext`, `strict`, `exactOptionalPropertyTypes`, no
 *   `skipLibCheck`), on the lowest versions of the peer dependencies the package claims
 *   (`effect` 3.22.2, where the repository's own tests run on the newest, 3.22.4);
 * - one copy of `effect` in its `node_modules`, before and after adding the command line's peers;
 * - the `ergon` bin: without its optional peers it says what to install and exits with 1; with
 *   them, `version sync` writes the app's version file and `version check` passes;
 * - plain `tsc` type-checks the app (README's example among its files, and type-level misuses that
 *   must still be compile errors through the shipped `.d.ts`), and plain `node` runs the compiled
 *   programs on SQLite.
 *
 * It needs the npm registry (npm's cache serves what earlier installs fetched). better-sqlite3's
 * native module is not compiled again: the app pins the repository's version of better-sqlite3,
 * its install script is not run, and the module built by the repository's own install is copied
 * in (compiling it takes minutes and tests nothing of this package).
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "..")
const repoPackage = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as {
  readonly version: string
  readonly devDependencies: Record<string, string>
  readonly peerDependencies: Record<string, string>
}

/** The lowest version of each peer dependency the package claims: what the app installs. */
const lowest = {
  effect: "3.22.2",
  "@effect/platform": "0.97.2",
  "@effect/experimental": "0.61.1",
  "@effect/sql": "0.52.1",
  "@effect/sql-sqlite-node": "0.53.0",
  "@effect/cli": "0.77.0",
  "@effect/platform-node": "0.108.0"
} as const

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** The environment without the `npm_*` variables an outer `npm test` sets (npm reads them as config). */
const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith("npm_")))

/**
 * Runs a command to its end. The timeout only stops a command that hangs: each command here is
 * one install or one compile, which a loaded machine can make slow but not endless.
 */
const run = (command: string, args: ReadonlyArray<string>, cwd: string): Promise<Run> =>
  new Promise((resolve, reject) => {
    execFile(command, args, { cwd, env, timeout: 15 * 60_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== "number") return reject(error)
      resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr })
    })
  })

const ok = async (command: string, args: ReadonlyArray<string>, cwd: string): Promise<Run> => {
  const result = await run(command, args, cwd)
  assert.strictEqual(result.code, 0, `${command} ${args.join(" ")} exited with ${result.code}:\n${result.stdout}\n${result.stderr}`)
  return result
}

const npmInstall = ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"]

/** Every installed copy of `effect` (any depth), with its version. */
const effectCopies = (app: string): ReadonlyArray<string> => {
  const found: Array<string> = []
  const visit = (modules: string) => {
    if (!fs.existsSync(modules)) return
    for (const entry of fs.readdirSync(modules)) {
      if (entry.startsWith(".")) continue
      const dirs = entry.startsWith("@")
        ? fs.readdirSync(path.join(modules, entry)).map((name) => path.join(modules, entry, name))
        : [path.join(modules, entry)]
      for (const dir of dirs) {
        const manifest = path.join(dir, "package.json")
        if (fs.existsSync(manifest) && JSON.parse(fs.readFileSync(manifest, "utf8")).name === "effect") {
          found.push(`${path.relative(app, dir)}@${JSON.parse(fs.readFileSync(manifest, "utf8")).version}`)
        }
        visit(path.join(dir, "node_modules"))
      }
    }
  }
  visit(path.join(app, "node_modules"))
  return found
}

const write = (file: string, text: string) => {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, text)
}

/** A program of the app: a pinned flow run by a worker versioned from the generated file. */
const main = `import { Effect, Schema } from "effect"
import { Client, Flow, Scheduler, Step, Worker } from "ergon"
import * as Sqlite from "ergon/sqlite"
import { version } from "./PackageVersion.js"

const greet = Step.make("greet", {
  input: Schema.String,
  success: Schema.String,
  run: (name) => Effect.succeed(\`hello \${name}\`)
})

const HelloFlow = Flow.make("hello", {
  input: Schema.String,
  success: Schema.String,
  versions: ["1.4.0"],
  run: (name) =>
    Effect.gen(function*() {
      const greeting = yield* greet(name)
      yield* Flow.sleep("10 millis")
      return greeting
    })
})

const worker = Worker.make("app").withVersion(version).register(HelloFlow).withTimers()

const program = Effect.gen(function*() {
  yield* Effect.forkScoped(worker.run())
  const handle = yield* Scheduler.make().withVersion(version).schedule(HelloFlow, "pack", { id: "hello-1" })
  const result: string = yield* handle.await
  const status = yield* Client.status(handle.id)
  console.log(\`\${handle.id}: \${result} (\${status}, version \${version})\`)
}).pipe(Effect.scoped, Effect.provide(Sqlite.layer({ filename: "app.db" })))

Effect.runPromise(program).catch((error) => {
  console.error(error)
  process.exit(1)
})
`

/** Misuses that the shipped declarations must still refuse (an unused directive is an error too). */
const misuses = `import { Effect, Schema } from "effect"
import { Client, Flow, Scheduler, Worker } from "ergon"

const Pinned = Flow.make("pinned", { input: Schema.String, versions: ["1.3.0"], run: () => Effect.void })

// @ts-expect-error ergon: '1.4' is not a semantic version
Scheduler.make().withVersion("1.4")
// @ts-expect-error ergon: flow 'pinned' is not pinned to version '1.4.0'
Worker.make("w").withVersion("1.4.0").register(Pinned)
// @ts-expect-error choose how this scheduler is versioned
Scheduler.make().schedule(Pinned, "x")
// @ts-expect-error the payload comes after the schema
Client.signal("id", "approval", { by: "ann" }, Schema.Struct({ by: Schema.String }))
`

describe("the packed package", () => {
  it("installs into a fresh strict ESM app with one copy of effect, type-checks with tsc, runs on SQLite with node, and its ergon bin works", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ergon-pack-"))
    try {
      // 1. Pack: `prepare` builds dist/ first.
      const packed = await ok("npm", ["pack", "--json", "--pack-destination", dir, "--loglevel=error"], root)
      const [tarball] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf("["))) as Array<{
        readonly filename: string
        readonly files: ReadonlyArray<{ readonly path: string }>
      }>
      const files = new Set(tarball!.files.map((file) => file.path))
      for (const file of ["package.json", "README.md", "dist/index.js", "dist/index.d.ts", "dist/sqlite.js", "dist/pg.d.ts", "dist/testing.js", "dist/cli/bin.js", "dist/index.js.map", "src/index.ts", "docs/workers.md"]) {
        assert.isTrue(files.has(file), `the tarball has ${file}`)
      }
      for (const file of files) {
        assert.match(file, /^(dist|src|docs)\/|^(package\.json|README\.md)$/, `nothing else is packed: ${file}`)
      }

      // 2. A fresh app: the package, its peers at their lowest claimed versions, TypeScript.
      const app = path.join(dir, "app")
      const betterSqlite = JSON.parse(
        fs.readFileSync(path.join(root, "node_modules/better-sqlite3/package.json"), "utf8")
      ).version as string
      write(
        path.join(app, "package.json"),
        JSON.stringify(
          {
            name: "pack-test-app",
            version: "1.4.0",
            private: true,
            type: "module",
            dependencies: {
              ergon: `file:${path.join(dir, tarball!.filename)}`,
              effect: lowest.effect,
              "@effect/platform": lowest["@effect/platform"],
              "@effect/experimental": lowest["@effect/experimental"],
              "@effect/sql": lowest["@effect/sql"],
              "@effect/sql-sqlite-node": lowest["@effect/sql-sqlite-node"]
            },
            devDependencies: {
              typescript: repoPackage.devDependencies.typescript,
              "@types/node": repoPackage.devDependencies["@types/node"]
            },
            overrides: { "better-sqlite3": betterSqlite },
            allowScripts: { "better-sqlite3": false }
          },
          null,
          2
        )
      )
      for (const [name, version] of Object.entries(lowest)) {
        assert.include(["^" + version], repoPackage.peerDependencies[name], `the test installs the lowest ${name} claimed`)
      }
      await ok("npm", npmInstall, app)
      const addon = "node_modules/better-sqlite3/build/Release/better_sqlite3.node"
      fs.mkdirSync(path.dirname(path.join(app, addon)), { recursive: true })
      fs.copyFileSync(path.join(root, addon), path.join(app, addon))

      assert.deepStrictEqual(effectCopies(app), [`node_modules/effect@${lowest.effect}`])
      for (const absent of ["pg", "@effect/sql-pg", "@effect/platform-node", "@effect/cluster", "@effect/cli"]) {
        assert.isFalse(fs.existsSync(path.join(app, "node_modules", absent)), `a SQLite app does not install ${absent}`)
      }

      // 3. The bin without its optional peers says what to install.
      const bin = path.join(app, "node_modules/.bin/ergon")
      const missing = await run(bin, ["version", "check"], app)
      assert.strictEqual(missing.code, 1, missing.stderr)
      assert.include(missing.stderr, `npm install --save-dev @effect/cli@${repoPackage.peerDependencies["@effect/cli"]} @effect/platform-node@${repoPackage.peerDependencies["@effect/platform-node"]}`)

      // 4. With them: the app's own version file.
      await ok("npm", [...npmInstall, "--save-dev", `@effect/cli@${lowest["@effect/cli"]}`, `@effect/platform-node@${lowest["@effect/platform-node"]}`], app)
      assert.deepStrictEqual(effectCopies(app), [`node_modules/effect@${lowest.effect}`], "the command line's peers share the app's effect")
      const unsynced = await run(bin, ["version", "check"], app)
      assert.strictEqual(unsynced.code, 1)
      assert.include(unsynced.stderr, "src/PackageVersion.ts is missing")
      assert.include((await ok(bin, ["version", "sync"], app)).stdout, "wrote src/PackageVersion.ts (1.4.0)")
      assert.include((await ok(bin, ["version", "check"], app)).stdout, "src/PackageVersion.ts is in sync with package.json (1.4.0)")
      assert.include((await ok(bin, ["--version"], app)).stdout, repoPackage.version)

      // 5. Plain tsc, strict, on the shipped declarations.
      write(
        path.join(app, "tsconfig.json"),
        JSON.stringify(
          {
            compilerOptions: {
              target: "ES2022",
              module: "NodeNext",
              moduleResolution: "NodeNext",
              lib: ["ES2022"],
              types: ["node"],
              strict: true,
              exactOptionalPropertyTypes: true,
              noUncheckedIndexedAccess: true,
              verbatimModuleSyntax: true,
              skipLibCheck: false,
              outDir: "dist",
              rootDir: "src"
            },
            include: ["src"]
          },
          null,
          2
        )
      )
      write(path.join(app, "src/main.ts"), main)
      write(path.join(app, "src/misuses.ts"), misuses)
      write(path.join(app, "src/readme.ts"), fs.readFileSync(path.join(root, "examples/readme.ts"), "utf8"))
      await ok(process.execPath, [path.join(app, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], app)

      // 6. Plain node on the compiled programs, on SQLite.
      assert.include((await ok(process.execPath, ["dist/main.js"], app)).stdout, "hello-1: hello pack (completed, version 1.4.0)")
      const first = await ok(process.execPath, ["dist/readme.js"], app)
      assert.match(first.stdout, /_tag: 'Suspended'[\s\S]*_tag: 'Timer'/)
      const until = /until: (\d+)/.exec(first.stdout)?.[1]
      assert.isDefined(until)
      const second = await ok(process.execPath, ["dist/readme.js"], app)
      assert.include(second.stdout, `until: ${until}`, "the second run waits for the timer the first one set")
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 30 * 60_000)
})
