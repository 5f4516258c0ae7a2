// A local stand-in for the Hugging Face hub's file endpoints (the ones @huggingface/hub and whet pull call): model
// revision info, the recursive file tree, and resolve/REV/PATH with ranges; it can gate a repo, cut a download short,
// and counts the body bytes it sends per file.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HubRepo {
  files: Map<string, Uint8Array>;
  /**
   * A gated repo: as on the hub, its info and file list are public, but its files need Authorization: Bearer TOKEN
   * (no token: 401; another token: 403).
   */
  token?: string;
}

export interface LocalHub {
  url: string;
  /** The commit every repo's main points to. */
  sha: string;
  /** Body bytes sent per 'ORG/NAME/PATH' (the 1-byte probes of fileDownloadInfo left out). */
  sent: Map<string, number>;
  /** Every request: method, path and query, Range and Authorization headers. */
  log: { method: string; url: string; range?: string; auth?: string }[];
  /** The next full body of 'ORG/NAME/PATH' stops after this many bytes and the connection is dropped. */
  cutOnce: Map<string, number>;
  close(): Promise<void>;
}

const isLfs = (path: string): boolean => /\.(safetensors|gguf)$/.test(path);
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const gitOid = (b: Uint8Array): string => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

export async function startLocalHub(repos: Map<string, HubRepo>): Promise<LocalHub> {
  const sha = createHash('sha1').update('whet local hub').digest('hex');
  const hub: Omit<LocalHub, 'url' | 'close'> = { sha, sent: new Map(), log: [], cutOnce: new Map() };

  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
  };

  function serveFile(req: IncomingMessage, res: ServerResponse, key: string, data: Uint8Array, path: string): void {
    const headers: Record<string, string> = { 'X-Repo-Commit': sha, 'Accept-Ranges': 'bytes', ETag: `"${gitOid(data)}"`, 'Content-Type': 'application/octet-stream' };
    if (isLfs(path)) Object.assign(headers, { 'X-Linked-Etag': `"${sha256(data)}"`, 'X-Linked-Size': String(data.length) });
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    let start = 0;
    let end = data.length - 1;
    if (m !== null) {
      start = Number(m[1]);
      end = m[2] === '' ? data.length - 1 : Math.min(Number(m[2]), data.length - 1);
      if (start >= data.length) {
        res.writeHead(416, { 'Content-Range': `bytes */${data.length}` }).end();
        return;
      }
      headers['Content-Range'] = `bytes ${start}-${end}/${data.length}`;
    }
    const body = data.subarray(start, end + 1);
    res.writeHead(m !== null ? 206 : 200, { ...headers, 'Content-Length': String(body.length) });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const probe = req.headers.range === 'bytes=0-0';
    const cut = probe ? undefined : hub.cutOnce.get(key);
    const send = cut === undefined ? body : body.subarray(0, cut);
    if (!probe) hub.sent.set(key, (hub.sent.get(key) ?? 0) + send.length);
    if (cut === undefined) {
      res.end(send);
      return;
    }
    hub.cutOnce.delete(key);
    // Drop the connection mid-body a moment after the bytes went out: a client drops what it has not yet read
    // when the stream fails, and a real cut comes after many chunks were read.
    res.write(send, () => setTimeout(() => res.socket?.destroy(), 300));
  }

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://hub');
    hub.log.push({ method: req.method!, url: url.pathname + url.search, range: req.headers.range, auth: req.headers.authorization });
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/(revision|tree)\/([^/]+)$/.exec(url.pathname);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const name = api?.[1] ?? resolve?.[1];
    const repo = name === undefined ? undefined : repos.get(name);
    if (repo === undefined) return json(res, 404, { error: 'Repository not found' });
    if (resolve !== null && repo.token !== undefined && req.headers.authorization !== `Bearer ${repo.token}`)
      return json(res, req.headers.authorization === undefined ? 401 : 403, { error: `Access to model ${name} is restricted. You must have access to it and be authenticated to access it.` });
    const rev = decodeURIComponent((api?.[3] ?? resolve?.[2])!);
    if (rev !== 'main' && rev !== sha) return json(res, 404, { error: 'Invalid rev id' });
    if (api?.[2] === 'revision') return json(res, 200, { _id: name, id: name, sha, private: false, gated: repo.token !== undefined ? 'manual' : false, downloads: 0, likes: 0, lastModified: '2026-01-01T00:00:00.000Z', siblings: [...repo.files.keys()].map((rfilename) => ({ rfilename })) });
    if (api?.[2] === 'tree')
      return json(res, 200, [...repo.files].map(([path, data]) => ({ type: 'file', path, size: data.length, oid: gitOid(data), ...(isLfs(path) ? { lfs: { oid: sha256(data), size: data.length, pointerSize: 134 } } : {}) })));
    const path = decodeURIComponent(resolve![3]!);
    const data = repo.files.get(path);
    if (data === undefined) {
      res.writeHead(404, { 'X-Error-Code': 'EntryNotFound', 'Content-Type': 'application/json' }).end('{"error":"Entry not found"}');
      return;
    }
    serveFile(req, res, `${name}/${path}`, data, path);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    ...hub,
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
