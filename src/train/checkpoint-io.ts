// Training checkpoints: one folder per step written under a temporary name and renamed into place,
// holding trainable weights, optimizer moments and the trainer state (step, RNG, data position).
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { WhetError } from '../errors.ts';
import { readSafetensors, writeSafetensors, type SafetensorsTensor } from '../formats/safetensors.ts';
import { writeFileAtomic } from '../formats/atomic.ts';
import { writeAll } from '../formats/file-io.ts';

export interface CheckpointContents {
  /** Trainable tensors by name (weights), and optimizer moments by `m.<name>` / `v.<name>`. */
  tensors: Map<string, Float32Array>;
  shapes: Map<string, number[]>;
  state: Record<string, unknown>;
}

const PREFIX = 'checkpoint-';

/** Writes outDir/checkpoint-<step> atomically and keeps only the newest `keep` checkpoints. */
export function saveCheckpoint(outDir: string, step: number, contents: CheckpointContents, keep = 2): string {
  mkdirSync(outDir, { recursive: true });
  const final = join(outDir, `${PREFIX}${String(step).padStart(7, '0')}`);
  const tmp = `${final}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [name, data] of contents.tensors) tensors.set(name, { dtype: 'F32', shape: contents.shapes.get(name) ?? [data.length], data });
  writeSafetensors(join(tmp, 'state.safetensors'), tensors);
  writeFileAtomic(join(tmp, 'trainer_state.json'), (fd) => writeAll(fd, new TextEncoder().encode(JSON.stringify(contents.state, null, 1))));
  rmSync(final, { recursive: true, force: true });
  renameSync(tmp, final);
  for (const old of listCheckpoints(outDir).slice(0, -keep)) rmSync(join(outDir, old), { recursive: true, force: true });
  return final;
}

/** Complete checkpoint folders, oldest first (temporary ones left by a killed run are ignored). */
export function listCheckpoints(outDir: string): string[] {
  if (!existsSync(outDir)) return [];
  return readdirSync(outDir)
    .filter((n) => n.startsWith(PREFIX) && /^checkpoint-\d+$/.test(n) && existsSync(join(outDir, n, 'trainer_state.json')))
    .sort();
}

export function latestCheckpoint(outDir: string): string | undefined {
  const all = listCheckpoints(outDir);
  return all.length === 0 ? undefined : join(outDir, all[all.length - 1]!);
}

export function loadCheckpoint(dir: string): CheckpointContents {
  const statePath = join(dir, 'trainer_state.json');
  if (!existsSync(statePath)) throw new WhetError(`${dir}: not a checkpoint (no trainer_state.json)`);
  const state = JSON.parse(readFileSync(statePath, 'utf8')) as Record<string, unknown>;
  const { tensors: raw } = readSafetensors(join(dir, 'state.safetensors'));
  const tensors = new Map<string, Float32Array>();
  const shapes = new Map<string, number[]>();
  for (const [name, t] of raw) {
    if (t.dtype !== 'F32') throw new WhetError(`${dir}: checkpoint tensor ${name} is ${t.dtype}, expected F32`);
    tensors.set(name, t.data as Float32Array);
    shapes.set(name, t.shape);
  }
  return { tensors, shapes, state };
}
