// The sidebar's React view: loads the list, lays out the header, the list (or a state in
// its place) and the footer, and keeps keyboard focus in the panel after a revoke.
import { refreshIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { ApiError, IApiKey, IKernelUse, IServiceStatus, KeysClient } from './api';
import { messageOf, useKeyActions } from './keyactions';
import { KeyList } from './keylist';
import { MessageArea, Messages } from './messages';
import { QbraidLabContext, QbraidLabOffer, useQbraidLab } from './qbraidlab';
import { IPanelSettings } from './settings';
import { EmptyState, FailedState, LoadingState } from './viewstates';

export interface IViewProps {
  client: KeysClient;
  settings: IPanelSettings;
  generation: number;
  notebook: string | null;
  useInNotebook: (key: IApiKey) => Promise<string>;
  /** Where outcomes are told (in the sidebar, and as toasts where Lab has them). */
  messages: Messages;
  /** qBraid Lab's "API Key Required" dialog sent the user here. */
  qbraidLabRequested: boolean;
  /** qBraid Lab got its key. */
  onQbraidLabDone: () => void;
}

type Phase = 'loading' | 'ready' | 'failed';

export function KeysView(props: IViewProps): JSX.Element {
  const { client, settings, generation, notebook, useInNotebook, messages } = props;
  const notify = messages.show;
  const [phase, setPhase] = React.useState<Phase>('loading');
  const [keys, setKeys] = React.useState<IApiKey[]>([]);
  const [error, setError] = React.useState<ApiError | null>(null);
  const [refreshing, setRefreshing] = React.useState(false);
  const [expanded, setExpanded] = React.useState<Set<string>>(new Set());
  const [status, setStatus] = React.useState<IServiceStatus | null>(null);
  const [uses, setUses] = React.useState<IKernelUse[]>([]);
  const loads = React.useRef(0);
  const root = React.useRef<HTMLDivElement>(null);
  // Set by revoke: where keyboard focus goes once the revoked row is gone from the DOM.
  const focusAfterRevoke = React.useRef<number | null>(null);
  // After the commit that removed the row (a requestAnimationFrame can run before React
  // renders, and would focus the row that is about to go). Only when focus is lost (on the
  // body or the shell around the panel) or in the panel: a user who moved on to a notebook
  // in the meantime keeps their focus.
  React.useLayoutEffect(() => {
    const index = focusAfterRevoke.current;
    const view = root.current;
    if (index === null || !view) {
      return;
    }
    focusAfterRevoke.current = null;
    const active = document.activeElement;
    if (active && !active.contains(view) && !view.contains(active)) {
      return;
    }
    const toggles = view.querySelectorAll<HTMLElement>('.qbk-Row-toggle');
    const next = toggles.length
      ? toggles[Math.min(index, toggles.length - 1)]
      : view.querySelector<HTMLElement>('.qbk-Create');
    next?.focus();
  }, [keys]);
  // Re-render every minute so "3 minutes ago" stays true (no request).
  const [, setTick] = React.useState(0);
  React.useEffect(() => {
    const timer = window.setInterval(() => setTick(tick => tick + 1), 60_000);
    return () => window.clearInterval(timer);
  }, []);

  const load = React.useCallback(async () => {
    const ticket = ++loads.current;
    setRefreshing(true);
    try {
      const list = await client.listKeys();
      if (ticket === loads.current) {
        setKeys(list);
        setError(null);
        setPhase('ready');
      }
    } catch (reason) {
      if (ticket === loads.current) {
        setError(
          reason instanceof ApiError ? reason : new ApiError(messageOf(reason), 'UNKNOWN', 0)
        );
        setPhase('failed');
      }
    } finally {
      if (ticket === loads.current) {
        setRefreshing(false);
      }
    }
    client.status().then(
      value => ticket === loads.current && setStatus(value),
      () => ticket === loads.current && setStatus(null)
    );
    client.listKernels().then(
      value => ticket === loads.current && setUses(value),
      () => ticket === loads.current && setUses([])
    );
  }, [client]);

  React.useEffect(() => {
    void load();
  }, [load, generation]);

  const retry = (): void => {
    setPhase('loading');
    void load();
  };

  const qbraidLab = useQbraidLab(client, notify, generation, props.onQbraidLabDone);
  const usersOf = (key: IApiKey): string[] => [
    ...uses
      .filter(use => use.keyId === key.id)
      .map(use => use.path || `kernel ${use.kernelId.slice(0, 8)}`),
    ...(qbraidLab.uses(key) ? ['qBraid Lab'] : [])
  ];

  const actions = useKeyActions({
    usersOf,
    client,
    keys,
    setKeys,
    load,
    useInNotebook,
    notify,
    // The focused trash button is gone with its row: keep keyboard users in the panel, on
    // the row that takes its place (see the layout effect above).
    onRevoked: index => {
      focusAfterRevoke.current = index;
    }
  });

  const toggleExpanded = (id: string): void => {
    setExpanded(prev => {
      const next = new Set(prev);
      if (next.has(id)) {
        next.delete(id);
      } else {
        next.add(id);
      }
      return next;
    });
  };

  let body: JSX.Element;
  if (phase === 'loading') {
    body = <LoadingState />;
  } else if (phase === 'failed' && error) {
    body = <FailedState error={error} onRetry={retry} />;
  } else if (!keys.length) {
    body = <EmptyState creating={actions.creating} onCreate={() => void actions.create()} />;
  } else {
    body = (
      <KeyList
        keys={keys}
        settings={settings}
        expanded={expanded}
        busy={actions.busy}
        notebook={notebook}
        usersOf={usersOf}
        client={client}
        handlers={key => ({
          onToggleExpanded: () => toggleExpanded(key.id),
          onUse: () => void actions.use(key),
          onCopy: () => void actions.copySnippet(key),
          onRotate: () => void actions.rotate(key),
          onRevoke: () => void actions.revoke(key),
          onToggleStatus: () => void actions.toggleStatus(key)
        })}
      />
    );
  }

  return (
    <div className="qbk-View" ref={root} aria-busy={phase === 'loading' || refreshing}>
      <header className="qbk-Header">
        <h2 className="qbk-Title" title="qBraid API Keys">
          API Keys
        </h2>
        <button
          type="button"
          className="qbk-IconButton qbk-Reload"
          aria-label="Reload the key list"
          title="Reload the key list"
          onClick={retry}
        >
          <refreshIcon.react tag="span" className={refreshing ? 'qbk-Spinning' : ''} />
        </button>
        <div className="qbk-Header-actions">
          <button
            type="button"
            className="jp-mod-styled jp-mod-accept qbk-Create"
            onClick={() => void actions.create()}
            disabled={actions.creating || phase === 'failed'}
          >
            Create API Key
          </button>
        </div>
      </header>
      <div className={`qbk-Progress ${refreshing && phase === 'ready' ? 'qbk-mod-active' : ''}`} />
      <MessageArea messages={messages} />
      <QbraidLabContext.Provider value={qbraidLab}>
        <QbraidLabOffer
          requested={props.qbraidLabRequested}
          creating={actions.creating}
          onCreate={() => void actions.create({ name: 'qbraid-lab', then: qbraidLab.useFor })}
        />
        <div className="qbk-Body">{body}</div>
      </QbraidLabContext.Provider>
      <footer className="qbk-Footer">
        {status ? (
          <span title={status.upstream.url}>
            {status.upstream.kind === 'embedded' ? 'Embedded key service' : 'qBraid key service'}
            {' · keyring: '}
            {status.keyring.backend}
            {status.keyring.secure ? '' : ' (file)'}
          </span>
        ) : (
          <span>Values are shown once and never saved in notebooks.</span>
        )}
      </footer>
    </div>
  );
}
