// Learning-rate schedules: linear warmup, then constant, linear decay or cosine decay to a floor.
export type ScheduleKind = 'constant' | 'linear' | 'cosine';

export interface Schedule {
  kind: ScheduleKind;
  peakLr: number;
  warmupSteps: number;
  totalSteps: number;
  /** The decay ends at peakLr · minLrRatio (default 0). */
  minLrRatio?: number;
}

/** The learning rate for update number `step` (0-based). */
export function lrAt(s: Schedule, step: number): number {
  if (s.warmupSteps > 0 && step < s.warmupSteps) return (s.peakLr * (step + 1)) / s.warmupSteps;
  if (s.kind === 'constant') return s.peakLr;
  const floor = s.peakLr * (s.minLrRatio ?? 0);
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = Math.min(1, (step - s.warmupSteps) / span);
  const shape = s.kind === 'linear' ? 1 - progress : 0.5 * (1 + Math.cos(Math.PI * progress));
  return floor + (s.peakLr - floor) * shape;
}
