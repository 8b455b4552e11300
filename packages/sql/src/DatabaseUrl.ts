import * as Reactivity from "@effect/experimental/Reactivity"
import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import { Data, Effect, Either, Redacted, String as Str } from "effect"
import type { PoolOptions } from "mysql2"

/** A database URL that could not be read. Never carries the URL itself: it may hold a password. */
export class InvalidDatabaseUrl extends Data.TaggedError("InvalidDatabaseUrl")<{
  readonly reason: string
}> {
  override get message() {
    return `not a usable database URL: ${this.reason}`
  }
}

/** The parts of `mysql://user:password@host:port/database`. */
export interface DatabaseConfig {
  readonly host: string
  readonly port: number
  readonly username: string
  readonly password: Redacted.Redacted | undefined
  readonly database: string | undefined
}

/** Reads `mysql://user:password@host:port/database`; user defaults to root, port to 3306. */
export const parse = (
  url: Redacted.Redacted | string,
): Either.Either<DatabaseConfig, InvalidDatabaseUrl> => {
  const text = typeof url === "string" ? url : Redacted.value(url)
  if (!URL.canParse(text)) {
    return Either.left(new InvalidDatabaseUrl({ reason: "not a URL" }))
  }
  const parsed = new URL(text)
  if (parsed.protocol !== "mysql:" && parsed.protocol !== "mariadb:") {
    return Either.left(new InvalidDatabaseUrl({ reason: "the scheme must be mysql://" }))
  }
  if (parsed.hostname === "") {
    return Either.left(new InvalidDatabaseUrl({ reason: "the host is missing" }))
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ""))
  return Either.right({
    host: parsed.hostname,
    port: parsed.port === "" ? 3306 : Number(parsed.port),
    username: parsed.username === "" ? "root" : decodeURIComponent(parsed.username),
    password:
      parsed.password === "" ? undefined : Redacted.make(decodeURIComponent(parsed.password)),
    database: database === "" ? undefined : database,
  })
}

/** The URL of another database on the same server, e.g. a throwaway test database. */
export const withDatabase = (config: DatabaseConfig, database: string | undefined) => ({
  ...config,
  database,
})

/**
 * mysql2 options every Tally pool uses: ids (`BIGINT`) come back as strings whatever their size,
 * `DECIMAL` (what `SUM()` returns) as numbers. Prepared statements cached per connection are
 * bounded so that many connections cannot exhaust the server's `max_prepared_stmt_count`.
 */
export const poolOptions = (maxConnections: number): PoolOptions => ({
  supportBigNumbers: true,
  bigNumberStrings: true,
  decimalNumbers: true,
  maxPreparedStatements: 128,
  maxIdle: maxConnections,
  connectTimeout: 5_000,
  enableKeepAlive: true,
  charset: "utf8mb4_unicode_ci",
})

/**
 * The `MysqlClient` config for a database: host, port, user and password passed one by one,
 * since `@effect/sql-mysql2` ignores `poolConfig` when given a URL. Columns are `snake_case` in
 * SQL and `camelCase` in rows and in `sql.insert` / `sql("identifier")`.
 */
export const clientConfig = (
  config: DatabaseConfig,
  options?: { readonly maxConnections?: number },
): MysqlClient.MysqlClientConfig => {
  const maxConnections = options?.maxConnections ?? 10
  return {
    host: config.host,
    port: config.port,
    username: config.username,
    password: config.password,
    database: config.database,
    maxConnections,
    poolConfig: poolOptions(maxConnections),
    transformQueryNames: Str.camelToSnake,
    transformResultNames: Str.snakeToCamel,
  }
}

/** A single-connection client on the server of `config`, with no database selected. */
export const serverClient = (config: DatabaseConfig) =>
  MysqlClient.make(clientConfig(withDatabase(config, undefined), { maxConnections: 1 })).pipe(
    Effect.provideServiceEffect(Reactivity.Reactivity, Reactivity.make),
  )
