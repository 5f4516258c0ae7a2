// Calls to the studio's JSON API: errors become one readable message (the server's OpenAI-shaped error text).
export async function api<T>(path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const data = (await res.json()) as T & { error?: { message: string } };
  if (!res.ok) throw new Error(data.error?.message ?? `${res.status} ${res.statusText}`);
  return data;
}

export type Turn = { role: string; content: string };
export type Prompt = string | Turn[];

export interface Info {
  models: string[];
  rank: null | { mode: 'rank' | 'thumbs'; settings: { k: number; temperature: number; topP: number; maxTokens: number; seed: number; stop: string[] }; annotator: string | null; out: string; perPrompt: number };
  runs: boolean;
  compare: boolean;
}
