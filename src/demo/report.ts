// The demo's report through eval's report writer: the before/after figures, the forgetting check, sample holdout
// answers of the three models side by side, the served answers, and the SFT and DPO curves.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { METRICS_FILE, readMetrics, writeReport, type ReportTable } from '../eval/report.ts';
import type { DemoResult, DemoSettings } from '../recipes/demo.ts';
import type { HoldoutScore } from './evaluate.ts';

/** The demo's results, its run folders (their metrics.jsonl) and settings. */
export interface DemoReportParts extends Omit<DemoResult, 'report'> {
  sftRun: string;
  dpoRun: string;
  settings: DemoSettings;
  model: string;
}

/** How many holdout requests the side-by-side table shows. */
const SAMPLES = 12;

export function writeDemoReport(outDir: string, p: DemoReportParts): { html: string; markdown: string } {
  const n = p.data.holdout.length;
  // A base model that rambles on would fill the page: answers are cut at twice the length of a long query.
  const cut = (t: string): string => (t === '' ? '(empty)' : t.length > 200 ? `${t.slice(0, 200)}…` : t);
  const mark = (s: HoldoutScore, i: number): string => `${s.perExample[i] === 1 ? '✓' : '✗'} ${cut(s.predictions[i]!)}`;
  const samples: ReportTable = {
    title: 'Sample holdout answers (✓: same result as the gold query on the shop database)',
    headers: ['request (phrasing never seen in training)', 'gold (house style)', 'base model', 'after SFT', 'after DPO'],
    rows: p.data.holdout.slice(0, SAMPLES).map((r, i) => [r.request, r.houseSql, mark(p.base, i), mark(p.sft, i), mark(p.dpo, i)]),
    codeColumns: [1, 2, 3, 4],
  };
  const served: ReportTable = {
    title: `Served by whet serve: one request to the base and to each adapter (adapter switch ${p.serve.switchMs.toFixed(1)} ms, same adapter ${p.serve.sameMs.toFixed(1)} ms per one-token request)`,
    headers: ['model field', 'answer', 'latency'],
    rows: p.serve.answers.map((a) => [a.model, a.answer, `${a.ms.toFixed(0)} ms`]),
    codeColumns: [1],
  };
  const dpoMetrics = join(p.dpoRun, METRICS_FILE);
  const s = p.settings;
  return writeReport(
    p.sftRun,
    {
      title: 'Whetstone demo: SQL in a house dialect',
      intro: [
        `Model ${p.model}. Task: ${p.data.train.length} training requests over ${p.data.trainTemplates.length} phrasing templates, answered by engineers in mixed SQL styles (${Math.round(s.houseShare * 100)}% house style); ` +
          `${n} holdout requests in ${p.data.holdoutTemplates.length} phrasings never seen in training, scored by running the SQL on the shop database (SQLite) against the house's gold query.`,
        `LoRA SFT: ${s.sft.steps} steps, rank ${s.sft.rank}, lr ${s.sft.lr}, batch ${s.sft.batchSize}, on the training requests and ${s.rehearsal.count} documents sampled from the base model (rehearsal, against forgetting). DPO on ${p.data.pairs.length} style pairs (house style chosen, generic rejected): ${s.dpo.steps} steps, beta ${s.dpo.beta}, lr ${s.dpo.lr}, starting from the SFT adapter.`,
      ],
      rows: [
        { metric: `SQL execution accuracy on ${n} holdout requests: base → after SFT`, before: p.base.accuracy, after: p.sft.accuracy, better: 'higher' },
        { metric: 'house-style share of holdout answers: after SFT → after DPO', before: p.sft.houseStyle, after: p.dpo.houseStyle, better: 'higher' },
        { metric: 'SQL execution accuracy: after SFT → after DPO', before: p.sft.accuracy, after: p.dpo.accuracy, better: 'higher' },
        { metric: 'correct and in house style: after SFT → after DPO', before: p.sft.correctHouseStyle, after: p.dpo.correctHouseStyle, better: 'higher' },
      ],
      forgetting: p.forgetting,
      tables: [samples, served],
      runs: existsSync(dpoMetrics) ? [{ title: 'Preference step (DPO on the style pairs)', metrics: readMetrics(dpoMetrics) }] : [],
    },
    { outDir },
  );
}
