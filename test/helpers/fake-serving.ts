// Fakes of the serving interfaces for HTTP tests: a character tokenizer, an engine that answers deterministically
// and records every request, and an in-memory adapter registry.
import type { Tokenizer } from '../../src/tokenizer/tokenizer.ts';
import {
  ServeError,
  type AdapterInfo,
  type AdapterRegistry,
  type EngineStats,
  type GenerationRequest,
  type GenerationResult,
  type ServingEngine,
  type TokenInfo,
} from '../../src/serve/types.ts';

export const BOS = 1;
export const EOS = 2;
const SPECIAL: Record<string, number> = { '<s>': BOS, '</s>': EOS };

/** One token per character (id = code point + 10); `<s>` and `</s>` are BOS and EOS. */
export function charTokenizer(chatTemplate?: string): Tokenizer {
  const tok = {
    vocabSize: 0x110000 + 10,
    bosId: BOS,
    eosId: EOS,
    eosIds: [EOS],
    addBos: true,
    chatTemplate,
    encode(text: string, opts: { addBos?: boolean; addSpecial?: boolean } = {}): number[] {
      const ids = opts.addBos === false ? [] : [BOS];
      for (const [i, piece] of text.split(/(<s>|<\/s>)/).entries()) {
        if (i % 2 === 1 && opts.addSpecial !== false) ids.push(SPECIAL[piece]!);
        else for (const ch of piece) ids.push(ch.codePointAt(0)! + 10);
      }
      return ids;
    },
    decode(ids: readonly number[]): string {
      return ids.map((id) => (id === BOS ? '<s>' : id === EOS ? '</s>' : String.fromCodePoint(id - 10))).join('');
    },
    idToToken(id: number): string | undefined {
      return id === BOS ? '<s>' : id === EOS ? '</s>' : String.fromCodePoint(id - 10);
    },
  };
  return tok as unknown as Tokenizer;
}

/** What the fake engine answers: each choice is ANSWER (cut at maxTokens pieces), in these pieces. */
export const PIECES = ['Hel', 'lo', ' wor', 'ld'];

export interface FakeEngine extends ServingEngine {
  requests: GenerationRequest[];
  /** Thrown (as a rejection) by the next generate calls. */
  failWith?: Error;
  /** Stream one piece, then wait until the request is aborted. */
  hang: boolean;
  /** Resolves when a request's signal has been seen aborted. */
  aborted: Promise<void>;
  stats(): EngineStats;
}

function tokenInfo(text: string, i: number, top: number | undefined): TokenInfo {
  const info: TokenInfo = { id: 100 + i, text, logprob: -0.5 - i };
  if (top !== undefined) info.top = Array.from({ length: top }, (_, k) => ({ id: 200 + k, text: k === 0 ? text : `alt${k}`, logprob: -0.5 - i - k }));
  return info;
}

export function fakeEngine(context = 64): FakeEngine {
  let sawAbort!: () => void;
  const engine: FakeEngine = {
    context,
    requests: [],
    hang: false,
    aborted: new Promise((resolve) => (sawAbort = resolve)),
    async generate(req) {
      engine.requests.push(req);
      if (engine.failWith !== undefined) throw engine.failWith;
      const pieces = PIECES.slice(0, req.maxTokens);
      const choices = [];
      for (let c = 0; c < req.n; c++) {
        const tokens = pieces.map((p, i) => tokenInfo(p, i, req.logprobs));
        for (const [i, t] of tokens.entries()) {
          await new Promise((r) => setImmediate(r));
          req.onDelta?.(c, t.text, [t]);
          if (engine.hang && i === 0) {
            await new Promise<void>((resolve) => req.signal!.addEventListener('abort', () => resolve()));
            sawAbort();
            throw new ServeError(499, 'client_closed', 'the client went away');
          }
        }
        choices.push({ index: c, text: pieces.join(''), finishReason: pieces.length < PIECES.length ? ('length' as const) : ('stop' as const), tokens });
      }
      return { choices, promptTokens: req.prompt.length, completionTokens: req.n * pieces.length } satisfies GenerationResult;
    },
    stats: () => ({ queued: 3, running: 2, tokensPerSecond: 41.5, generatedTokens: 1234, requestsByAdapter: { '': 7, sql: 2, 'we"ird': 1 } }),
  };
  return engine;
}

export interface FakeRegistry extends AdapterRegistry {
  loads: [name: string, path: string][];
}

export function fakeRegistry(baseId: string, adapters: AdapterInfo[] = []): FakeRegistry {
  const byName = new Map(adapters.map((a) => [a.name, a]));
  return {
    baseId,
    loads: [],
    list: () => [...byName.values()],
    has: (name) => byName.has(name),
    async load(name, path) {
      if (byName.has(name)) throw new ServeError(400, 'invalid_request_error', `an adapter named '${name}' is already loaded`, 'lora_exists', 'lora_name');
      this.loads.push([name, path]);
      byName.set(name, { name, path, rank: 8 });
    },
    async unload(name) {
      byName.delete(name);
    },
  };
}
