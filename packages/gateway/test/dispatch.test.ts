import { describe, expect, it } from "@effect/vitest"
import type { Snowflake } from "@tally/domain/Snowflake"
import { Context, Deferred, Effect, Either, Fiber, Layer, Queue, TestClock } from "effect"
import { parseShardIds } from "../src/Config"
import { Counter, type MessageEvent } from "../src/Counter"
import * as Dispatch from "../src/Dispatch"
import * as GuildState from "../src/GuildState"

const id = (text: string) => text as Snowflake

const GUILD = id("260730761364171728")
const CATEGORY = id("300000000000000001")
const TEXT = id("300000000000000002")
const THREAD = id("300000000000000003")
const ROLE = id("300000000000000004")
const USER = id("400000000000000001")

/** A Counter doing nothing but what `overrides` say (the rest of its surface is inert). */
const fakeCounter = (overrides: Partial<Context.Tag.Service<Counter>>) =>
  Layer.succeed(Counter, {
    countMessage: () => Effect.void,
    countMessages: () => Effect.void,
    forgetGuild: () => Effect.void,
    roleDeleted: () => Effect.void,
    shutdown: Effect.succeed({ savedEvents: 0 }),
    stats: Effect.succeed({ waitingEvents: 0, waitingGuilds: 0 }),
    lastMessageChannel: () => Effect.succeedNone,
    ...overrides,
  } as unknown as Context.Tag.Service<Counter>)

/** Dispatch over the guild state and a counter doing what `overrides` say. */
const dispatchWith = (overrides: Partial<Context.Tag.Service<Counter>>) =>
  Dispatch.layer().pipe(
    Layer.provideMerge(GuildState.layer),
    Layer.provideMerge(fakeCounter(overrides)),
  )

/** A Counter that records what it is given. */
const recordingCounter = () => {
  const counted: Array<MessageEvent> = []
  const forgotten: Array<Snowflake> = []
  const rolesDeleted: Array<[Snowflake, Snowflake]> = []
  const layer = Layer.succeed(
    Counter,
    Counter.of({
      countMessage: (event) => Effect.sync(() => void counted.push(event)),
      countMessages: (events) => Effect.sync(() => void counted.push(...events)),
      forgetGuild: (guildId) => Effect.sync(() => void forgotten.push(guildId)),
      roleDeleted: (guildId, roleId) =>
        Effect.sync(() => void rolesDeleted.push([guildId, roleId])),
      shutdown: Effect.succeed({ savedEvents: 0 }),
      stats: Effect.succeed({ waitingEvents: 0, waitingGuilds: 0 }),
    }),
  )
  return { counted, forgotten, rolesDeleted, layer }
}

const setup = (options: Partial<Dispatch.DispatchOptions> = {}) => {
  const counter = recordingCounter()
  const layer = Dispatch.layer(options).pipe(
    Layer.provideMerge(GuildState.layer),
    Layer.provideMerge(counter.layer),
  )
  return { ...counter, layer }
}

let sequence = 0
const envelope = (event: string, data: unknown, discordShardId = 0): Dispatch.Envelope => ({
  discordShardId,
  sequence: ++sequence,
  event,
  data,
})

const guildCreate = (extra: Record<string, unknown> = {}) =>
  envelope("GUILD_CREATE", {
    id: GUILD,
    name: "Guild",
    owner_id: USER,
    afk_channel_id: null,
    roles: [{ id: ROLE, position: 1, permissions: "0", name: "r" }],
    channels: [
      { id: CATEGORY, type: 4, parent_id: null },
      { id: TEXT, type: 0, parent_id: CATEGORY },
    ],
    threads: [],
    members: [{ user: { id: USER }, roles: [ROLE] }],
    ...extra,
  })

let messageNumber = 0
const message = (channelId: Snowflake, extra: Record<string, unknown> = {}) =>
  envelope("MESSAGE_CREATE", {
    id: String(1_000_000_000_000_000_000n + BigInt(++messageNumber)),
    channel_id: channelId,
    guild_id: GUILD,
    author: { id: USER, bot: false, username: "u" },
    member: { roles: [ROLE], joined_at: "2025-01-01T00:00:00Z" },
    type: 0,
    content: "",
    ...extra,
  })

const threadCreate = () =>
  envelope("THREAD_CREATE", { id: THREAD, guild_id: GUILD, type: 11, parent_id: TEXT })

describe("Dispatch resolves a message's channel before counting", () => {
  it.effect("a message in a known text channel goes to the counter with its category", () => {
    const { layer, counted } = setup()
    return Effect.gen(function* () {
      const dispatch = yield* Dispatch.Dispatch
      yield* dispatch.handle(guildCreate())
      yield* dispatch.handle(message(TEXT))
      expect(counted).toHaveLength(1)
      expect(counted[0]).toMatchObject({
        guildId: GUILD,
        channelId: TEXT,
        channelType: 0,
        parentId: null,
        categoryId: CATEGORY,
        authorId: USER,
        authorBot: false,
        messageType: 0,
        memberRoleIds: [ROLE],
      })
    }).pipe(Effect.provide(layer))
  })

  it.effect(
    "a thread message counts for its parent: parent and the parent's category are set",
    () => {
      const { layer, counted } = setup()
      return Effect.gen(function* () {
        const dispatch = yield* Dispatch.Dispatch
        yield* dispatch.handle(guildCreate())
        yield* dispatch.handle(threadCreate())
        yield* dispatch.handle(message(THREAD))
        expect(counted[0]).toMatchObject({
          channelId: THREAD,
          channelType: 11,
          parentId: TEXT,
          categoryId: CATEGORY,
        })
      }).pipe(Effect.provide(layer))
    },
  )

  it.effect(
    "webhook and bot messages reach the counter flagged as bots, even without member",
    () => {
      const { layer, counted } = setup()
      return Effect.gen(function* () {
        const dispatch = yield* Dispatch.Dispatch
        yield* dispatch.handle(guildCreate())
        yield* dispatch.handle(
          message(TEXT, { webhook_id: "500000000000000001", member: undefined }),
        )
        yield* dispatch.handle(message(TEXT, { author: { id: USER, bot: true } }))
        expect(counted.map((event) => event.authorBot)).toEqual([true, true])
      }).pipe(Effect.provide(layer))
    },
  )
})

describe("Dispatch holds messages until their guild or thread is known", () => {
  it.effect("messages of an unknown guild wait for GUILD_CREATE and then count, in order", () => {
    const { layer, counted } = setup()
    return Effect.gen(function* () {
      const dispatch = yield* Dispatch.Dispatch
      const first = message(TEXT)
      const second = message(TEXT)
      yield* dispatch.handle(first)
      yield* dispatch.handle(second)
      expect(counted).toHaveLength(0)
      expect(yield* dispatch.pending).toHaveLength(2)
      yield* dispatch.handle(guildCreate())
      expect(counted.map((event) => event.messageId)).toEqual([
        (first.data as { id: string }).id,
        (second.data as { id: string }).id,
      ])
      expect(yield* dispatch.pending).toHaveLength(0)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a message in a thread not announced yet waits for THREAD_CREATE", () => {
    const { layer, counted } = setup()
    return Effect.gen(function* () {
      const dispatch = yield* Dispatch.Dispatch
      yield* dispatch.handle(guildCreate())
      yield* dispatch.handle(message(THREAD))
      yield* dispatch.handle(message(TEXT))
      expect(counted.map((event) => event.channelId)).toEqual([TEXT])
      yield* dispatch.handle(threadCreate())
      expect(counted.map((event) => event.channelId)).toEqual([TEXT, THREAD])
    }).pipe(Effect.provide(layer))
  })

  it.effect(
    "a message whose channel never appears is dropped as unknown_channel after the timeout",
    () => {
      const { layer, counted } = setup({ pendingTimeout: "10 seconds" })
      return Effect.gen(function* () {
        const dispatch = yield* Dispatch.Dispatch
        const before = yield* Dispatch.skippedCount("unknown_channel")
        yield* dispatch.handle(guildCreate())
        yield* dispatch.handle(message(THREAD))
        yield* TestClock.adjust("9 seconds")
        yield* dispatch.expirePending
        expect(yield* dispatch.pending).toHaveLength(1)
        yield* TestClock.adjust("1 second")
        yield* dispatch.expirePending
        expect(yield* dispatch.pending).toHaveLength(0)
        expect((yield* Dispatch.skippedCount("unknown_channel")) - before).toBe(1)
        yield* dispatch.handle(threadCreate())
        expect(counted).toHaveLength(0)
      }).pipe(Effect.provide(layer))
    },
  )

  it.effect("a guild's waiting queue is bounded; the overflow is counted", () => {
    const { layer, counted } = setup({ maxPendingPerGuild: 3 })
    return Effect.gen(function* () {
      const dispatch = yield* Dispatch.Dispatch
      const before = yield* Dispatch.skippedCount("pending_overflow")
      for (let i = 0; i < 5; i++) yield* dispatch.handle(message(TEXT))
      expect(yield* dispatch.pending).toHaveLength(3)
      expect((yield* Dispatch.skippedCount("pending_overflow")) - before).toBe(2)
      yield* dispatch.handle(guildCreate())
      expect(counted).toHaveLength(3)
    }).pipe(Effect.provide(layer))
  })

  it.effect("waiting messages saved by a previous process are restored and released", () => {
    const first = setup()
    const second = setup()
    return Effect.gen(function* () {
      const saved = yield* Effect.gen(function* () {
        const dispatch = yield* Dispatch.Dispatch
        yield* dispatch.handle(guildCreate())
        yield* dispatch.handle(message(THREAD))
        return yield* dispatch.pending
      }).pipe(Effect.provide(first.layer))
      expect(saved).toHaveLength(1)
      yield* Effect.gen(function* () {
        const dispatch = yield* Dispatch.Dispatch
        yield* dispatch.handle(guildCreate())
        yield* dispatch.restorePending(JSON.parse(JSON.stringify(saved)))
        expect(second.counted).toHaveLength(0)
        yield* dispatch.handle(threadCreate())
        expect(second.counted.map((event) => event.channelId)).toEqual([THREAD])
      }).pipe(Effect.provide(second.layer))
    })
  })
})

describe("Dispatch skips malformed or unexpected payloads and goes on", () => {
  const cases: ReadonlyArray<[string, Dispatch.SkipReason, Record<string, unknown>]> = [
    ["no member", "no_member", { member: undefined }],
    ["no guild (a DM)", "not_in_guild", { guild_id: undefined }],
    ["giant content", "giant_content", { content: "x".repeat(Dispatch.MAX_CONTENT_LENGTH + 1) }],
    ["a numeric id", "malformed", { id: 12345 }],
    ["type as a string", "malformed", { type: "0" }],
    ["roles not an array", "malformed", { member: { roles: "all" } }],
    ["an id past 2^64", "malformed", { channel_id: "99999999999999999999999" }],
  ]
  for (const [name, reason, extra] of cases) {
    it.effect(`${name}: skipped as ${reason}, the next message still counts`, () => {
      const { layer, counted } = setup()
      return Effect.gen(function* () {
        const dispatch = yield* Dispatch.Dispatch
        const before = yield* Dispatch.skippedCount(reason)
        yield* dispatch.handle(guildCreate())
        yield* dispatch.handle(message(TEXT, extra))
        yield* dispatch.handle(message(TEXT))
        expect((yield* Dispatch.skippedCount(reason)) - before).toBe(1)
        expect(counted).toHaveLength(1)
      }).pipe(Effect.provide(layer))
    })
  }

  it.effect("a malformed GUILD_CREATE or null payload is skipped without stopping the loop", () => {
    const { layer, counted } = setup()
    return Effect.gen(function* () {
      const dispatch = yield* Dispatch.Dispatch
      const before = yield* Dispatch.skippedCount("malformed")
      yield* dispatch.handle(envelope("GUILD_CREATE", { id: GUILD, roles: "none" }))
      yield* dispatch.handle(envelope("MESSAGE_CREATE", null))
      yield* dispatch.handle(envelope("GUILD_ROLE_DELETE", 42))
      yield* dispatch.handle(guildCreate())
      yield* dispatch.handle(message(TEXT))
      expect((yield* Dispatch.skippedCount("malformed")) - before).toBe(3)
      expect(counted).toHaveLength(1)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a counter that dies on one event is logged and the loop goes on", () => {
    let calls = 0
    const layer = dispatchWith({
      countMessages: () => Effect.suspend(() => (++calls === 1 ? Effect.die("boom") : Effect.void)),
    })
    return Effect.gen(function* () {
      const dispatch = yield* Dispatch.Dispatch
      const before = yield* Dispatch.skippedCount("handler_failed")
      yield* dispatch.handle(guildCreate())
      yield* dispatch.handle(message(TEXT))
      yield* dispatch.handle(message(TEXT))
      expect(calls).toBe(2)
      expect((yield* Dispatch.skippedCount("handler_failed")) - before).toBe(1)
    }).pipe(Effect.provide(layer))
  })
})

describe("Dispatch.run reads the batches it takes", () => {
  it.scopedLive("a batch that cannot be read is skipped; the loop goes on with the next", () =>
    Effect.gen(function* () {
      const handed: Array<MessageEvent> = []
      const layer = dispatchWith({
        countMessages: (events) => Effect.sync(() => void handed.push(...events)),
      })
      const context = yield* Layer.build(layer)
      const dispatch = Context.get(context, Dispatch.Dispatch)
      yield* dispatch.handle(guildCreate())
      const queue = yield* Queue.unbounded<Dispatch.DispatchBatch>()
      const after = Array.from({ length: 3 }, () => message(TEXT))
      const unreadable: Dispatch.DispatchBatch = {
        size: 2,
        envelopes: () => JSON.parse("[{") as never,
      }
      yield* Queue.offerAll(queue, [unreadable, Dispatch.batchOf(after)])
      const loop = yield* Effect.fork(dispatch.run(queue))
      while (handed.length < after.length) yield* Effect.sleep("10 millis")
      yield* Fiber.interrupt(loop)
      expect(handed.map((event) => event.messageId)).toEqual(
        after.map((envelope) => (envelope.data as { id: string }).id),
      )
    }).pipe(Effect.timeout("10 seconds")),
  )
})

describe("Dispatch lets the event loop run behind a backlog", () => {
  it.scopedLive("a callback queued on the event loop runs between passes, not after them", () =>
    Effect.gen(function* () {
      const counted: Array<MessageEvent> = []
      // A counter as slow as a busy one: each pass of the loop takes 30 ms.
      const layer = dispatchWith({
        countMessages: (events) =>
          Effect.sync(() => {
            const until = performance.now() + 30
            while (performance.now() < until) {}
            counted.push(...events)
          }),
      })
      const context = yield* Layer.build(layer)
      const dispatch = Context.get(context, Dispatch.Dispatch)
      yield* dispatch.handle(guildCreate())
      const before = counted.length
      const queue = yield* Queue.unbounded<Dispatch.DispatchBatch>()
      const backlog = Array.from({ length: 4096 }, () => message(TEXT))
      yield* Queue.offerAll(queue, [Dispatch.batchOf(backlog)])
      // Like a database's answer or the thread's next batch: it needs a turn of the event loop.
      let countedWhenRun: number | undefined
      setImmediate(() => {
        countedWhenRun = counted.length - before
      })
      const loop = yield* Effect.fork(dispatch.run(queue))
      while (counted.length - before < backlog.length) yield* Effect.sleep("5 millis")
      yield* Fiber.interrupt(loop)
      expect(countedWhenRun).toBeGreaterThan(0)
      expect(countedWhenRun).toBeLessThan(backlog.length)
    }).pipe(Effect.timeout("10 seconds")),
  )
})

describe("Dispatch marks a run of messages processed with its hand-over", () => {
  it.scopedLive(
    "the loop stopped while the counter waits for room: the run it handed over is marked processed",
    () =>
      Effect.gen(function* () {
        const handed: Array<MessageEvent> = []
        const waiting = yield* Deferred.make<void>()
        // Like Counter.countMessages: the events are taken, then a wait for room that an
        // interruption ends early (the counter keeps them).
        const layer = dispatchWith({
          countMessages: (events) =>
            Effect.sync(() => void handed.push(...events)).pipe(
              Effect.zipRight(Deferred.succeed(waiting, undefined)),
              Effect.zipRight(Effect.exit(Effect.interruptible(Effect.never))),
              Effect.asVoid,
            ),
        })
        const context = yield* Layer.build(layer)
        const dispatch = Context.get(context, Dispatch.Dispatch)
        yield* dispatch.handle(guildCreate())
        const queue = yield* Queue.unbounded<Dispatch.DispatchBatch>()
        const run = Array.from({ length: 5 }, () => message(TEXT))
        yield* Queue.offerAll(queue, [
          Dispatch.batchOf(run.slice(0, 2)),
          Dispatch.batchOf(run.slice(2)),
        ])
        const loop = yield* Effect.fork(dispatch.run(queue))
        yield* Deferred.await(waiting)
        yield* Fiber.interrupt(loop)
        expect(handed).toHaveLength(5)
        expect(yield* dispatch.processedSequence(0)).toBe(run[4]!.sequence)
      }),
  )
})

describe("Dispatch keeps guild state current", () => {
  it.effect("GUILD_DELETE forgets the guild; GUILD_ROLE_DELETE removes the role everywhere", () => {
    const { layer, forgotten, rolesDeleted } = setup()
    return Effect.gen(function* () {
      const dispatch = yield* Dispatch.Dispatch
      const state = yield* GuildState.GuildState
      yield* dispatch.handle(guildCreate())
      yield* dispatch.handle(envelope("GUILD_ROLE_DELETE", { guild_id: GUILD, role_id: ROLE }))
      expect(rolesDeleted).toEqual([[GUILD, ROLE]])
      expect(state.store.role(GUILD, ROLE)).toBeUndefined()
      expect(state.store.memberRoles(GUILD, USER)).toEqual([])
      yield* dispatch.handle(envelope("GUILD_DELETE", { id: GUILD, unavailable: true }))
      expect(state.store.has(GUILD)).toBe(true)
      yield* dispatch.handle(envelope("GUILD_DELETE", { id: GUILD }))
      expect(state.store.has(GUILD)).toBe(false)
      expect(forgotten).toEqual([GUILD])
    }).pipe(Effect.provide(layer))
  })

  it.effect(
    "CHANNEL_DELETE removes the channel and its threads; THREAD_LIST_SYNC replaces threads",
    () => {
      const { layer } = setup()
      return Effect.gen(function* () {
        const dispatch = yield* Dispatch.Dispatch
        const { store } = yield* GuildState.GuildState
        yield* dispatch.handle(guildCreate())
        yield* dispatch.handle(threadCreate())
        yield* dispatch.handle(
          envelope("CHANNEL_DELETE", { id: TEXT, guild_id: GUILD, type: 0, parent_id: CATEGORY }),
        )
        expect(store.channel(GUILD, TEXT)).toBeUndefined()
        expect(store.channel(GUILD, THREAD)).toBeUndefined()
        yield* dispatch.handle(
          envelope("THREAD_LIST_SYNC", {
            guild_id: GUILD,
            threads: [{ id: THREAD, type: 12, parent_id: CATEGORY }],
          }),
        )
        expect(store.channel(GUILD, THREAD)?.type).toBe(12)
      }).pipe(Effect.provide(layer))
    },
  )

  it.effect("member roles and the bot's own roles follow READY and GUILD_MEMBER_* events", () => {
    const { layer } = setup()
    const BOT = id("400000000000000099")
    return Effect.gen(function* () {
      const dispatch = yield* Dispatch.Dispatch
      const { store } = yield* GuildState.GuildState
      yield* dispatch.handle(envelope("READY", { user: { id: BOT }, guilds: [] }))
      yield* dispatch.handle(guildCreate())
      yield* dispatch.handle(
        envelope("GUILD_MEMBER_ADD", { guild_id: GUILD, user: { id: BOT }, roles: [ROLE] }),
      )
      expect(store.botRoles(GUILD)).toEqual([ROLE])
      yield* dispatch.handle(
        envelope("GUILD_MEMBER_UPDATE", { guild_id: GUILD, user: { id: USER }, roles: [] }),
      )
      expect(store.memberRoles(GUILD, USER)).toEqual([])
      yield* dispatch.handle(
        envelope("GUILD_MEMBER_REMOVE", { guild_id: GUILD, user: { id: USER } }),
      )
      expect(store.memberRoles(GUILD, USER)).toBeUndefined()
    }).pipe(Effect.provide(layer))
  })

  it.effect(
    "where the bot may post follows its roles, the channels' overwrites (a thread: its parent's) and their updates",
    () => {
      const { layer } = setup()
      const BOT = id("400000000000000099")
      const view = 1n << 10n
      const send = 1n << 11n
      const inThreads = 1n << 38n
      const overwrite = (overwriteId: string, allow: bigint, deny: bigint) => ({
        id: overwriteId,
        type: 0,
        allow: String(allow),
        deny: String(deny),
      })
      const text = (overwrites: ReadonlyArray<unknown>) => ({
        id: TEXT,
        type: 0,
        parent_id: CATEGORY,
        permission_overwrites: overwrites,
      })
      return Effect.gen(function* () {
        const dispatch = yield* Dispatch.Dispatch
        const { store } = yield* GuildState.GuildState
        yield* dispatch.handle(envelope("READY", { user: { id: BOT }, guilds: [] }))
        yield* dispatch.handle(
          guildCreate({
            roles: [
              { id: GUILD, position: 0, permissions: String(view | send), name: "@everyone" },
              { id: ROLE, position: 1, permissions: String(inThreads), name: "r" },
            ],
            channels: [
              { id: CATEGORY, type: 4, parent_id: null, permission_overwrites: [] },
              text([overwrite(GUILD, 0n, send)]),
            ],
          }),
        )
        // The bot's member is not known yet: Discord must tell.
        expect(store.botCanSendIn(GUILD, TEXT)).toBeUndefined()
        yield* dispatch.handle(
          envelope("GUILD_MEMBER_ADD", { guild_id: GUILD, user: { id: BOT }, roles: [] }),
        )
        expect(store.botCanSendIn(GUILD, TEXT)).toBe(false)
        expect(store.botCanSendIn(GUILD, CATEGORY)).toBe(true)
        // A role's overwrite allows it again.
        yield* dispatch.handle(
          envelope("CHANNEL_UPDATE", {
            ...text([overwrite(GUILD, 0n, send), overwrite(ROLE, send, 0n)]),
            guild_id: GUILD,
          }),
        )
        expect(store.botCanSendIn(GUILD, TEXT)).toBe(false)
        yield* dispatch.handle(
          envelope("GUILD_MEMBER_UPDATE", { guild_id: GUILD, user: { id: BOT }, roles: [ROLE] }),
        )
        expect(store.botCanSendIn(GUILD, TEXT)).toBe(true)
        // A thread: its parent's overwrites, and the thread permission (the role's).
        yield* dispatch.handle(threadCreate())
        expect(store.botCanSendIn(GUILD, THREAD)).toBe(true)
        yield* dispatch.handle(
          envelope("CHANNEL_UPDATE", {
            ...text([overwrite(ROLE, 0n, inThreads)]),
            guild_id: GUILD,
          }),
        )
        expect(store.botCanSendIn(GUILD, THREAD)).toBe(false)
        expect(store.botCanSendIn(GUILD, TEXT)).toBe(true)
        // A role of the bot's not known: unknown, not "no permission".
        yield* dispatch.handle(
          envelope("GUILD_MEMBER_UPDATE", {
            guild_id: GUILD,
            user: { id: BOT },
            roles: [ROLE, "300000000000000099"],
          }),
        )
        expect(store.botCanSendIn(GUILD, TEXT)).toBeUndefined()
        yield* dispatch.handle(
          envelope("GUILD_MEMBER_UPDATE", { guild_id: GUILD, user: { id: BOT }, roles: [ROLE] }),
        )
        // An overwrite not understood: the channel is still updated (here: moved to the top),
        // and what the bot may do there, or in its threads, is unknown.
        yield* dispatch.handle(
          envelope("CHANNEL_UPDATE", {
            ...text([{ ...overwrite(GUILD, 0n, 0n), deny: "all" }]),
            parent_id: null,
            guild_id: GUILD,
          }),
        )
        expect(store.channel(GUILD, TEXT)?.parentId).toBeNull()
        expect(store.botCanSendIn(GUILD, TEXT)).toBeUndefined()
        expect(store.botCanSendIn(GUILD, THREAD)).toBeUndefined()
      }).pipe(Effect.provide(layer))
    },
  )

  it.effect(
    "the processed sequence is the last fully handled dispatch of each Discord shard",
    () => {
      const { layer } = setup()
      return Effect.gen(function* () {
        const dispatch = yield* Dispatch.Dispatch
        const a = guildCreate()
        const b = envelope("MESSAGE_CREATE", null, 1)
        yield* dispatch.handle(a)
        yield* dispatch.handle(b)
        expect(yield* dispatch.processedSequence(0)).toBe(a.sequence)
        expect(yield* dispatch.processedSequence(1)).toBe(b.sequence)
        expect(yield* dispatch.processedSequence(2)).toBeUndefined()
      }).pipe(Effect.provide(layer))
    },
  )

  it.effect("a READY (a new session) starts the processed sequence again", () => {
    const { layer } = setup()
    return Effect.gen(function* () {
      const dispatch = yield* Dispatch.Dispatch
      yield* dispatch.handle({ ...guildCreate(), sequence: 210 })
      expect(yield* dispatch.processedSequence(0)).toBe(210)
      yield* dispatch.handle({
        discordShardId: 0,
        sequence: 1,
        event: "READY",
        data: { user: { id: USER }, session_id: "new", guilds: [] },
      })
      expect(yield* dispatch.processedSequence(0)).toBe(1)
      yield* dispatch.handle({ ...guildCreate(), sequence: 2 })
      expect(yield* dispatch.processedSequence(0)).toBe(2)
    }).pipe(Effect.provide(layer))
  })
})

describe("DISCORD_SHARD_IDS", () => {
  it("reads lists and inclusive ranges", () => {
    expect(parseShardIds("0,1")).toEqual(Either.right([0, 1]))
    expect(parseShardIds("0-3")).toEqual(Either.right([0, 1, 2, 3]))
    expect(parseShardIds("5, 0-1")).toEqual(Either.right([0, 1, 5]))
    expect(Either.isLeft(parseShardIds("3-1"))).toBe(true)
    expect(Either.isLeft(parseShardIds("a"))).toBe(true)
  })
})
