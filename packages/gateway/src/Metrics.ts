/**
 * The counting core's metrics, as Effect `Metric`s; `/metrics` renders them as Prometheus text.
 * Names follow Prometheus conventions: `_total` for counters, units in the name.
 */
import { Metric, MetricBoundaries } from "effect"

/** Every `MESSAGE_CREATE` handed to the counter. */
export const messagesReceived = Metric.counter("tally_gateway_messages_total", {
  description: "Messages handed to the counter",
  incremental: true,
})

export const messagesCounted = Metric.counter("tally_gateway_messages_counted_total", {
  description: "Messages that earned XP",
  incremental: true,
})

const skipped = Metric.counter("tally_gateway_messages_skipped_total", {
  description: "Messages that earned nothing, by reason",
  incremental: true,
})

/** One tagged metric per tag value, made once (tagging on every update is costly). */
const taggedBy = <Type, In, Out>(metric: Metric.Metric<Type, In, Out>, tag: string) => {
  const made = new Map<string, Metric.Metric<Type, In, Out>>()
  return (value: string): Metric.Metric<Type, In, Out> => {
    let tagged = made.get(value)
    if (tagged === undefined) {
      tagged = Metric.tagged(metric, tag, value)
      made.set(value, tagged)
    }
    return tagged
  }
}

/** Skipped messages, tagged with the award's reason (`BotAuthor`, `MessageCooldown`, …). */
export const messagesSkipped = taggedBy(skipped, "reason")

const dropped = Metric.counter("tally_gateway_messages_dropped_total", {
  description: "Messages that could not wait for their guild (queue full), by reason",
  incremental: true,
})

export const messagesDropped = taggedBy(dropped, "reason")

export const messagesWaiting = Metric.gauge("tally_gateway_messages_waiting", {
  description: "Messages waiting for their guild's route, settings or a member's total",
})

export const bufferedRows = Metric.gauge("tally_gateway_buffered_rows", {
  description: "Activity rows waiting in buffers and unflushed batches",
})

export const memberTotals = Metric.gauge("tally_gateway_member_totals", {
  description: "Members whose all-time XP is held in memory (idle ones are evicted)",
})

export const oldestBufferedAgeSeconds = Metric.gauge("tally_gateway_oldest_buffered_age_seconds", {
  description: "Age of the oldest row not yet written (0 when none waits)",
})

export const flushDuration = Metric.histogram(
  "tally_gateway_flush_duration_milliseconds",
  MetricBoundaries.exponential({ start: 2, factor: 2, count: 14 }),
  "Time one batch write attempt took",
)

export const flushedRows = Metric.counter("tally_gateway_flushed_rows_total", {
  description: "Activity rows written to DB shards",
  incremental: true,
})

export const flushRetries = Metric.counter("tally_gateway_flush_retries_total", {
  description: "Batch write attempts that failed and were retried",
  incremental: true,
})

export const deadLetteredBatches = Metric.counter("tally_gateway_dead_lettered_batches_total", {
  description: "Batches given up on and written to the dead-letter file",
  incremental: true,
})
