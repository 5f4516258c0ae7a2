// One option spec per verb: parsing (types, ranges, defaults, required, did-you-mean) and --help are both
// generated from it, so they cannot drift; shell completion reads the same specs.
import { parseArgs } from 'node:util';
import { UsageError } from './errors.ts';

export type OptionType = 'string' | 'number' | 'integer' | 'boolean' | 'choice';

export interface OptionSpec {
  type: OptionType;
  /** One line: what the option means (help and completion print it). */
  help: string;
  /** The value's name in help (FILE, N, DIR…). */
  arg?: string;
  default?: string | number | boolean;
  choices?: readonly string[];
  min?: number;
  max?: number;
  required?: boolean;
  /** May be given several times (strings only): the value is a list. */
  multiple?: boolean;
  /** A switch on by default: --no-NAME turns it off. */
  negatable?: boolean;
  short?: string;
}

export interface CommandSpec {
  /** 'generate', or 'data inspect' for a sub-verb. */
  name: string;
  summary: string;
  /** Positional arguments, in order, as help shows them (e.g. ['IN', 'OUT']). */
  positionals?: { name: string; help: string; optional?: boolean; rest?: boolean }[];
  options: Record<string, OptionSpec>;
  examples: string[];
  /** Sub-verbs ('whet data inspect'): the verb itself only dispatches. */
  subcommands?: CommandSpec[];
}

export type OptionValue = string | number | boolean | string[] | undefined;

export interface Parsed {
  values: Record<string, OptionValue>;
  positionals: string[];
}

/** Edit distance (insertions, deletions, substitutions), for did-you-mean. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** The closest candidate to a misspelt name, if one is close enough to be what was meant. */
export function nearest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = Infinity;
  const initials = name.split('-').map((w) => w[0]).join(''); // --lerning-rate → lr
  for (const c of candidates) {
    // A shared prefix or the initials of the words count as close.
    const d = c === initials ? 1 : c.startsWith(name) || name.startsWith(c) ? Math.abs(c.length - name.length) / 2 : distance(name, c);
    if (d < bestScore) [best, bestScore] = [c, d];
  }
  return bestScore <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/** Every flag name the spec accepts (with --no-… for negatable switches and --help). */
function flagNames(spec: CommandSpec): string[] {
  const names = ['help'];
  for (const [name, o] of Object.entries(spec.options)) {
    names.push(name);
    if (o.negatable === true) names.push(`no-${name}`);
  }
  return names;
}

function checkValue(name: string, o: OptionSpec, raw: string): string | number {
  if (o.type === 'choice') {
    if (!o.choices!.includes(raw)) throw new UsageError(`--${name} must be one of ${o.choices!.join(', ')}, got '${raw}'`);
    return raw;
  }
  if (o.type !== 'number' && o.type !== 'integer') return raw;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || (o.type === 'integer' && !Number.isInteger(n)))
    throw new UsageError(`--${name} expects ${o.type === 'integer' ? 'an integer' : 'a number'}, got '${raw}'`);
  if (o.min !== undefined && n < o.min) throw new UsageError(`--${name} must be at least ${o.min}, got ${n}`);
  if (o.max !== undefined && n > o.max) throw new UsageError(`--${name} must be at most ${o.max}, got ${n}`);
  return n;
}

/**
 * Parses argv by the spec: values typed and range-checked, defaults filled in (unless noDefaults: a caller that
 * layers them under a config file), required ones demanded. Returns null when --help was asked for (printed).
 */
export function parseCommand(spec: CommandSpec, argv: string[], opts: { noDefaults?: boolean } = {}): Parsed | null {
  const end = argv.indexOf('--');
  const flags = end < 0 ? argv : argv.slice(0, end);
  if (flags.includes('--help') || flags.includes('-h')) {
    process.stdout.write(helpText(spec));
    return null;
  }
  const known = flagNames(spec);
  for (const arg of flags) {
    if (!arg.startsWith('--')) continue;
    const name = arg.slice(2).split('=')[0]!;
    if (known.includes(name)) continue;
    const guess = nearest(name, known);
    throw new UsageError(`unknown option --${name}${guess !== undefined ? `; did you mean --${guess}?` : ''} (see whet ${spec.name} --help)`);
  }
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {};
  for (const [name, o] of Object.entries(spec.options)) {
    options[name] = { type: o.type === 'boolean' ? 'boolean' : 'string', ...(o.multiple === true ? { multiple: true } : {}), ...(o.short !== undefined ? { short: o.short } : {}) };
    if (o.negatable === true) options[`no-${name}`] = { type: 'boolean' };
  }
  const { values: raw, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  const values: Record<string, OptionValue> = {};
  for (const [name, o] of Object.entries(spec.options)) {
    const given = raw[name] as string | boolean | string[] | undefined;
    let v: OptionValue;
    if (raw[`no-${name}`] === true) v = false;
    else if (given === undefined) v = opts.noDefaults === true ? undefined : (o.default ?? (o.type === 'boolean' ? false : undefined));
    else if (Array.isArray(given)) v = given.map((g) => String(checkValue(name, o, g)));
    else v = typeof given === 'boolean' ? given : checkValue(name, o, given);
    if (v === undefined && o.required === true) throw new UsageError(`--${name} is required (see whet ${spec.name} --help)`);
    values[name] = v;
  }
  const max = spec.positionals?.some((p) => p.rest === true) ? Infinity : (spec.positionals?.length ?? 0);
  const min = spec.positionals?.filter((p) => p.optional !== true && p.rest !== true).length ?? 0;
  if (positionals.length > max) throw new UsageError(`unexpected argument '${positionals[max]}' (see whet ${spec.name} --help)`);
  if (positionals.length < min) throw new UsageError(`missing ${spec.positionals![positionals.length]!.name} (see whet ${spec.name} --help)`);
  return { values, positionals };
}

/** For a verb with sub-verbs: the chosen one's spec and the rest of argv; null when --help was asked for (printed). */
export function subcommand(spec: CommandSpec, argv: string[]): { spec: CommandSpec; argv: string[] } | null {
  const [word, ...rest] = argv;
  if (word === '--help' || word === '-h') {
    process.stdout.write(helpText(spec));
    return null;
  }
  const subs = spec.subcommands!;
  const names = subs.map((s) => s.name.split(' ').pop()!);
  const i = word === undefined ? -1 : names.indexOf(word);
  if (i < 0) {
    const guess = word === undefined ? undefined : nearest(word, names);
    const what = word === undefined ? 'missing command' : `unknown command '${word}'${guess !== undefined ? `; did you mean '${guess}'?` : ''}`;
    throw new UsageError(`${what} (one of ${names.join(', ')}; see whet ${spec.name} --help)`);
  }
  return { spec: subs[i]!, argv: rest };
}

function synopsis(spec: CommandSpec): string {
  if (spec.subcommands !== undefined) return `whet ${spec.name} <${spec.subcommands.map((s) => s.name.split(' ').pop()).join('|')}> [options]`;
  const parts = [`whet ${spec.name}`];
  for (const p of spec.positionals ?? []) parts.push(p.optional === true || p.rest === true ? `[${p.name}${p.rest === true ? '...' : ''}]` : p.name);
  for (const [name, o] of Object.entries(spec.options)) if (o.required === true) parts.push(`--${name} ${o.arg ?? 'VALUE'}`);
  parts.push('[options]');
  return parts.join(' ');
}

function optionLine(name: string, o: OptionSpec): [string, string] {
  const value = o.type === 'boolean' ? '' : ` ${o.type === 'choice' ? o.choices!.join('|') : (o.arg ?? (o.type === 'string' ? 'TEXT' : 'N'))}`;
  const flag = `${o.short !== undefined ? `-${o.short}, ` : ''}--${o.negatable === true ? `[no-]${name}` : name}${value}`;
  const notes: string[] = [];
  if (o.required === true) notes.push('required');
  if (o.default !== undefined && o.default !== false && o.default !== '') notes.push(`default ${o.default}`);
  if (o.type !== 'choice' && (o.min !== undefined || o.max !== undefined)) notes.push(o.min !== undefined && o.max !== undefined ? `${o.min}..${o.max}` : o.min !== undefined ? `≥ ${o.min}` : `≤ ${o.max}`);
  if (o.multiple === true) notes.push('repeatable');
  return [flag, `${o.help}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`];
}

/** whet VERB --help: synopsis, arguments, one line per option (type, default, meaning), examples. */
export function helpText(spec: CommandSpec): string {
  const out = [`usage: ${synopsis(spec)}`, '', spec.summary];
  if (spec.subcommands !== undefined) {
    out.push('', 'commands:');
    for (const s of spec.subcommands) out.push(`  ${s.name.split(' ').pop()!.padEnd(12)} ${s.summary}`);
    out.push('', `run whet ${spec.name} <command> --help for a command's options`);
  }
  if (spec.positionals !== undefined && spec.positionals.length > 0) {
    out.push('', 'arguments:');
    for (const p of spec.positionals) out.push(`  ${p.name.padEnd(24)} ${p.help}`);
  }
  const rows = Object.entries(spec.options).map(([name, o]) => optionLine(name, o));
  rows.push(['-h, --help', 'print this help']);
  if (spec.subcommands === undefined) {
    const width = Math.min(34, Math.max(...rows.map(([f]) => f.length)) + 2);
    out.push('', 'options:');
    for (const [flag, text] of rows) out.push(flag.length >= width ? `  ${flag}\n  ${' '.repeat(width)}${text}` : `  ${flag.padEnd(width)}${text}`);
  }
  if (spec.examples.length > 0) out.push('', 'examples:', ...spec.examples.map((e) => `  ${e}`));
  return out.join('\n') + '\n';
}
