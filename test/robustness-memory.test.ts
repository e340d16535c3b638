import { ExecutionLog } from "ergon"
import { suite } from "./conformance/robustness.js"

suite("memory", ExecutionLog.layerMemory)
