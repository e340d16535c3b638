#!/usr/bin/env node
// The npm registry reachable from our machines lacks some platform builds of optional
// dependencies (darwin/win32/… packages of rollup, esbuild, msgpackr-extract). `npm install` then
// leaves them out of package-lock.json, and `npm ci` refuses the lock file ("Missing: … from lock
// file"). This adds an entry for each missing platform package, with its os/cpu, so `npm ci`
// accepts the lock file and skips them on other platforms, as it always does.
// Run it after any `npm install` that rewrites package-lock.json: node scripts/lockfile-platforms.mjs
// (another package's lock: node scripts/lockfile-platforms.mjs bench/peers/package-lock.json).
import { readFileSync, writeFileSync } from "node:fs"
import { pathToFileURL } from "node:url"

const file = process.argv[2] !== undefined
  ? pathToFileURL(process.argv[2])
  : new URL("../package-lock.json", import.meta.url)
const lock = JSON.parse(readFileSync(file, "utf8"))
const packages = lock.packages
const oses = ["darwin", "linux", "win32", "freebsd", "openbsd", "netbsd", "android", "sunos", "aix", "openharmony"]
const cpus = ["arm64", "x64", "arm", "ia32", "loong64", "ppc64", "riscv64", "s390x", "mips64el", "wasm32"]

const platformOf = (name) => {
  const base = name.split("/").pop()
  const parts = base.split("-")
  const os = parts.find((p) => oses.includes(p))
  const cpu = parts.find((p) => cpus.includes(p)) ?? (parts.includes("gnueabihf") || parts.includes("musleabihf") ? "arm" : undefined)
  if (os === undefined || cpu === undefined) return undefined
  const libc = parts.includes("musl") || parts.includes("musleabihf") ? ["musl"] : parts.includes("gnu") || parts.includes("gnueabihf") ? ["glibc"] : undefined
  return { os: [os], cpu: [cpu], ...(libc ? { libc } : {}) }
}

let added = 0
for (const [path, entry] of Object.entries(packages)) {
  for (const [dep, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const at = `${path === "" ? "" : path + "/"}node_modules/${dep}`
    const hoisted = `node_modules/${dep}`
    if (packages[at] !== undefined || packages[hoisted] !== undefined) continue
    const platform = platformOf(dep)
    if (platform === undefined) continue
    packages[hoisted] = { version, optional: true, ...platform }
    added++
  }
}
const sorted = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a < b ? -1 : a > b ? 1 : 0)))
lock.packages = sorted
writeFileSync(file, JSON.stringify(lock, null, 2) + "\n")
console.log(`lockfile-platforms: added ${added} platform entries`)
