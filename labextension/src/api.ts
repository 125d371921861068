// Typed client for the server routes `{base_url}qbraid-keys/...` (DESIGN.md, Contract 2).
//
// A key value appears only in the answers of `createKey` and `rotateKey`; callers show
// it once and drop it. Nothing here logs or keeps a value.
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export type KeyStatus = 'active' | 'inactive';

export interface IDailyUsage {
  date: string;
  count: number;
}

export interface IApiKey {
  id: string;
  name: string;
  hint: string;
  scopes: string[];
  status: KeyStatus;
  createdAt: string;
  rotatedAt: string | null;
  lastUsedAt: string | null;
  /**
   * Details (and create, rotate, PATCH answers) carry the 30-day series `daily`; the items
   * of a page carry `last30Days` instead.
   */
  usage: { total: number; daily?: IDailyUsage[]; last30Days?: number };
  stored?: boolean;
}

/** One page of keys, newest first (`GET api-keys?limit=&cursor=&q=`). */
export interface IKeyPage {
  keys: IApiKey[];
  /** The cursor of the next page, or null on the last one. */
  next: string | null;
  /** How many keys match (the whole account without a search). */
  total: number;
}

export interface IPageRequest {
  limit: number;
  cursor?: string | null;
  /** Only the keys whose name or hint contains this. */
  q?: string;
}

/** A key object as answered by create and rotate: the only place a value appears. */
export interface IApiKeyWithValue extends IApiKey {
  value: string;
}

export interface IScope {
  name: string;
  description: string;
  /** Granted when a create request names no scopes (the read-only ones). */
  default?: boolean;
  /** Requests allowed by this scope spend the account's credits. */
  spendsCredits?: boolean;
}

/** Whether the create form ticks this scope at first: the service's default (read-only) set. */
export function isDefaultScope(scope: IScope): boolean {
  return scope.default ?? scope.name.endsWith(':read');
}

/** Whether this scope lets a key spend credits (an upstream that does not say: jobs:write). */
export function spendsCredits(scope: IScope): boolean {
  return scope.spendsCredits ?? scope.name === 'jobs:write';
}

export interface IServiceStatus {
  upstream: { kind: 'embedded' | 'remote'; url: string; reachable: boolean };
  keyring: { backend: string; secure: boolean };
  version: string;
}

/** A running kernel of this server that uses a key (never the value). */
export interface IKernelUse {
  kernelId: string;
  /** The notebook the kernel belongs to, or '' when unknown. */
  path: string;
  keyId: string;
  keyName: string;
  hint: string;
}

/** One entry of a key's audit trail. */
export interface IKeyEvent {
  id: string;
  at: string;
  action: string;
  keyId: string;
  keyName: string;
  hint: string;
  actor: string;
}

/** Events about keys on the server's event bus end with this schema id (Contract 4). */
export const KEY_EVENT_SCHEMA_SUFFIX = '/qbraid_keys_ext/key/v1';

export interface ICreateKeyRequest {
  name: string;
  scopes?: string[];
  store?: boolean;
}

/** An error answer of the key API, or a network failure (status 0). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly status: number
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** True when the key service behind the Jupyter server cannot be reached. */
  get upstreamDown(): boolean {
    return (
      this.status === 0 ||
      this.code === 'UPSTREAM_UNAVAILABLE' ||
      this.code === 'UPSTREAM_TIMEOUT' ||
      this.status === 502 ||
      this.status === 503 ||
      this.status === 504
    );
  }
}

const NAMESPACE = 'qbraid-keys';

export class KeysClient {
  constructor(
    private readonly _settings: ServerConnection.ISettings = ServerConnection.makeSettings()
  ) {}

  listKeys(): Promise<IApiKey[]> {
    return this._api<IApiKey[]>('GET', 'api-keys');
  }

  /** One page of keys; an upstream without pages answers every key (one last page). */
  async listPage(request: IPageRequest): Promise<IKeyPage> {
    const query = new URLSearchParams({ limit: String(request.limit) });
    if (request.cursor) {
      query.set('cursor', request.cursor);
    }
    if (request.q) {
      query.set('q', request.q);
    }
    const url = URLExt.join(NAMESPACE, 'api', 'v1', 'api-keys');
    const answer = await this._request<{
      data: IApiKey[];
      page?: { next: string | null; total: number };
    }>('GET', `${url}?${query.toString()}`, undefined, false);
    const keys = Array.isArray(answer?.data) ? answer.data : [];
    if (!answer?.page) {
      return { keys, next: null, total: keys.length };
    }
    return { keys, next: answer.page.next ?? null, total: answer.page.total ?? keys.length };
  }

  /** One key's details (with the 30-day usage series). */
  getKey(id: string): Promise<IApiKey> {
    return this._api<IApiKey>('GET', `api-keys/${encodeURIComponent(id)}`);
  }

  listScopes(): Promise<IScope[]> {
    return this._api<IScope[]>('GET', 'api-key-scopes');
  }

  createKey(body: ICreateKeyRequest): Promise<IApiKeyWithValue> {
    return this._api<IApiKeyWithValue>('POST', 'api-keys', body);
  }

  rotateKey(id: string): Promise<IApiKeyWithValue> {
    return this._api<IApiKeyWithValue>('POST', `api-keys/${encodeURIComponent(id)}/rotate`);
  }

  setStatus(id: string, status: KeyStatus): Promise<IApiKey> {
    return this._api<IApiKey>('PATCH', `api-keys/${encodeURIComponent(id)}`, { status });
  }

  deleteKey(id: string): Promise<{ id: string; deleted: boolean }> {
    return this._api('DELETE', `api-keys/${encodeURIComponent(id)}`);
  }

  /** Which running kernels use which key. */
  listKernels(): Promise<IKernelUse[]> {
    return this._request<IKernelUse[]>('GET', URLExt.join(NAMESPACE, 'kernels'), undefined, true);
  }

  /** The newest `limit` events of a key's audit trail. */
  listEvents(keyId: string, limit = 10): Promise<IKeyEvent[]> {
    const query = `?keyId=${encodeURIComponent(keyId)}&limit=${limit}`;
    return this._api<IKeyEvent[]>('GET', `events${query}`);
  }

  /** Another route of this extension, `qbraid-keys/<path>`, answering an envelope. */
  route<T>(method: string, path: string, body?: unknown): Promise<T> {
    return this._request<T>(method, URLExt.join(NAMESPACE, path), body, true);
  }

  status(): Promise<IServiceStatus> {
    return this._request<IServiceStatus>('GET', URLExt.join(NAMESPACE, 'status'), undefined, false);
  }

  private _api<T>(method: string, route: string, body?: unknown): Promise<T> {
    return this._request<T>(method, URLExt.join(NAMESPACE, 'api', 'v1', route), body, true);
  }

  private async _request<T>(
    method: string,
    route: string,
    body: unknown,
    envelope: boolean
  ): Promise<T> {
    const url = URLExt.join(this._settings.baseUrl, route);
    const init: RequestInit = { method, cache: 'no-store' };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { 'Content-Type': 'application/json' };
    }
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, this._settings);
    } catch (reason) {
      throw new ApiError(
        'The Jupyter server could not be reached. Check that it is still running.',
        'NETWORK_ERROR',
        0
      );
    }
    let payload: any = null;
    const text = await response.text();
    if (text) {
      try {
        payload = JSON.parse(text);
      } catch {
        payload = null;
      }
    }
    if (!response.ok || (envelope && payload && payload.success === false)) {
      const message =
        (payload && typeof payload.message === 'string' && payload.message) ||
        `The server answered ${response.status} ${response.statusText}`.trim();
      const code = (payload && payload.error && payload.error.code) || `HTTP_${response.status}`;
      throw new ApiError(message, code, response.status);
    }
    if (!envelope) {
      return payload as T;
    }
    if (!payload || !('data' in payload)) {
      throw new ApiError('The server sent an answer this panel does not understand.', 'BAD_ANSWER', response.status);
    }
    return payload.data as T;
  }
}
