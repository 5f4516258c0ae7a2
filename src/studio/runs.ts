// Training runs under a folder: every folder holding a metrics.jsonl, with its method, model, state (running,
// finished, interrupted, failed), steps, best holdout loss, checkpoints and evaluation reports.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { readRunInfo, type RunState } from '../train/run-info.ts';

export interface RunSummary {
  /** The folder relative to the runs root, with '/' separators: the run's id in URLs. */
  id: string;
  method: string;
  model: string;
  state: RunState;
  steps: number;
  /** Steps the run was asked for, when its run.json says. */
  totalSteps?: number;
  bestHoldout?: number;
  lastLoss?: number;
  updated: string;
  checkpoints: number;
  /** Files in the folder a person reads: evaluation reports. */
  reports: string[];
}

const MAX_DEPTH = 4;
/** A run without run.json whose metrics have not moved for this long, and that left no model, has stopped unfinished. */
const STALE_MS = 120_000;
const REPORT = /(^|[-_.])(report|eval|predictions)([-_.]|$).*\.(html|json|jsonl|md)$/i;

/** Run folders under root (those with a metrics.jsonl), newest first. */
export function findRuns(root: string): string[] {
  const found: { dir: string; mtime: number }[] = [];
  const walk = (dir: string, depth: number): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    if (entries.some((e) => e.isFile() && e.name === 'metrics.jsonl')) found.push({ dir, mtime: statSync(join(dir, 'metrics.jsonl')).mtimeMs });
    if (depth < MAX_DEPTH)
      for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.') && !e.name.startsWith('checkpoint-') && e.name !== 'node_modules') walk(join(dir, e.name), depth + 1);
  };
  walk(root, 0);
  return found.sort((a, b) => b.mtime - a.mtime).map((f) => relative(root, f.dir).split(sep).join('/') || '.');
}

/** The metric lines of a metrics.jsonl text, complete lines only. */
export function parseMetricLines(text: string): Record<string, number>[] {
  const out: Record<string, number>[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as Record<string, number>);
    } catch {
      // the line being written as we read
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function summarizeRun(root: string, id: string, dir: string): RunSummary {
  const metricsPath = join(dir, 'metrics.jsonl');
  const lines = parseMetricLines(readFileSync(metricsPath, 'utf8'));
  const mtime = statSync(metricsPath).mtimeMs;
  const info = readRunInfo(dir);
  const output = existsSync(join(dir, 'adapter')) || existsSync(join(dir, 'model'));
  let state: RunState;
  if (info === undefined) state = output ? 'finished' : Date.now() - mtime < STALE_MS ? 'running' : 'failed';
  // A trainer killed outright (SIGKILL, out of memory) could not say so: its pid is gone while run.json says running.
  else state = info.state === 'running' && !alive(info.pid) ? 'failed' : info.state;
  const entries = readdirSync(dir);
  const holdouts = lines.map((l) => l.holdout_loss).filter((v): v is number => typeof v === 'number');
  const steps = typeof info?.config.steps === 'number' ? info.config.steps : undefined;
  return {
    id, method: info?.method ?? '?', model: info?.model ?? '?', state, steps: lines.at(-1)?.step ?? 0, totalSteps: steps,
    bestHoldout: holdouts.length > 0 ? Math.min(...holdouts) : undefined, lastLoss: lines.at(-1)?.loss,
    updated: new Date(mtime).toISOString(), checkpoints: entries.filter((e) => /^checkpoint-\d+$/.test(e)).length,
    reports: entries.filter((e) => REPORT.test(e)).sort(),
  };
}
