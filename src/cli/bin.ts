#!/usr/bin/env node
/**
 * The `ergon` executable (the `bin` of the package).
 *
 * The command line needs `@effect/cli` and `@effect/platform-node`, which are optional peer
 * dependencies: an application that never runs `ergon` does not install them. This entry checks
 * that they can be found before loading the command line, and otherwise says what to install,
 * with the versions this package accepts, and exits with 1.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"

const needed = ["@effect/cli", "@effect/platform-node"] as const

const resolvable = (name: string): boolean => {
  try {
    import.meta.resolve(name)
    return true
  } catch {
    return false
  }
}

/** The range of each peer dependency, read from this package's own package.json. */
const peerRanges = (): Record<string, string> => {
  try {
    const pkg = JSON.parse(fs.readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      readonly peerDependencies?: Record<string, string>
    }
    return pkg.peerDependencies ?? {}
  } catch {
    return {}
  }
}

const missing = needed.filter((name) => !resolvable(name))
if (missing.length > 0) {
  const ranges = peerRanges()
  const specs = missing.map((name) => (ranges[name] !== undefined ? `${name}@${ranges[name]}` : name))
  console.error(
    `ergon: the command line needs ${missing.join(" and ")} (optional peer dependencies of ergon, ` +
      `not installed here). Install ${missing.length === 1 ? "it" : "them"} beside ergon:\n\n` +
      `  npm install --save-dev ${specs.join(" ")}\n`
  )
  process.exitCode = 1
} else {
  const { main } = await import("./main.js")
  main(process.argv)
}
