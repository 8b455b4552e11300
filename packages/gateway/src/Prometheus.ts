/**
 * Renders Effect's metric registry as Prometheus text (exposition format 0.0.4): counters,
 * gauges, histograms (cumulative buckets, `_sum`, `_count`), frequencies as one counter per value
 * and summaries as quantiles.
 */
import { Metric, type MetricKey, MetricState } from "effect"

const escapeLabel = (value: string) =>
  value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')

const sanitize = (name: string) => name.replace(/[^a-zA-Z0-9_:]/g, "_")

const labels = (pairs: ReadonlyArray<readonly [string, string]>) =>
  pairs.length === 0
    ? ""
    : `{${pairs.map(([key, value]) => `${sanitize(key)}="${escapeLabel(value)}"`).join(",")}}`

const number = (value: number | bigint) =>
  typeof value === "bigint"
    ? value.toString()
    : Number.isFinite(value)
      ? String(value)
      : value > 0
        ? "+Inf"
        : value < 0
          ? "-Inf"
          : "NaN"

export const render = (): string => {
  const families = new Map<string, { help: string; type: string; lines: Array<string> }>()
  const family = (name: string, type: string, key: MetricKey.MetricKey.Untyped) => {
    let found = families.get(name)
    if (!found) {
      found = {
        help: key.description._tag === "Some" ? key.description.value : name,
        type,
        lines: [],
      }
      families.set(name, found)
    }
    return found
  }

  for (const { metricKey, metricState } of Metric.unsafeSnapshot()) {
    const name = sanitize(metricKey.name)
    const tags = metricKey.tags.map((tag) => [tag.key, tag.value] as const)
    if (MetricState.isCounterState(metricState)) {
      family(name, "counter", metricKey).lines.push(
        `${name}${labels(tags)} ${number(metricState.count)}`,
      )
    } else if (MetricState.isGaugeState(metricState)) {
      family(name, "gauge", metricKey).lines.push(
        `${name}${labels(tags)} ${number(metricState.value)}`,
      )
    } else if (MetricState.isHistogramState(metricState)) {
      const lines = family(name, "histogram", metricKey).lines
      for (const [boundary, count] of metricState.buckets) {
        lines.push(`${name}_bucket${labels([...tags, ["le", number(boundary)]])} ${count}`)
      }
      // Effect's boundaries end with Infinity already; a second +Inf bucket would be a duplicate
      // series, which Prometheus refuses.
      if (metricState.buckets.at(-1)?.[0] !== Number.POSITIVE_INFINITY) {
        lines.push(`${name}_bucket${labels([...tags, ["le", "+Inf"]])} ${metricState.count}`)
      }
      lines.push(`${name}_sum${labels(tags)} ${number(metricState.sum)}`)
      lines.push(`${name}_count${labels(tags)} ${metricState.count}`)
    } else if (MetricState.isFrequencyState(metricState)) {
      const lines = family(name, "counter", metricKey).lines
      for (const [value, count] of metricState.occurrences) {
        lines.push(`${name}${labels([...tags, ["value", value]])} ${count}`)
      }
    } else if (MetricState.isSummaryState(metricState)) {
      const lines = family(name, "summary", metricKey).lines
      for (const [quantile, value] of metricState.quantiles) {
        if (value._tag === "Some") {
          lines.push(
            `${name}${labels([...tags, ["quantile", String(quantile)]])} ${number(value.value)}`,
          )
        }
      }
      lines.push(`${name}_sum${labels(tags)} ${number(metricState.sum)}`)
      lines.push(`${name}_count${labels(tags)} ${metricState.count}`)
    }
  }

  const out: Array<string> = []
  for (const [name, { help, type, lines }] of [...families].sort(([a], [b]) =>
    a.localeCompare(b),
  )) {
    out.push(`# HELP ${name} ${help.replace(/\n/g, " ")}`, `# TYPE ${name} ${type}`, ...lines)
  }
  return `${out.join("\n")}\n`
}
