// What the sidebar does to keys: create, regenerate, revoke, (de)activate, use in a notebook,
// copy the magic. One hook holds the actions and which keys are busy with one. Every outcome
// is told through `notify` (messages.tsx): in the sidebar, and as a toast where Lab has them.
import * as React from 'react';

import { ApiError, IApiKey, ICreateKeyRequest, KeysClient } from './api';
import { copyText } from './clipboard';
import { askNewKey, confirmRevoke, confirmRotate, nameProblem, showValueOnce } from './dialogs';
import type { Notify } from './messages';
import { IQbraidLabFollow, qbraidLabOutcome } from './qbraidlab';

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
  /** Tell the user an outcome (messages.tsx). */
  notify: Notify;
}

/** A create started for a purpose: a suggested name, and what to do with the new key. */
export interface ICreateOptions {
  name?: string;
  then?: (key: IApiKey) => Promise<void>;
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
  create: (options?: ICreateOptions) => Promise<void>;
  rotate: (key: IApiKey) => Promise<void>;
  revoke: (key: IApiKey) => Promise<void>;
  toggleStatus: (key: IApiKey) => Promise<void>;
  use: (key: IApiKey) => Promise<void>;
  copySnippet: (key: IApiKey) => Promise<void>;
}

export function useKeyActions(options: IKeyActionsOptions): IKeyActions {
  const { client, keys, edits, load, useInNotebook, onRevoked, usersOf, notify } = options;
  const [busy, setBusy] = React.useState<Set<string>>(new Set());
  const [creating, setCreating] = React.useState(false);

  const withBusy = async (key: IApiKey, action: () => Promise<void>): Promise<void> => {
    const id = key.id;
    setBusy(prev => new Set(prev).add(id));
    try {
      await action();
    } catch (reason) {
      notify('error', keyProblem(key, reason));
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

  const create = async (purpose?: ICreateOptions): Promise<void> => {
    if (creating) {
      return;
    }
    setCreating(true);
    try {
      let scopes: Awaited<ReturnType<KeysClient['listScopes']>> = [];
      try {
        scopes = await client.listScopes();
      } catch (reason) {
        notify('error', messageOf(reason));
        return;
      }
      let request: ICreateKeyRequest | null = purpose?.name ? { name: purpose.name } : null;
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
          const stored = created.stored ?? request.store !== false;
          await showValueOnce(
            `API key "${created.name}" created`,
            created,
            stored,
            'Your new key is ready.'
          );
          notify(
            'success',
            `Key "${listed.name}" was created${stored ? " and stored in this Lab's keyring" : ''}.`
          );
          if (purpose?.then) {
            await purpose.then({ ...listed, stored });
          }
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
      notify('error', messageOf(reason));
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
      notify('success', `Key "${rotated.name}" was regenerated; the old value no longer works.`);
      tellQbraidLab(rotated.name, rotated);
      void load();
    });

  const revoke = (key: IApiKey): Promise<void> =>
    withBusy(key, async () => {
      if (!(await confirmRevoke(key, usersOf(key)))) {
        return;
      }
      const result = await client.deleteKey(key.id);
      onRevoked(
        Math.max(
          0,
          keys.findIndex(item => item.id === key.id)
        )
      );
      edits.remove(key.id);
      notify('success', `Key "${key.name}" was revoked.`);
      tellQbraidLab(key.name, result);
    });

  const toggleStatus = (key: IApiKey): Promise<void> =>
    withBusy(key, async () => {
      const next = key.status === 'active' ? 'inactive' : 'active';
      replaceKey(await client.setStatus(key.id, next));
      notify('info', `Key "${key.name}" is now ${next}.`);
    });

  const use = (key: IApiKey): Promise<void> =>
    withBusy(key, async () => {
      notify('success', await useInNotebook(key));
      void load();
    });

  const copySnippet = async (key: IApiKey): Promise<void> => {
    const ok = await copyText(`%qbraid_key use ${key.name}`);
    if (ok) {
      notify('info', `Copied "%qbraid_key use ${key.name}".`);
    } else {
      notify('warning', 'The clipboard is not available here: type %qbraid_key use in a cell.');
    }
  };

  /** What a rotation or revoke did to qBraid Lab's key (the server's `qbraidLab`). */
  const tellQbraidLab = (name: string, answer: object): void => {
    const outcome = qbraidLabOutcome(name, (answer as { qbraidLab?: IQbraidLabFollow }).qbraidLab);
    if (outcome) {
      notify(...outcome);
    }
  };

  return { busy, creating, create, rotate, revoke, toggleStatus, use, copySnippet };
}
