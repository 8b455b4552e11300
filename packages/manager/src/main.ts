import { NodeRuntime } from "@effect/platform-node"
import { Layer } from "effect"
import * as Manager from "./Manager"

Layer.launch(Manager.layer).pipe(NodeRuntime.runMain)
