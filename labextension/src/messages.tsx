// The sidebar's messages: every outcome it reports (success, copy, errors, revoke, "Use in
// notebook", qBraid Lab) is shown inside the sidebar, in live regions a screen reader
// announces, and also as a JupyterLab notification where the notification plugin runs.
// qBraid Lab disables that plugin (its page_config.json), which silently drops every toast.
import { Notification } from '@jupyterlab/apputils';
import { closeIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

/** JupyterLab's plugin that shows `Notification.*` as toasts. */
export const NOTIFICATION_PLUGIN = '@jupyterlab/apputils-extension:notification';

export type MessageKind = 'success' | 'info' | 'warning' | 'error';

export interface IMessage {
  id: number;
  kind: MessageKind;
  text: string;
}

/** How long a message stays (ms); warnings and errors stay until dismissed. */
const LIFETIME: Record<MessageKind, number | false> = {
  success: 10_000,
  info: 8_000,
  warning: false,
  error: false
};
/** How long the matching toast stays. */
const TOAST_LIFETIME: Record<MessageKind, number> = {
  success: 5_000,
  info: 4_000,
  warning: 8_000,
  error: 8_000
};
/** At most this many messages are shown; older ones make room. */
const MAX_SHOWN = 3;

export type Notify = (kind: MessageKind, text: string) => void;

/** The messages the sidebar shows now; a toast too when `toasts` (the plugin runs). */
export class Messages {
  constructor(readonly toasts: boolean) {}

  get list(): readonly IMessage[] {
    return this._list;
  }

  /** Show a message (and a toast where the notification plugin runs). */
  readonly show: Notify = (kind, text) => {
    const message = { id: ++this._last, kind, text };
    this._set([...this._list.filter(m => m.text !== text), message].slice(-MAX_SHOWN));
    const lifetime = LIFETIME[kind];
    if (lifetime !== false) {
      window.setTimeout(() => this.dismiss(message.id), lifetime);
    }
    if (this.toasts) {
      Notification.emit(text, kind, { autoClose: TOAST_LIFETIME[kind] });
    }
  };

  dismiss(id: number): void {
    if (this._list.some(m => m.id === id)) {
      this._set(this._list.filter(m => m.id !== id));
    }
  }

  /** Call `listener` on every change; returns the function that stops it. */
  subscribe(listener: () => void): () => void {
    this._listeners.add(listener);
    return () => this._listeners.delete(listener);
  }

  private _set(list: IMessage[]): void {
    this._list = list;
    this._listeners.forEach(listener => listener());
  }

  private _list: IMessage[] = [];
  private _last = 0;
  private _listeners = new Set<() => void>();
}

function useMessages(messages: Messages): readonly IMessage[] {
  const [, setVersion] = React.useState(0);
  React.useEffect(() => messages.subscribe(() => setVersion(v => v + 1)), [messages]);
  return messages.list;
}

function MessageItem(props: { message: IMessage; onDismiss: () => void }): JSX.Element {
  const { message } = props;
  return (
    <div className={`qbk-Message qbk-Message-${message.kind}`} data-kind={message.kind}>
      <span className="qbk-Message-text">{message.text}</span>
      <button
        type="button"
        className="qbk-IconButton qbk-Message-dismiss"
        aria-label="Dismiss this message"
        title="Dismiss"
        onClick={props.onDismiss}
      >
        <closeIcon.react tag="span" />
      </button>
    </div>
  );
}

/**
 * The sidebar's message area: a polite status region (success, info) and an assertive alert
 * region (warnings, errors). Both are always in the page, so that what is added to them is
 * announced.
 */
export function MessageArea(props: { messages: Messages }): JSX.Element {
  const { messages } = props;
  const list = useMessages(messages);
  const region = (kinds: MessageKind[]): JSX.Element[] =>
    list
      .filter(m => kinds.includes(m.kind))
      .map(m => <MessageItem key={m.id} message={m} onDismiss={() => messages.dismiss(m.id)} />)
      .reverse();
  return (
    <div className="qbk-Messages">
      <div className="qbk-Messages-alerts" role="alert">
        {region(['error', 'warning'])}
      </div>
      <div className="qbk-Messages-status" role="status">
        {region(['success', 'info'])}
      </div>
    </div>
  );
}
