import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import * as ShardClients from "../src/ShardClients"
import * as Testing from "../src/testing"

const databaseExists = (name: string) =>
  Effect.scoped(
    Effect.flatMap(Testing.makeDatabase(), (probe) =>
      Effect.flatMap(
        Testing.client(probe.url, { maxConnections: 1 }),
        (sql) =>
          sql<{ name: string }>`SELECT schema_name AS name FROM information_schema.schemata
            WHERE schema_name = ${name}`,
      ),
    ),
  ).pipe(Effect.map((rows) => rows.length === 1))

describe("testing.layerShardClients", () => {
  it.effect("gives migrated throwaway DB shards and drops them when its scope closes", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(Testing.layerShardClients(2), scope)
      const shards = Context.get(context, ShardClients.ShardClients)
      expect(shards.ids).toEqual([0, 1])
      const names = yield* Effect.forEach(shards.ids, (dbShardId) =>
        ShardClients.use(
          dbShardId,
          Effect.flatMap(SqlClient.SqlClient, (sql) =>
            Effect.zipRight(
              sql`SELECT COUNT(*) AS n FROM guild_member`,
              sql<{ name: string }>`SELECT DATABASE() AS name`,
            ),
          ),
        ).pipe(
          Effect.provide(context),
          Effect.map(([row]) => row!.name),
        ),
      )
      expect(names.every((name) => name.startsWith("tally_test_shard"))).toBe(true)
      expect(yield* Effect.forEach(names, databaseExists)).toEqual([true, true])

      yield* Scope.close(scope, Exit.void)
      expect(yield* Effect.forEach(names, databaseExists)).toEqual([false, false])
    }),
  )
})
