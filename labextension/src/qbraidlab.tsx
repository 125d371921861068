// qBraid Lab's account key from the sidebar ("Use for qBraid Lab").
//
// In qBraid Lab, its Devices and Quantum Jobs panels and its credentials check use the key in
// ~/.qbraid/qbraidrc. A row offers to make its key that key; the server reads the value from
// its keyring and saves it through qBraid Lab's own route (the value never comes here).
// Where qBraid Lab's "API Key Required" dialog appears, it offers the same, so that a user
// never has to leave Lab to get started. Nothing here shows without qBraid Lab.
import { Dialog, showDialog } from '@jupyterlab/apputils';
import * as React from 'react';

import type { IApiKey, KeysClient } from './api';
import type { MessageKind, Notify } from './messages';

/** `GET qbraid-keys/qbraid-lab`: is qBraid Lab here, which key it uses (never a value). */
export interface IQbraidLabState {
  available: boolean;
  apiKeySet?: boolean;
  keyId?: string | null;
  hint?: string | null;
  url?: string | null;
  upstreamUrl?: string | null;
  path?: string;
}

/** What rotate and revoke answers say about qBraid Lab's key (`qbraidLab`). */
export interface IQbraidLabFollow {
  updated?: boolean;
  error?: string;
  wasKey?: boolean;
  path?: string;
}

const QBRAIDRC = '~/.qbraid/qbraidrc';
const ACTION = 'Use for qBraid Lab';

/** The message for what a rotation or revoke did to qBraid Lab's key, if anything. */
export function qbraidLabOutcome(
  name: string,
  follow: IQbraidLabFollow | undefined
): [MessageKind, string] | null {
  if (!follow) {
    return null;
  }
  const path = follow.path ?? QBRAIDRC;
  if (follow.wasKey) {
    return [
      'warning',
      `qBraid Lab used "${name}": its Devices and Quantum Jobs panels and its credentials ` +
        `check fail until it has another key. Press "${ACTION}" on another key.`
    ];
  }
  if (follow.updated) {
    return ['success', `qBraid Lab's key in ${path} now holds the new value of "${name}".`];
  }
  return [
    'error',
    `qBraid Lab still holds the old value of "${name}": ${follow.error ?? 'it was not updated.'} ` +
      `Press "${ACTION}" on the key to try again.`
  ];
}

async function confirmUseForQbraidLab(key: IApiKey, state: IQbraidLabState): Promise<boolean> {
  const replaces =
    state.apiKeySet && state.hint !== key.hint
      ? `It replaces the key qBraid Lab uses now${state.hint ? ` (${state.hint})` : ''}.`
      : null;
  const body = (
    <div className="qbk-Confirm">
      <p>
        qBraid Lab's Devices and Quantum Jobs panels and its credentials check will use the key "
        {key.name}" ({key.hint}), with the key service at {state.upstreamUrl ?? 'this Lab'}.
      </p>
      <p className="qbk-Confirm-warning">
        qBraid Lab keeps its key in {state.path ?? QBRAIDRC} as plain text: anything that runs
        as you can read it there. This Lab's keyring keeps its own copy as before.
      </p>
      <p>
        When you regenerate "{key.name}" here, the new value goes there too.
        {replaces ? ` ${replaces}` : ''}
      </p>
    </div>
  );
  const result = await showDialog({
    title: ACTION,
    body,
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: ACTION })]
  });
  return result.button.accept;
}

/** The sidebar's view of qBraid Lab, shared with the rows through a context. */
export interface IQbraidLab {
  state: IQbraidLabState | null;
  /** Id of the key being made qBraid Lab's key. */
  busy: string | null;
  /** Whether qBraid Lab's key is this key. */
  uses: (key: IApiKey) => boolean;
  useFor: (key: IApiKey) => Promise<void>;
}

export const QbraidLabContext = React.createContext<IQbraidLab | null>(null);

/** qBraid Lab's state, loaded with the list (`generation`), and the action. */
export function useQbraidLab(
  client: KeysClient,
  notify: Notify,
  generation: number,
  onChanged: () => void
): IQbraidLab {
  const [state, setState] = React.useState<IQbraidLabState | null>(null);
  const [busy, setBusy] = React.useState<string | null>(null);

  const load = React.useCallback(async () => {
    try {
      setState(await client.route<IQbraidLabState>('GET', 'qbraid-lab'));
    } catch {
      setState(null); // an older server, or none: no qBraid Lab offer
    }
  }, [client]);

  React.useEffect(() => {
    void load();
  }, [load, generation]);

  const uses = (key: IApiKey): boolean =>
    !!state?.available && (state.keyId ? state.keyId === key.id : !!state.hint && state.hint === key.hint);

  const useFor = async (key: IApiKey): Promise<void> => {
    if (!state?.available || busy) {
      return;
    }
    setBusy(key.id);
    try {
      if (!(await confirmUseForQbraidLab(key, state))) {
        return;
      }
      await client.route('POST', 'qbraid-lab', { keyId: key.id });
      notify(
        'success',
        `qBraid Lab now uses "${key.name}" (${key.hint}): its credentials check passes, and ` +
          'its Devices and Quantum Jobs panels use the key.'
      );
      onChanged();
    } catch (reason) {
      notify('error', `"${key.name}": ${reason instanceof Error ? reason.message : reason}`);
    } finally {
      setBusy(null);
      void load();
    }
  };

  return { state, busy, uses, useFor };
}

/**
 * A row's "Use for qBraid Lab" button, on a line of its own under the row's actions; nothing
 * when the key is qBraid Lab's already (the row then says "In use by qBraid Lab").
 */
export function QbraidLabAction(props: { apiKey: IApiKey; busy: boolean }): JSX.Element | null {
  const lab = React.useContext(QbraidLabContext);
  const { apiKey: key } = props;
  if (!lab?.state?.available || lab.uses(key)) {
    return null;
  }
  const blocker =
    key.status !== 'active'
      ? 'Activate the key first.'
      : !key.stored
        ? "This Lab's keyring does not hold the value; regenerate the key to store it here."
        : null;
  return (
    <div className="qbk-Row-qbraidLab">
      <button
        type="button"
        className="jp-mod-styled qbk-TextButton qbk-QbraidLab-use"
        onClick={() => void lab.useFor(key)}
        disabled={props.busy || lab.busy !== null || blocker !== null}
        aria-label={`Use key ${key.name} for qBraid Lab`}
        title={
          blocker ??
          `Make "${key.name}" qBraid Lab's account key (kept in ${lab.state.path ?? QBRAIDRC}).`
        }
      >
        {ACTION}
      </button>
    </div>
  );
}

/**
 * The sidebar's offer when qBraid Lab has no key of ours: create one for it, or use one of
 * the keys below. Shown on a fresh home, and when qBraid Lab's dialog sent the user here.
 */
export function QbraidLabOffer(props: {
  requested: boolean;
  creating: boolean;
  onCreate: () => void;
}): JSX.Element | null {
  const lab = React.useContext(QbraidLabContext);
  const button = React.useRef<HTMLButtonElement>(null);
  const state = lab?.state;
  const shown = !!state?.available && !state.keyId && (props.requested || !state.apiKeySet);
  React.useEffect(() => {
    if (shown && props.requested) {
      button.current?.focus();
    }
  }, [shown, props.requested]);
  if (!shown) {
    return null;
  }
  return (
    <section className="qbk-QbraidLab" aria-label="qBraid Lab's API key">
      <p className="qbk-QbraidLab-text">
        {state?.apiKeySet
          ? "qBraid Lab's API key does not work here."
          : 'qBraid Lab has no API key yet.'}{' '}
        Its Devices and Quantum Jobs panels need one: create one here, or press "{ACTION}" on
        a key below.
      </p>
      <button
        ref={button}
        type="button"
        className="jp-mod-styled jp-mod-accept qbk-QbraidLab-create"
        onClick={props.onCreate}
        disabled={props.creating}
      >
        Create a key for qBraid Lab
      </button>
    </section>
  );
}

/** qBraid Lab's "API Key Required" dialog (its labextension, @qbraid/lab). */
const CREDENTIAL_DIALOG = '#qbraid-credential-dialog';
const CREDENTIAL_CLOSE = '.qbraid-credential-close';
const OFFER_CLASS = 'qbk-QbraidLabDialogOffer';

/**
 * Add the sidebar's offer to qBraid Lab's "API Key Required" dialog whenever it appears:
 * a button that closes it and opens the sidebar (`onAccept`). Returns a function that stops.
 */
export function offerInQbraidLabDialog(onAccept: () => void): () => void {
  const add = (): void => {
    const dialog = document.querySelector<HTMLElement>(CREDENTIAL_DIALOG);
    if (!dialog || dialog.querySelector(`.${OFFER_CLASS}`)) {
      return;
    }
    const offer = document.createElement('div');
    offer.className = OFFER_CLASS;
    const text = document.createElement('p');
    text.textContent = 'No key at hand? Create one in this Lab, in the API Keys sidebar:';
    const button = document.createElement('button');
    button.type = 'button';
    button.className = `${OFFER_CLASS}-button`;
    button.textContent = 'Get a key from API Keys';
    button.addEventListener('click', () => {
      const close = dialog.querySelector<HTMLElement>(CREDENTIAL_CLOSE);
      if (close) {
        close.click(); // qBraid Lab's own dismiss: it forgets and disposes its dialog
      }
      onAccept();
    });
    offer.append(text, button);
    dialog.append(offer);
  };
  const observer = new MutationObserver(add);
  observer.observe(document.body, { childList: true });
  add();
  return () => observer.disconnect();
}
