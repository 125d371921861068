// The sidebar's React view: loads the keys page by page (more as the list scrolls), searches
// them on the server, lays out the header, the search box, the list (or a state in its place)
// and the footer, and keeps keyboard focus in the panel after a revoke.
import { refreshIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { ApiError, IApiKey, IKernelUse, IServiceStatus, KeysClient } from './api';
import { messageOf, useKeyActions } from './keyactions';
import { KeyList } from './keylist';
import {
  addFirst,
  appendPage,
  firstPage,
  flatten,
  IPages,
  NO_PAGES,
  pageAt,
  refreshPage,
  removeKey,
  updateKey
} from './keypages';
import { MessageArea, Messages } from './messages';
import { QbraidLabContext, QbraidLabOffer, useQbraidLab } from './qbraidlab';
import { IPanelSettings } from './settings';
import { EmptyState, FailedState, LoadingState } from './viewstates';

/** Keys per page (the key API allows up to 200). */
export const PAGE_SIZE = 50;
/** A page fetched again may have grown by this many keys (created meanwhile). */
const REFRESH_SLACK = 20;
/** Typing in the search box waits this long for the next key before searching. */
const SEARCH_DELAY_MS = 250;

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
  const [pages, setPages] = React.useState<IPages>(NO_PAGES);
  const [error, setError] = React.useState<ApiError | null>(null);
  const [refreshing, setRefreshing] = React.useState(false);
  const [loadingMore, setLoadingMore] = React.useState(false);
  const [moreError, setMoreError] = React.useState<string | null>(null);
  const [expanded, setExpanded] = React.useState<Set<string>>(new Set());
  const [status, setStatus] = React.useState<IServiceStatus | null>(null);
  const [uses, setUses] = React.useState<IKernelUse[]>([]);
  const [typed, setTyped] = React.useState('');
  const [query, setQuery] = React.useState('');
  const keys = React.useMemo(() => flatten(pages), [pages]);
  const loads = React.useRef(0);
  const pagesNow = React.useRef(pages);
  pagesNow.current = pages;
  const moreLoading = React.useRef(false);
  const inView = React.useRef<[number, number]>([0, 0]);
  const root = React.useRef<HTMLDivElement>(null);
  const scroller = React.useRef<HTMLDivElement>(null);
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
    // Rows carry their place in the list (aria-posinset, from 1): the one that took the
    // revoked row's place, else the nearest rendered one.
    const rows = Array.from(view.querySelectorAll<HTMLElement>('.qbk-Row'));
    const place = (row: HTMLElement): number => Number(row.getAttribute('aria-posinset')) - 1;
    const row =
      rows.find(item => place(item) === index) ??
      rows.filter(item => place(item) < index).pop() ??
      rows[0];
    const next =
      row?.querySelector<HTMLElement>('.qbk-Row-toggle') ??
      view.querySelector<HTMLElement>('.qbk-Create');
    next?.focus();
  }, [keys]);
  // Re-render every minute so "3 minutes ago" stays true (no request).
  const [, setTick] = React.useState(0);
  React.useEffect(() => {
    const timer = window.setInterval(() => setTick(tick => tick + 1), 60_000);
    return () => window.clearInterval(timer);
  }, []);

  const side = React.useCallback(
    (ticket: number) => {
      client.status().then(
        value => ticket === loads.current && setStatus(value),
        () => ticket === loads.current && setStatus(null)
      );
      client.listKernels().then(
        value => ticket === loads.current && setUses(value),
        () => ticket === loads.current && setUses([])
      );
    },
    [client]
  );

  /**
   * Run one load of the list: a newer load makes an older one's answer moot; a failure
   * replaces the list with its message; the status line and kernels are read again after.
   */
  const loading = React.useCallback(
    async (work: () => Promise<(prev: IPages) => IPages>) => {
      const ticket = ++loads.current;
      setRefreshing(true);
      try {
        const change = await work();
        if (ticket === loads.current) {
          setPages(change);
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
      side(ticket);
    },
    [side]
  );

  /** Load the first page again (a new search, or nothing loaded yet). */
  const loadFirst = React.useCallback(
    (search: string) =>
      loading(async () => {
        const page = await client.listPage({ limit: PAGE_SIZE, q: search });
        setMoreError(null);
        scroller.current?.scrollTo({ top: 0 });
        return () => firstPage(page);
      }),
    [client, loading]
  );

  /**
   * A key changed (or the panel was shown): fetch again the pages in view, and the first
   * (where new keys appear), not every page loaded so far.
   */
  const refresh = React.useCallback(async () => {
    const state = pagesNow.current;
    if (!state.pages.length) {
      return loadFirst(query);
    }
    const [first, end] = inView.current;
    const wanted = new Set([0, pageAt(state, first), pageAt(state, Math.max(first, end - 1))]);
    return loading(async () => {
      const fetched = await Promise.all(
        Array.from(wanted)
          .sort((a, b) => a - b)
          .map(async index => {
            const { cursor, keys: old } = state.pages[index];
            const limit = Math.min(200, Math.max(PAGE_SIZE, old.length + REFRESH_SLACK));
            return { index, cursor, page: await client.listPage({ limit, cursor, q: query }) };
          })
      );
      return prev =>
        fetched.reduce(
          (acc, { index, cursor, page }) => refreshPage(acc, index, cursor, page),
          prev
        );
    });
  }, [client, query, loadFirst, loading]);

  /** The list scrolled near the end of the loaded keys: the next page, if any. */
  const loadMore = React.useCallback(async () => {
    const cursor = pagesNow.current.next;
    if (!cursor || moreLoading.current) {
      return;
    }
    moreLoading.current = true;
    setLoadingMore(true);
    const ticket = loads.current;
    try {
      const page = await client.listPage({ limit: PAGE_SIZE, cursor, q: query });
      if (ticket === loads.current) {
        setPages(prev => appendPage(prev, cursor, page));
        setMoreError(null);
      }
    } catch (reason) {
      if (ticket === loads.current) {
        setMoreError(messageOf(reason));
      }
    } finally {
      moreLoading.current = false;
      setLoadingMore(false);
    }
  }, [client, query]);

  const onNearEnd = React.useCallback(() => {
    if (!moreError) {
      void loadMore();
    }
  }, [loadMore, moreError]);

  const onWindow = React.useCallback((first: number, end: number) => {
    inView.current = [first, end];
  }, []);

  // Every new generation (shown again, a key event, the 60 s poll): the window again.
  React.useEffect(() => {
    void refresh();
    // `refresh` changes with the search, which loads the first page itself (below).
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [generation]);

  // The search box: search on the server once typing pauses.
  React.useEffect(() => {
    const trimmed = typed.trim();
    if (trimmed === query) {
      return;
    }
    const timer = window.setTimeout(() => setQuery(trimmed), SEARCH_DELAY_MS);
    return () => window.clearTimeout(timer);
  }, [typed, query]);
  const searched = React.useRef(query);
  React.useEffect(() => {
    if (searched.current !== query) {
      searched.current = query;
      void loadFirst(query);
    }
  }, [query, loadFirst]);

  const retry = (): void => {
    setPhase('loading');
    void loadFirst(query);
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
    edits: {
      addFirst: key => setPages(prev => addFirst(prev, key)),
      update: key => setPages(prev => updateKey(prev, key)),
      remove: id => setPages(prev => removeKey(prev, id))
    },
    load: refresh,
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
  } else if (!keys.length && !query) {
    body = <EmptyState creating={actions.creating} onCreate={() => void actions.create()} />;
  } else if (!keys.length) {
    body = (
      <div className="qbk-State qbk-State-nomatch" role="status">
        <p>No key has “{query}” in its name or hint.</p>
      </div>
    );
  } else {
    body = (
      <>
        <KeyList
          keys={keys}
          total={pages.total}
          settings={settings}
          expanded={expanded}
          busy={actions.busy}
          notebook={notebook}
          usersOf={usersOf}
          client={client}
          scroller={scroller}
          onNearEnd={onNearEnd}
          onWindow={onWindow}
          handlers={key => ({
            onToggleExpanded: () => toggleExpanded(key.id),
            onUse: () => void actions.use(key),
            onCopy: () => void actions.copySnippet(key),
            onRotate: () => void actions.rotate(key),
            onRevoke: () => void actions.revoke(key),
            onToggleStatus: () => void actions.toggleStatus(key)
          })}
        />
        {loadingMore && <p className="qbk-More">Loading more keys…</p>}
        {moreError && (
          <p className="qbk-More qbk-More-error" role="alert">
            More keys could not be loaded: {moreError}{' '}
            <button
              type="button"
              className="jp-mod-styled qbk-TextButton"
              onClick={() => {
                setMoreError(null);
                void loadMore();
              }}
            >
              Retry
            </button>
          </p>
        )}
      </>
    );
  }

  const counted =
    phase !== 'ready'
      ? ''
      : query
        ? `${pages.total.toLocaleString()} matching`
        : `${pages.total.toLocaleString()} key${pages.total === 1 ? '' : 's'}`;

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
          onClick={() => (phase === 'ready' ? void refresh() : retry())}
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
      <div className="qbk-Search">
        <input
          type="search"
          className="qbk-Search-input"
          placeholder="Search name or hint"
          aria-label="Search keys by name or hint"
          value={typed}
          onChange={event => setTyped(event.target.value)}
          onKeyDown={event => {
            if (event.key === 'Enter') {
              setQuery(typed.trim());
            }
          }}
        />
        <span className="qbk-Search-count" aria-live="polite">
          {counted}
        </span>
      </div>
      <div className={`qbk-Progress ${refreshing && phase === 'ready' ? 'qbk-mod-active' : ''}`} />
      <MessageArea messages={messages} />
      <QbraidLabContext.Provider value={qbraidLab}>
        <QbraidLabOffer
          requested={props.qbraidLabRequested}
          creating={actions.creating}
          onCreate={() => void actions.create({ name: 'qbraid-lab', then: qbraidLab.useFor })}
        />
        <div className="qbk-Body" ref={scroller}>
          {body}
        </div>
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
