// What the sidebar does to keys: create, regenerate, revoke, (de)activate, use in a notebook,
// copy the magic. One hook holds the actions and which keys are busy with one.
import { Notification } from '@jupyterlab/apputils';
import * as React from 'react';

import { ApiError, IApiKey, KeysClient } from './api';
import { copyText } from './clipboard';
import { askNewKey, confirmRevoke, confirmRotate, nameProblem, showValueOnce } from './dialogs';

/** An error as the sentence to show. */
export function messageOf(reason: unknown): string {
  if (reason instanceof ApiError) {
    return reason.message;
  }
  return reason instanceof Error ? reason.message : String(reason);
}

/** How actions change the keys the view holds (its loaded pages). */
export interface IKeyEdits {
  /** Put a key first (just created). */
  addFirst: (key: IApiKey) => void;
  /** Show a key's new state where it is. */
  update: (key: IApiKey) => void;
  /** Drop a key (revoked). */
  remove: (id: string) => void;
}

export interface IKeyActionsOptions {
  client: KeysClient;
  /** The keys loaded so far, in list order. */
  keys: IApiKey[];
  edits: IKeyEdits;
  /** Load the keys in view again from the server. */
  load: () => Promise<void>;
  useInNotebook: (key: IApiKey) => Promise<string>;
  /** Called with the list index of a key just revoked, before it leaves the list. */
  onRevoked: (index: number) => void;
  /** The open notebooks whose kernels use a key. */
  usersOf: (key: IApiKey) => string[];
}

/** An error about a key as a sentence that names the key. */
export function keyProblem(key: IApiKey, reason: unknown): string {
  if (reason instanceof ApiError && reason.code === 'NOT_FOUND') {
    return `The key "${key.name}" no longer exists: it was revoked elsewhere. The list is reloaded.`;
  }
  return `"${key.name}": ${messageOf(reason)}`;
}

export interface IKeyActions {
  /** Ids of the keys an action is running on. */
  busy: Set<string>;
  /** Whether the create dialog is open. */
  creating: boolean;
  create: () => Promise<void>;
  rotate: (key: IApiKey) => Promise<void>;
  revoke: (key: IApiKey) => Promise<void>;
  toggleStatus: (key: IApiKey) => Promise<void>;
  use: (key: IApiKey) => Promise<void>;
  copySnippet: (key: IApiKey) => Promise<void>;
}

export function useKeyActions(options: IKeyActionsOptions): IKeyActions {
  const { client, keys, edits, load, useInNotebook, onRevoked, usersOf } = options;
  const [busy, setBusy] = React.useState<Set<string>>(new Set());
  const [creating, setCreating] = React.useState(false);

  const withBusy = async (key: IApiKey, action: () => Promise<void>): Promise<void> => {
    const id = key.id;
    setBusy(prev => new Set(prev).add(id));
    try {
      await action();
    } catch (reason) {
      Notification.error(keyProblem(key, reason), { autoClose: 8000 });
      if (reason instanceof ApiError && (reason.upstreamDown || reason.code === 'NOT_FOUND')) {
        void load();
      }
    } finally {
      setBusy(prev => {
        const next = new Set(prev);
        next.delete(id);
        return next;
      });
    }
  };

  const replaceKey = (updated: IApiKey): void => {
    // Never keep a value in the list state, even for a moment.
    const { value: _drop, ...clean } = updated as IApiKey & { value?: string };
    void _drop;
    edits.update(clean);
  };

  const create = async (): Promise<void> => {
    if (creating) {
      return;
    }
    setCreating(true);
    try {
      let scopes: Awaited<ReturnType<KeysClient['listScopes']>> = [];
      try {
        scopes = await client.listScopes();
      } catch (reason) {
        Notification.error(messageOf(reason), { autoClose: 8000 });
        return;
      }
      let request = null;
      let problem: string | null = null;
      for (;;) {
        request = await askNewKey(scopes, request, problem);
        if (!request) {
          return;
        }
        problem = nameProblem(
          request.name,
          keys.map(key => key.name)
        );
        if (!problem && request.scopes && !request.scopes.length && scopes.length) {
          problem = 'Choose at least one permission.';
        }
        if (problem) {
          continue;
        }
        try {
          const created = await client.createKey(request);
          const { value: _value, ...listed } = created;
          void _value;
          edits.addFirst(listed);
          await showValueOnce(
            `API key "${created.name}" created`,
            created,
            created.stored ?? request.store !== false,
            'Your new key is ready.'
          );
          break;
        } catch (reason) {
          if (reason instanceof ApiError && reason.status >= 400 && reason.status < 500) {
            problem = reason.message;
            continue;
          }
          throw reason;
        }
      }
      void load();
    } catch (reason) {
      Notification.error(messageOf(reason), { autoClose: 8000 });
    } finally {
      setCreating(false);
    }
  };

  const rotate = (key: IApiKey): Promise<void> =>
    withBusy(key, async () => {
      if (!(await confirmRotate(key, usersOf(key)))) {
        return;
      }
      const rotated = await client.rotateKey(key.id);
      replaceKey(rotated);
      await showValueOnce(
        `API key "${rotated.name}" regenerated`,
        rotated,
        rotated.stored ?? key.stored ?? false,
        `The old value (${key.hint}) no longer works. This is the new one.`
      );
      void load();
    });

  const revoke = (key: IApiKey): Promise<void> =>
    withBusy(key, async () => {
      if (!(await confirmRevoke(key, usersOf(key)))) {
        return;
      }
      await client.deleteKey(key.id);
      onRevoked(
        Math.max(
          0,
          keys.findIndex(item => item.id === key.id)
        )
      );
      edits.remove(key.id);
      Notification.success(`Key "${key.name}" was revoked.`, { autoClose: 4000 });
    });

  const toggleStatus = (key: IApiKey): Promise<void> =>
    withBusy(key, async () => {
      const next = key.status === 'active' ? 'inactive' : 'active';
      replaceKey(await client.setStatus(key.id, next));
    });

  const use = (key: IApiKey): Promise<void> =>
    withBusy(key, async () => {
      const message = await useInNotebook(key);
      Notification.success(message, { autoClose: 5000 });
      void load();
    });

  const copySnippet = async (key: IApiKey): Promise<void> => {
    const ok = await copyText(`%qbraid_key use ${key.name}`);
    if (ok) {
      Notification.info(`Copied "%qbraid_key use ${key.name}".`, { autoClose: 2500 });
    } else {
      Notification.warning('The clipboard is not available here.', { autoClose: 4000 });
    }
  };

  return { busy, creating, create, rotate, revoke, toggleStatus, use, copySnippet };
}
