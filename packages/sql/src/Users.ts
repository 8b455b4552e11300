import { SqlSchema } from "@effect/sql"
import * as SqlClient from "@effect/sql/SqlClient"
import type { Snowflake } from "@tally/domain/Snowflake"
import { Effect, Option, Schema } from "effect"
import { Bool, Counter, Id } from "./Columns"

/** A Discord user's global settings (`user`, on the DB shard of the user's route). */
export const UserSettings = Schema.Struct({
  isBanned: Bool,
  patreonTier: Schema.Number,
  /** Epoch seconds; the tier counts while this is in the future. */
  patreonTierUntil: Counter,
  /** Epoch seconds; 0 = never. */
  lastAskForPremiumAt: Counter,
  addedAt: Counter,
})
export type UserSettings = typeof UserSettings.Type

export const defaultUserSettings: UserSettings = {
  isBanned: false,
  patreonTier: 0,
  patreonTierUntil: 0,
  lastAskForPremiumAt: 0,
  addedAt: 0,
}

/** A user's settings, or the defaults when the user has no row. */
export const user = (userId: Snowflake) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    SqlSchema.findOne({
      Request: Id,
      Result: UserSettings,
      execute: (id) =>
        sql`SELECT is_banned, patreon_tier, patreon_tier_until, last_ask_for_premium_at, added_at
          FROM user WHERE user_id = ${id}`,
    })(userId),
  ).pipe(Effect.map(Option.getOrElse(() => defaultUserSettings)))

/** Changes some of a user's settings, creating the row if needed. */
export const updateUser = (userId: Snowflake, changes: Partial<UserSettings>) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const encoded = yield* Schema.encode(Schema.partial(UserSettings))(changes)
    if (Object.keys(encoded).length === 0) return
    yield* sql`INSERT INTO user ${sql.insert({ userId, ...encoded })}
      ON DUPLICATE KEY UPDATE ${sql.update(encoded)}`
  })
