/**
 * The flood scene ActivityRank was measured in: one guild, 2,000 members, 8 roles (0–3 per
 * member), 10 text channels, and `messages` messages without content from random members in
 * random channels; the same scene on every run.
 */
import type { ReplayMessage, WorldSpec } from "@tally/discord-sim/World"
import { fromTimestamp } from "@tally/domain/Snowflake"

/** A small deterministic generator (mulberry32), so every run replays the same scene. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

export const floodWorld = (messages: number): WorldSpec => {
  const next = random(7)
  const base = Date.now() - 400 * 86_400_000
  const guildId = fromTimestamp(base)
  const roles = Array.from({ length: 8 }, (_, i) => ({
    id: fromTimestamp(base + 10 + i),
    name: `flood-role-${i}`,
    position: i + 1,
  }))
  const channels = Array.from({ length: 10 }, (_, i) => ({
    id: fromTimestamp(base + 100 + i),
    type: 0,
    name: `flood-channel-${i}`,
    position: i,
  }))
  const members = Array.from({ length: 2000 }, (_, i) => {
    const held = new Set<string>()
    const count = Math.floor(next() * 4)
    while (held.size < count) held.add(roles[Math.floor(next() * roles.length)]!.id)
    return {
      userId: fromTimestamp(base + 1000 + i),
      // long names bring a frame to about 1 KB, as in the scene ActivityRank was measured in
      username: `flood_member_${String(i).padStart(4, "0")}_${"x".repeat(14)}`,
      nick: `Flood Member ${String(i).padStart(4, "0")} ${"n".repeat(14)}`,
      roles: [...held],
    }
  })
  const start = Date.now() - messages - 60_000
  const replay: Array<ReplayMessage> = Array.from({ length: messages }, (_, i) => ({
    id: fromTimestamp(start + i),
    guild_id: guildId,
    channel_id: channels[Math.floor(next() * channels.length)]!.id,
    author: members[Math.floor(next() * members.length)]!.userId,
    bot: false,
    type: 0,
    content: "",
  }))
  return {
    guilds: [{ id: guildId, name: "Flood", ownerId: members[0]!.userId, channels, roles, members }],
    messages: replay,
  }
}
