// Times the addon's qgemm on a SmolLM2-135M-shaped model kept quantised, its matrices back to back in one buffer:
// decode (m = 1: ms per token and GB/s of weights read, against bf16 gemv on the same shapes), batched decode
// (m ≤ 16) and prefill / backward products (GFLOP/s against the fp32 GEMM on the same shape). 256-block types pad
// k = 576 to 768 (576 is not a whole number of their blocks). The machine's bandwidth is the figure to hold the
// GB/s against (../shared/bench-anchor/membw.c).
// Usage: node --import tsx scripts/bench-qgemm.ts [--what decode,batch,prefill] [--threads 2] [--tokens 20]
//        [--types Q8_0,Q4_K,Q4_0,Q6_K]
import { loadAddon } from '../src/backend/addon.ts';

const addon = loadAddon();
if (addon === null) throw new Error('the native addon is not built (npm run build:native)');
const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
addon.setThreads(Number(arg('threads', '2')));
const tokens = Number(arg('tokens', '20'));
const TYPES: Record<string, { id: number; block: number; bytes: number }> = {
  Q8_0: { id: 8, block: 32, bytes: 34 },
  Q4_0: { id: 2, block: 32, bytes: 18 },
  Q4_K: { id: 12, block: 256, bytes: 144 },
  Q6_K: { id: 14, block: 256, bytes: 210 },
};
const types = arg('types', 'Q8_0,Q4_K').split(',');

// [rows (n), k] per matrix: 30 layers of q, k, v, o, gate, up, down, then the tied embedding as the output head.
const LAYER: Array<[number, number]> = [[576, 576], [192, 576], [192, 576], [576, 576], [1536, 576], [1536, 576], [576, 1536]];
const MATS: Array<[number, number]> = [];
for (let l = 0; l < 30; l++) MATS.push(...LAYER);
MATS.push([49152, 576]);

let seed = 12345;
const rnd = (): number => {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return seed / 4294967296;
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Random bytes, 4 at a time (the fill of ~100 MB must not dominate the run). */
function fillRandom(buf: Uint8Array): void {
  const words = new Uint32Array(buf.buffer, buf.byteOffset, buf.byteLength >>> 2);
  for (let i = 0; i < words.length; i++) words[i] = (Math.random() * 4294967296) >>> 0;
}

interface Model { name: string; bytes: number; step: () => void }

/** The model's matrices back to back in one buffer (huge pages asked for before it is written), and one decode step. */
function quantModel(type: string, m: number): Model {
  const t = TYPES[type];
  const kOf = (k: number): number => Math.ceil(k / t.block) * t.block;
  const shapes = MATS.map(([n, k]) => [n, kOf(k)] as [number, number]);
  const sizes = shapes.map(([n, k]) => n * (k / t.block) * t.bytes);
  const total = sizes.reduce((a, b) => a + b, 0);
  const buf = new Uint8Array(total);
  addon!.adviseHugePages(buf);
  fillRandom(buf);
  // Sane f16 scales (0x2000 ≈ 0.0078) so that no block holds NaN or infinity.
  const scaleAt = type === 'Q6_K' ? [208] : type === 'Q4_K' ? [0, 2] : [0];
  for (let b = 0; b < total; b += t.bytes) for (const s of scaleAt) { buf[b + s] = 0; buf[b + s + 1] = 0x20; }
  const views: Uint8Array[] = [];
  let o = 0;
  for (const s of sizes) {
    views.push(buf.subarray(o, o + s));
    o += s;
  }
  const xs = new Map<number, Float32Array>();
  for (const [, k] of shapes) if (!xs.has(k)) xs.set(k, Float32Array.from({ length: m * k }, () => rnd() * 2 - 1));
  const out = new Float32Array(m * 49152);
  const kNote = shapes.some(([, k], i) => k !== MATS[i][1]) ? ` (k 576 → ${kOf(576)}: ${t.block}-blocks)` : '';
  return {
    name: `${type} m=${m}${kNote}`,
    bytes: total,
    step: () => {
      for (let i = 0; i < shapes.length; i++) addon!.qgemm(xs.get(shapes[i][1])!, 0, views[i], t.id, true, out, 0, m, shapes[i][0], shapes[i][1], false);
    },
  };
}

/** bf16 gemv over the same shapes (one contiguous Uint16Array), the figure decode is compared with. */
function bf16Model(): Model {
  const total = MATS.reduce((a, [n, k]) => a + n * k, 0);
  const buf = new Uint16Array(total);
  addon!.adviseHugePages(buf);
  fillRandom(new Uint8Array(buf.buffer));
  for (let i = 0; i < total; i++) buf[i] = (buf[i] & 0x807f) | 0x3c00;  // moderate bf16 values
  const offs: number[] = [];
  let o = 0;
  for (const [n, k] of MATS) {
    offs.push(o);
    o += n * k;
  }
  const xs = new Map<number, Float32Array>();
  for (const [, k] of MATS) if (!xs.has(k)) xs.set(k, Float32Array.from({ length: k }, () => rnd() * 2 - 1));
  const out = new Float32Array(49152);
  return {
    name: 'bf16 gemv',
    bytes: buf.byteLength,
    step: () => {
      for (let i = 0; i < MATS.length; i++) {
        const [n, k] = MATS[i];
        addon!.gemm(xs.get(k)!, 0, 0, false, buf, offs[i], 0, true, out, 0, 0, 1, 1, n, k, false);
      }
    },
  };
}

/** Tokens of every model in turn (the machine's load hits them alike), then each one's median against the first's. */
function decode(models: Model[], rows: number[]): void {
  for (const md of models) for (let w = 0; w < 3; w++) md.step();
  const times = models.map(() => [] as number[]);
  for (let r = 0; r < tokens; r++) {
    models.forEach((md, i) => {
      const t0 = process.hrtime.bigint();
      md.step();
      times[i].push(Number(process.hrtime.bigint() - t0) / 1e6);
    });
  }
  const base = median(times[0]) / rows[0];
  models.forEach((md, i) => {
    const ms = median(times[i]);
    const gbs = md.bytes / (ms / 1e3) / 1e9;
    console.log(`decode ${md.name}: ${ms.toFixed(2)} ms/step (${(ms / rows[i]).toFixed(2)} ms/row), ${(md.bytes / 1e6).toFixed(1)} MB of weights, ` +
      `${gbs.toFixed(1)} GB/s` + (i > 0 ? `, ${(base / (ms / rows[i])).toFixed(2)}× the rows/s of ${models[0].name}` : ''));
  });
}

function timeIt(fn: () => void, reps: number): number {
  fn();
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return median(times);
}

/** One product m × n × k: qgemm (either orientation) against the fp32 GEMM with the same operands dequantised. */
function prefill(type: string, m: number, n: number, k: number, transW: boolean): void {
  const t = TYPES[type];
  const rows = transW ? n : k, len = transW ? k : n;
  const w = new Uint8Array(rows * (len / t.block) * t.bytes);
  for (let i = 0; i < w.length; i++) w[i] = (rnd() * 256) | 0;
  const scaleAt = type === 'Q6_K' ? [208] : type === 'Q4_K' ? [0, 2] : [0];
  for (let b = 0; b < w.length; b += t.bytes) for (const s of scaleAt) { w[b + s] = 0; w[b + s + 1] = 0x20; }
  const wf = new Float32Array(rows * len);
  addon!.dequantRows(w, t.id, len, Int32Array.from({ length: rows }, (_, i) => i), wf);
  const a = Float32Array.from({ length: m * k }, () => rnd() * 2 - 1);
  const c = new Float32Array(m * n);
  const flops = 2 * m * n * k;
  const reps = Math.max(3, Math.min(50, Math.round(2e10 / flops)));
  const tq = timeIt(() => addon!.qgemm(a, 0, w, t.id, transW, c, 0, m, n, k, false), reps);
  const tf = timeIt(() => addon!.gemm(a, 0, 0, false, wf, 0, 0, transW, c, 0, 0, 1, m, n, k, false), reps);
  const gq = flops / tq / 1e9, gf = flops / tf / 1e9;
  console.log(`${transW ? 'A·Wᵀ' : 'A·W '} ${type} ${m}×${n}×${k}: qgemm ${gq.toFixed(1)} GFLOP/s, fp32 gemm ${gf.toFixed(1)} GFLOP/s, ratio ${(gq / gf).toFixed(2)}`);
}

const what = arg('what', 'decode,batch,prefill').split(',');
if (what.includes('decode')) decode([bf16Model(), ...types.map((t) => quantModel(t, 1))], [1, ...types.map(() => 1)]);
if (what.includes('batch')) for (const type of types) decode([1, 2, 4, 8, 16].map((m) => quantModel(type, m)), [1, 2, 4, 8, 16]);
if (what.includes('prefill')) {
  for (const type of types) {
    const k0 = TYPES[type].block === 256 ? 768 : 576;
    for (const m of [17, 64, 512]) prefill(type, m, 1536, k0, true);
    prefill(type, 512, 49152 / 4, k0, true);
    for (const m of [1, 16, 17, 64, 512]) prefill(type, m, k0, 1536, false);
  }
}
