// A progress bar on stderr: done/total, rate, ETA and extra fields (loss); silent when stderr is not a terminal.
export class Progress {
  private readonly start = Date.now();
  private lastDraw = 0;
  private readonly tty: boolean;

  constructor(private readonly label: string, private readonly total: number, private readonly unit = 'tok') {
    this.tty = process.stderr.isTTY === true && process.env.WHET_NO_PROGRESS === undefined;
  }

  update(done: number, fields: Record<string, string | number> = {}): void {
    const now = Date.now();
    if (!this.tty || (now - this.lastDraw < 100 && done < this.total)) return;
    this.lastDraw = now;
    const secs = (now - this.start) / 1000;
    const rate = done / Math.max(secs, 1e-9);
    const frac = this.total > 0 ? Math.min(done / this.total, 1) : 0;
    const width = 24;
    const bar = '█'.repeat(Math.round(frac * width)).padEnd(width, '░');
    const eta = rate > 0 ? (this.total - done) / rate : 0;
    const extra = Object.entries(fields).map(([k, v]) => `${k} ${typeof v === 'number' ? v.toFixed(4) : v}`).join('  ');
    process.stderr.write(`\r${this.label} ${bar} ${done}/${this.total} ${rate.toFixed(1)} ${this.unit}/s  ETA ${formatTime(eta)}  ${extra}\x1b[K`);
  }

  done(): void {
    if (this.tty) process.stderr.write('\n');
  }
}

export function formatTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  return h > 0 ? `${h}h${String(m % 60).padStart(2, '0')}m` : m > 0 ? `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s` : `${s.toFixed(0)}s`;
}
