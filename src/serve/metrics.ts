// The engine's statistics in Prometheus' text exposition format 0.0.4 (HELP and TYPE before each metric).
import type { EngineStats } from './types.ts';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** A label value with backslash, quote and newline escaped, as the format requires. */
const label = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export function prometheusText(stats: EngineStats): string {
  const metric = (name: string, type: 'gauge' | 'counter', help: string, samples: [labels: string, value: number][]): string =>
    [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples.map(([l, v]) => `${name}${l} ${v}`)].join('\n');
  return [
    metric('whet_queue_length', 'gauge', 'Requests waiting for a batch slot.', [['', stats.queued]]),
    metric('whet_running_sequences', 'gauge', 'Sequences being prefilled or decoded.', [['', stats.running]]),
    metric('whet_tokens_per_second', 'gauge', 'Generated tokens per second over the last few seconds.', [['', stats.tokensPerSecond]]),
    metric('whet_generated_tokens_total', 'counter', 'Tokens generated since the server started.', [['', stats.generatedTokens]]),
    metric('whet_requests_total', 'counter', "Generation requests received, by adapter ('' for the base model).",
      Object.entries(stats.requestsByAdapter).map(([name, n]) => [`{adapter="${label(name)}"}`, n])),
  ].join('\n') + '\n';
}
