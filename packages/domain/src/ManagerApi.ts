/**
 * The manager's HTTP contract: routes (guild or user → DB shard), the DB shard registry, gateway
 * heartbeats and health. Declarative only; the manager implements it and the gateway derives its
 * client from it.
 */
import {
  HttpApi,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpApiMiddleware,
  HttpApiSchema,
  HttpApiSecurity,
  OpenApi,
} from "@effect/platform"
import { Schema } from "effect"
import { Snowflake } from "./Snowflake"

/** The most ids one batch lookup accepts. */
export const MAX_BATCH = 1000

export const DbShardId = Schema.Int.pipe(Schema.nonNegative())

export class GuildRoute extends Schema.Class<GuildRoute>("GuildRoute")({
  guildId: Snowflake,
  dbShardId: DbShardId,
}) {}

export class UserRoute extends Schema.Class<UserRoute>("UserRoute")({
  userId: Snowflake,
  dbShardId: DbShardId,
}) {}

export class DbShard extends Schema.Class<DbShard>("DbShard")({
  dbShardId: DbShardId,
  guildCount: Schema.Int.pipe(Schema.nonNegative()),
}) {}

const EpochMillis = Schema.Int.pipe(Schema.nonNegative())

/** What a gateway process reports about itself. Times are epoch milliseconds. */
export class Heartbeat extends Schema.Class<Heartbeat>("Heartbeat")({
  discordShardIds: Schema.Array(Schema.Int.pipe(Schema.nonNegative())),
  guildCount: Schema.Int.pipe(Schema.nonNegative()),
  eventsPerSecond: Schema.Number.pipe(Schema.nonNegative()),
  bufferedRows: Schema.Int.pipe(Schema.nonNegative()),
  /** When the oldest row still waiting in a buffer was counted; null when nothing waits. */
  oldestBufferedAt: Schema.NullOr(EpochMillis),
  /** When the last flush committed; null before the first. */
  lastFlushAt: Schema.NullOr(EpochMillis),
}) {}

export class Gateway extends Schema.Class<Gateway>("Gateway")({
  instanceId: Schema.String,
  ...Heartbeat.fields,
  lastHeartbeatAt: EpochMillis,
  /** Milliseconds since the last heartbeat, when the list was read. */
  ageMillis: Schema.Int.pipe(Schema.nonNegative()),
}) {}

export const InstanceId = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9._:-]{1,100}$/),
  Schema.annotations({ description: "a gateway process's name (GATEWAY_INSTANCE_ID)" }),
)

export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  { reason: Schema.Literal("missing bearer token", "wrong bearer token") },
  HttpApiSchema.annotations({ status: 401 }),
) {}

/** The manager database could not answer; worth retrying. */
export class RoutingUnavailable extends Schema.TaggedError<RoutingUnavailable>()(
  "RoutingUnavailable",
  { reason: Schema.String },
  HttpApiSchema.annotations({ status: 503 }),
) {}

export class NotReady extends Schema.TaggedError<NotReady>()(
  "NotReady",
  {
    reason: Schema.String,
    migrated: Schema.Boolean,
    unreachableDbShardIds: Schema.Array(DbShardId),
  },
  HttpApiSchema.annotations({ status: 503 }),
) {}

/** The manager has never given this guild a route: Tally holds no data of it. */
export class GuildNotRouted extends Schema.TaggedError<GuildNotRouted>()(
  "GuildNotRouted",
  { guildId: Snowflake },
  HttpApiSchema.annotations({ status: 404 }),
) {}

/** `Authorization: Bearer <MANAGER_TOKEN>` on everything under /v1. */
export class Authorization extends HttpApiMiddleware.Tag<Authorization>()(
  "@tally/domain/ManagerApi/Authorization",
  { failure: Unauthorized, security: { bearer: HttpApiSecurity.bearer } },
) {}

const guildIdParam = HttpApiSchema.param("guildId", Snowflake)
const userIdParam = HttpApiSchema.param("userId", Snowflake)
const instanceIdParam = HttpApiSchema.param("instanceId", InstanceId)

export class HealthGroup extends HttpApiGroup.make("health")
  .add(
    HttpApiEndpoint.get("alive", "/health").addSuccess(
      Schema.Struct({ status: Schema.Literal("alive") }),
    ),
  )
  .add(
    HttpApiEndpoint.get("ready", "/health/ready")
      .addSuccess(
        Schema.Struct({ status: Schema.Literal("ready"), dbShardIds: Schema.Array(DbShardId) }),
      )
      .addError(NotReady),
  )
  .annotate(
    OpenApi.Description,
    "Public: liveness, and readiness (migrated, DB shards reachable)",
  ) {}

export class RoutesGroup extends HttpApiGroup.make("routes")
  .add(HttpApiEndpoint.get("guild")`/guilds/${guildIdParam}`.addSuccess(GuildRoute))
  .add(
    HttpApiEndpoint.get("existingGuild")`/guilds/${guildIdParam}/existing`
      .addSuccess(GuildRoute)
      .addError(GuildNotRouted)
      .annotate(
        OpenApi.Description,
        "The guild's route if it has one; never assigns one (for read-only tools such as export)",
      ),
  )
  .add(
    HttpApiEndpoint.post("guilds", "/guilds/batch")
      .setPayload(
        Schema.Struct({ guildIds: Schema.Array(Snowflake).pipe(Schema.maxItems(MAX_BATCH)) }),
      )
      .addSuccess(Schema.Struct({ routes: Schema.Array(GuildRoute) })),
  )
  .add(HttpApiEndpoint.get("user")`/users/${userIdParam}`.addSuccess(UserRoute))
  .add(
    HttpApiEndpoint.post("users", "/users/batch")
      .setPayload(
        Schema.Struct({ userIds: Schema.Array(Snowflake).pipe(Schema.maxItems(MAX_BATCH)) }),
      )
      .addSuccess(Schema.Struct({ routes: Schema.Array(UserRoute) })),
  )
  .addError(RoutingUnavailable)
  .prefix("/v1/routes")
  .middleware(Authorization)
  .annotate(
    OpenApi.Description,
    "The DB shard of a guild or user; assigned on the first ask (not by `existing`), never changed",
  ) {}

export class ShardsGroup extends HttpApiGroup.make("shards")
  .add(
    HttpApiEndpoint.get("list", "/v1/shards").addSuccess(
      Schema.Struct({ shards: Schema.Array(DbShard) }),
    ),
  )
  .addError(RoutingUnavailable)
  .middleware(Authorization) {}

export class GatewaysGroup extends HttpApiGroup.make("gateways")
  .add(
    HttpApiEndpoint.put("heartbeat")`/v1/gateways/${instanceIdParam}/heartbeat`
      .setPayload(Heartbeat)
      .addSuccess(HttpApiSchema.NoContent),
  )
  .add(
    HttpApiEndpoint.get("list", "/v1/gateways").addSuccess(
      Schema.Struct({ gateways: Schema.Array(Gateway) }),
    ),
  )
  .addError(RoutingUnavailable)
  .middleware(Authorization) {}

export class Api extends HttpApi.make("manager")
  .add(HealthGroup)
  .add(RoutesGroup)
  .add(ShardsGroup)
  .add(GatewaysGroup)
  .annotateContext(
    OpenApi.annotations({
      title: "Tally manager",
      description: "Routes guilds and users to DB shards; tracks gateway processes.",
      version: "1",
    }),
  ) {}
