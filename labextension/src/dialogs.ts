// Dialogs of the sidebar: the create form, the one-time value box and the confirmations.
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { isDefaultScope, spendsCredits } from './api';
import type { IApiKey, IApiKeyWithValue, ICreateKeyRequest, IScope } from './api';
import { copyText } from './clipboard';

const NAME_MAX = 64;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

/** A problem with a key name, as a sentence, or null when the name is fine. */
export function nameProblem(raw: string, taken: string[] = []): string | null {
  const name = raw.trim();
  if (!name) {
    return 'Give the key a name, e.g. "ci" or "laptop".';
  }
  const length = nameLength(name);
  if (length > NAME_MAX) {
    return `Names are at most ${NAME_MAX} characters long; this one has ${length}.`;
  }
  if (CONTROL_CHARS.test(name)) {
    return 'Names cannot contain control characters.';
  }
  // Names are unique regardless of case, as the key API compares them.
  const same = taken.find(other => other.toLowerCase() === name.toLowerCase());
  if (same !== undefined) {
    return same === name
      ? `A key named "${name}" already exists. Pick another name.`
      : `A key named "${same}" already exists (names are unique regardless of case). Pick another name.`;
  }
  return null;
}

/** A name's length as the key API counts it: characters (code points) once trimmed. */
export function nameLength(raw: string): number {
  return [...raw.trim()].length;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> & { className?: string } = {},
  children: (Node | string)[] = []
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const child of children) {
    node.append(child);
  }
  return node;
}

let formCounter = 0;

/** Body of the "Create API Key" dialog: name, permissions, keyring checkbox. */
export class CreateKeyForm extends Widget implements Dialog.IBodyWidget<ICreateKeyRequest> {
  constructor(scopes: IScope[], initial: ICreateKeyRequest | null, error: string | null) {
    super();
    const uid = `qbk-create-${++formCounter}`;
    this.addClass('qbk-Form');

    this._name = el('input', {
      id: `${uid}-name`,
      type: 'text',
      required: true,
      autocomplete: 'off',
      spellcheck: false,
      placeholder: 'e.g. ci, laptop, thesis-jobs',
      value: initial?.name ?? '',
      className: 'jp-mod-styled qbk-Form-input'
    });
    // No maxLength: a pasted name that is too long stays whole, and the counter says so.
    const count = el('span', { id: `${uid}-count`, className: 'qbk-Form-count' });
    const showCount = (): void => {
      const length = nameLength(this._name.value);
      count.textContent = `${length}/${NAME_MAX}`;
      count.classList.toggle('qbk-mod-over', length > NAME_MAX);
      count.title =
        length > NAME_MAX
          ? `Too long: names are at most ${NAME_MAX} characters.`
          : `Names are at most ${NAME_MAX} characters.`;
    };
    showCount();
    this._name.addEventListener('input', showCount);
    this._name.setAttribute('aria-describedby', `${uid}-error ${uid}-count`);
    const nameLabel = el('label', { htmlFor: this._name.id, className: 'qbk-Form-label qbk-Form-nameLabel' }, [
      el('span', {}, ['Name ', el('span', { className: 'qbk-Form-hint' }, [`(at most ${NAME_MAX} characters)`])]),
      count
    ]);

    const errorLine = el('p', { id: `${uid}-error`, className: 'qbk-Form-error' }, [error ?? '']);
    errorLine.setAttribute('role', 'alert');
    if (error) {
      this._name.setAttribute('aria-invalid', 'true');
    }

    const fieldset = el('fieldset', { className: 'qbk-Form-scopes' }, [
      el('legend', { className: 'qbk-Form-label' }, ['Permissions'])
    ]);
    const chosen = initial?.scopes;
    for (const scope of scopes) {
      const box = el('input', {
        type: 'checkbox',
        value: scope.name,
        checked: chosen ? chosen.includes(scope.name) : isDefaultScope(scope),
        id: `${uid}-scope-${scope.name.replace(/[^a-zA-Z0-9_-]/g, '_')}`
      });
      this._scopes.push(box);
      const credits = spendsCredits(scope)
        ? [
            el('span', { className: 'qbk-Badge qbk-Badge-warn qbk-Form-credits' }, [
              'spends credits'
            ])
          ]
        : [];
      fieldset.append(
        el('label', { htmlFor: box.id, className: 'qbk-Form-check' }, [
          box,
          el('span', {}, [el('code', {}, [scope.name]), ...credits]),
          el('span', { className: 'qbk-Form-hint' }, [scope.description])
        ])
      );
    }
    fieldset.append(
      el('p', { className: 'qbk-Form-hint' }, [
        scopes.length
          ? 'Read-only permissions are ticked; tick the ones that spend credits only if this key needs them.'
          : "The service's default permissions will be granted."
      ])
    );

    this._store = el('input', {
      type: 'checkbox',
      id: `${uid}-store`,
      checked: initial?.store ?? true
    });
    const store = el('label', { htmlFor: this._store.id, className: 'qbk-Form-check' }, [
      this._store,
      el('span', {}, [
        "Store in this Lab's keyring",
        el('span', { className: 'qbk-Form-hint' }, [
          'Notebooks here can then use it with %qbraid_key use, without pasting the value.'
        ])
      ])
    ]);

    this.node.append(nameLabel, this._name, errorLine, fieldset, store);
  }

  getValue(): ICreateKeyRequest {
    const request: ICreateKeyRequest = { name: this._name.value.trim() };
    if (this._scopes.length) {
      request.scopes = this._scopes.filter(box => box.checked).map(box => box.value);
    }
    request.store = this._store.checked;
    return request;
  }

  private _name: HTMLInputElement;
  private _scopes: HTMLInputElement[] = [];
  private _store: HTMLInputElement;
}

/** Ask for a new key's name, permissions and storage; null when cancelled. */
export async function askNewKey(
  scopes: IScope[],
  initial: ICreateKeyRequest | null,
  error: string | null
): Promise<ICreateKeyRequest | null> {
  const body = new CreateKeyForm(scopes, initial, error);
  const dialog = new Dialog({
    title: 'Create API Key',
    body,
    focusNodeSelector: 'input[type="text"]',
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Create' })]
  });
  // Taller than JupyterLab's 500 px dialog limit in roomier themes (qBraid Lab's): see CSS.
  dialog.addClass('qbk-Dialog-tall');
  const result = await dialog.launch();
  return result.button.accept ? result.value : null;
}

/**
 * Body of the one-time value dialog. The value lives only in this widget's input;
 * `dispose` blanks the input and drops the reference, and the node leaves the page.
 */
export class OneTimeValue extends Widget {
  constructor(key: IApiKeyWithValue, stored: boolean, intro: string) {
    super();
    this.addClass('qbk-Secret');
    this._value = key.value;

    this._input = el('input', {
      type: 'text',
      readOnly: true,
      value: this._value,
      spellcheck: false,
      autocomplete: 'off',
      className: 'jp-mod-styled qbk-Secret-value'
    });
    this._input.setAttribute('aria-label', `Value of API key ${key.name}`);
    this._input.setAttribute('data-lpignore', 'true');
    this._input.addEventListener('focus', () => this._input.select());

    this._copy = el('button', { type: 'button', className: 'jp-mod-styled jp-mod-accept qbk-Secret-copy' }, [
      'Copy'
    ]);
    this._copy.setAttribute('aria-label', 'Copy the key value to the clipboard');
    this._copy.addEventListener('click', () => void this._copyValue());
    this._status = el('span', { className: 'qbk-Secret-status' });
    this._status.setAttribute('role', 'status');

    const where = stored
      ? el('p', { className: 'qbk-Secret-note' }, [
          "Also stored in this Lab's keyring: notebooks here can run ",
          el('code', {}, [`%qbraid_key use ${key.name}`]),
          ' without the value.'
        ])
      : el('p', { className: 'qbk-Secret-note' }, [
          "Not stored in this Lab. Keep it in a password manager or your CI's secret store."
        ]);

    this.node.append(
      el('p', { className: 'qbk-Secret-intro' }, [intro]),
      el('p', { className: 'qbk-Secret-warning' }, [
        'Copy it now: this is the only time the value is shown.'
      ]),
      el('div', { className: 'qbk-Secret-row' }, [this._input, this._copy]),
      this._status,
      where
    );
  }

  private async _copyValue(): Promise<void> {
    if (!this._value) {
      return;
    }
    const ok = await copyText(this._value);
    this._status.textContent = ok
      ? 'Copied to the clipboard.'
      : 'Copy failed: select the value and press Ctrl+C (⌘C on a Mac).';
    if (ok) {
      this._copy.textContent = 'Copied';
    } else {
      this._input.focus();
      this._input.select();
    }
  }

  /** Blank the field and forget the value. */
  wipe(): void {
    this._value = '';
    this._input.value = '';
    this._input.defaultValue = '';
    this._input.removeAttribute('value');
  }

  override dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.wipe();
    this.node.remove();
    super.dispose();
  }

  private _value: string;
  private _input: HTMLInputElement;
  private _copy: HTMLButtonElement;
  private _status: HTMLSpanElement;
}

/** Show a key's value once; when the dialog closes, the value leaves the page. */
export async function showValueOnce(
  title: string,
  key: IApiKeyWithValue,
  stored: boolean,
  intro: string
): Promise<void> {
  const body = new OneTimeValue(key, stored, intro);
  // The caller's object carries the value too: drop it as soon as the box holds it.
  (key as { value?: string }).value = '';
  try {
    await showDialog({
      title,
      body,
      focusNodeSelector: '.qbk-Secret-copy',
      buttons: [Dialog.okButton({ label: 'Done' })]
    });
  } finally {
    body.dispose();
  }
}

/** A paragraph naming the open notebooks whose kernels use a key, or nothing. */
function usersNote(users: string[], rotating: boolean): HTMLElement[] {
  if (!users.length) {
    return [];
  }
  const then = rotating
    ? 'They switch to the new value by themselves.'
    : 'Their next qBraid request will fail.';
  return [
    el('p', { className: 'qbk-Confirm-users' }, [
      `Used now by ${users.map(user => `"${user}"`).join(', ')}. ${then}`
    ])
  ];
}

export async function confirmRotate(key: IApiKey, users: string[] = []): Promise<boolean> {
  const body = el('div', { className: 'qbk-Confirm' }, [
    el('p', {}, [
      `A new value is created for "${key.name}", with the same name and permissions.`
    ]),
    el('p', { className: 'qbk-Confirm-warning' }, [
      `The old value (${key.hint}) stops working at once. Notebooks of this Lab that use the key follow it; jobs and scripts elsewhere fail until they get the new value.`
    ]),
    ...usersNote(users, true)
  ]);
  const result = await showDialog({
    title: 'Regenerate Key',
    body: widgetOf(body),
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Regenerate Key' })]
  });
  return result.button.accept;
}

export async function confirmRevoke(key: IApiKey, users: string[] = []): Promise<boolean> {
  const body = el('div', { className: 'qbk-Confirm' }, [
    el('p', {}, [`Revoke "${key.name}" (${key.hint}) permanently?`]),
    el('p', { className: 'qbk-Confirm-warning' }, [
      'Anything that uses it stops working at once. A revoked key cannot be restored; ' +
        "its value is also removed from this Lab's keyring."
    ]),
    ...usersNote(users, false)
  ]);
  const result = await showDialog({
    title: 'Revoke API Key',
    body: widgetOf(body),
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Revoke' })]
  });
  return result.button.accept;
}

function widgetOf(node: HTMLElement): Widget {
  return new Widget({ node });
}
