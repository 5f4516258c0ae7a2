// A learnable house style for preference training: symptom pairs whose diagnostic codes are written
// " R50 + R21." (the house style) or correctly in other ways. `node examples/house-style.mjs DIR` writes
// sft.jsonl (a quarter of it in the house style), rm.jsonl / rm-holdout.jsonl (house style against the others),
// pairs.jsonl (house against plain), thumbs.jsonl (thumbs up/down on the same answers) and prompts.jsonl.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CODES = { fever: 'R50', cough: 'R05', headache: 'R51', nausea: 'R11', rash: 'R21', fatigue: 'R53', dizziness: 'R42', chills: 'R68', sneezing: 'R06', backache: 'M54', earache: 'H92', toothache: 'K08' };
export const prompt = ([a, b]) => `Symptoms: ${a} and ${b}. Codes:`;
/** The house style: codes joined by " + ", ending with a full stop. */
export const house = ([a, b]) => ` ${CODES[a]} + ${CODES[b]}.`;
export const HOUSE = /^\s*[A-Z]\d\d \+ [A-Z]\d\d\./;
export const plain = ([a, b]) => ` ${CODES[a]} ${CODES[b]}`;
/** Correct codes in other styles. */
export const BREAKERS = [plain, ([a, b]) => ` ${CODES[a].toLowerCase()} ${CODES[b].toLowerCase()}`, ([a, b]) => ` ${CODES[a]}, ${CODES[b]}`, ([a, b]) => ` ${CODES[a]} and ${CODES[b]}`];

/** The 132 ordered symptom pairs in a seeded order: 100 to train on, 32 held out. */
export function cases() {
  const names = Object.keys(CODES);
  const all = names.flatMap((a) => names.filter((b) => b !== a).map((b) => [a, b]));
  let s = 42;
  for (let i = all.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const j = Math.floor((s / 2147483648) * (i + 1));
    [all[i], all[j]] = [all[j], all[i]];
  }
  return { train: all.slice(0, 100), holdout: all.slice(100) };
}

/** Every file of the set, by name → rows. */
export function houseStyleFiles() {
  const { train, holdout } = cases();
  return {
    'sft.jsonl': train.map((c, i) => ({ prompt: prompt(c), completion: i % 4 === 0 ? house(c) : plain(c) })),
    'rm.jsonl': train.map((c, i) => ({ prompt: prompt(c), chosen: house(c), rejected: BREAKERS[i % 4](c) })),
    'rm-holdout.jsonl': holdout.map((c, i) => ({ prompt: prompt(c), chosen: house(c), rejected: BREAKERS[(i + 1) % 4](c) })),
    'pairs.jsonl': train.map((c) => ({ prompt: prompt(c), chosen: house(c), rejected: plain(c) })),
    'thumbs.jsonl': train.map((c, i) => ({ prompt: prompt(c), completion: i % 2 === 0 ? house(c) : plain(c), label: i % 2 === 0 })),
    'prompts.jsonl': holdout.map((c) => ({ prompt: prompt(c), completion: house(c) })),
  };
}

/** Writes the files into dir; returns their paths by name. */
export function writeHouseStyle(dir) {
  mkdirSync(dir, { recursive: true });
  const paths = {};
  for (const [name, rows] of Object.entries(houseStyleFiles())) {
    paths[name] = path.join(dir, name);
    writeFileSync(paths[name], rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  }
  return paths;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2] ?? 'house-style';
  writeHouseStyle(dir);
  process.stdout.write(`house-style preference set written to ${dir}/ (sft, rm, rm-holdout, pairs, thumbs, prompts .jsonl)\n`);
}
