// run.json in a training run's folder: its method, model and resolved config, and whether it is running, finished
// or failed (with the trainer's pid, so a run killed without a word can be told from a live one).
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../formats/atomic.ts';
import { writeAll } from '../formats/file-io.ts';

export type RunState = 'running' | 'finished' | 'interrupted' | 'failed';

export interface RunInfo {
  method: string;
  model: string;
  state: RunState;
  pid: number;
  started: string;
  ended?: string;
  error?: string;
  config: Record<string, unknown>;
}

export const RUN_INFO = 'run.json';

export function writeRunInfo(dir: string, info: RunInfo): void {
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(join(dir, RUN_INFO), (fd) => writeAll(fd, new TextEncoder().encode(JSON.stringify(info, null, 1) + '\n')));
}

/** The run's run.json, or undefined when it has none (a run from before it was written) or it cannot be read. */
export function readRunInfo(dir: string): RunInfo | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, RUN_INFO), 'utf8')) as RunInfo;
  } catch {
    return undefined;
  }
}
