import { NodeContext } from "@effect/platform-node"
import { Layer } from "effect"
import { DbShards, layerShardClients } from "./DbShards"
import { Gateways } from "./Gateways"
import * as ManagerDatabase from "./ManagerDatabase"
import * as ManagerHttp from "./ManagerHttp"
import * as ManagerToken from "./ManagerToken"
import { Routes } from "./Routes"

/** Routes, DB shards and gateway heartbeats over the migrated manager and DB shard databases. */
export const layerServices = Layer.mergeAll(Routes.Default, Gateways.Default).pipe(
  Layer.provideMerge(DbShards.Default),
  Layer.provide(Layer.merge(ManagerDatabase.layer, layerShardClients)),
)

/** The whole manager from its configuration: databases, services, token and HTTP server. */
export const layer = ManagerHttp.layer.pipe(
  Layer.provide(layerServices),
  Layer.provide(ManagerToken.layer),
  Layer.provide(NodeContext.layer),
)
