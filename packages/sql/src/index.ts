export * as DatabaseUrl from "./DatabaseUrl"
export * as Migrations from "./Migrations"
export * as ShardClients from "./ShardClients"
