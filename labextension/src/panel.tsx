// The sidebar panel: the account's keys, their details and every action on them.
import { Notification } from '@jupyterlab/apputils';
import {
  ReactWidget,
  caretDownIcon,
  caretRightIcon,
  copyIcon,
  deleteIcon,
  refreshIcon
} from '@jupyterlab/ui-components';
import * as React from 'react';

import { ApiError, IApiKey, IDailyUsage, IServiceStatus, KeysClient } from './api';
import { copyText } from './clipboard';
import { askNewKey, confirmRevoke, confirmRotate, nameProblem, showValueOnce } from './dialogs';
import { keyIcon } from './icons';
import { daysSince, fullDate, shortDate, timeAgo } from './time';

export interface IPanelSettings {
  ageWarningDays: number;
  unusedWarningDays: number;
}

export const DEFAULT_SETTINGS: IPanelSettings = { ageWarningDays: 90, unusedWarningDays: 30 };

export interface IPanelOptions {
  client: KeysClient;
  /** Inject a key into the current notebook's kernel; resolves with a message, or throws. */
  useInNotebook: (key: IApiKey) => Promise<string>;
  /** The label of the notebook "Use in notebook" targets, or null when none is open. */
  currentNotebook: () => string | null;
}

/** The left-area widget; a thin Lumino shell around the React view. */
export class KeysPanel extends ReactWidget {
  constructor(options: IPanelOptions) {
    super();
    this._options = options;
    this.id = 'qbraid-keys-sidebar';
    this.addClass('qbk-Panel');
    this.title.icon = keyIcon;
    this.title.caption = 'qBraid API Keys';
  }

  get settings(): IPanelSettings {
    return this._settings;
  }

  set settings(value: IPanelSettings) {
    this._settings = value;
    this.update();
  }

  /** Load the list again (the view keeps its state). */
  reload(): void {
    this._generation++;
    this.update();
  }

  /** Re-render, e.g. when the current notebook changes. */
  refreshTarget(): void {
    this.update();
  }

  protected override onAfterShow(): void {
    // "Last used" moves while the panel is hidden: refresh on every show.
    this.reload();
  }

  protected render(): JSX.Element {
    return (
      <KeysView
        client={this._options.client}
        settings={this._settings}
        generation={this._generation}
        notebook={this._options.currentNotebook()}
        useInNotebook={this._options.useInNotebook}
      />
    );
  }

  private _options: IPanelOptions;
  private _settings: IPanelSettings = DEFAULT_SETTINGS;
  private _generation = 0;
}

interface IViewProps {
  client: KeysClient;
  settings: IPanelSettings;
  generation: number;
  notebook: string | null;
  useInNotebook: (key: IApiKey) => Promise<string>;
}

type Phase = 'loading' | 'ready' | 'failed';

function messageOf(reason: unknown): string {
  if (reason instanceof ApiError) {
    return reason.message;
  }
  return reason instanceof Error ? reason.message : String(reason);
}

export function KeysView(props: IViewProps): JSX.Element {
  const { client, settings, generation, notebook, useInNotebook } = props;
  const [phase, setPhase] = React.useState<Phase>('loading');
  const [keys, setKeys] = React.useState<IApiKey[]>([]);
  const [error, setError] = React.useState<ApiError | null>(null);
  const [refreshing, setRefreshing] = React.useState(false);
  const [expanded, setExpanded] = React.useState<Set<string>>(new Set());
  const [busy, setBusy] = React.useState<Set<string>>(new Set());
  const [status, setStatus] = React.useState<IServiceStatus | null>(null);
  const [creating, setCreating] = React.useState(false);
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
  }, [client]);

  React.useEffect(() => {
    void load();
  }, [load, generation]);

  const retry = (): void => {
    setPhase('loading');
    void load();
  };

  const withBusy = async (id: string, action: () => Promise<void>): Promise<void> => {
    setBusy(prev => new Set(prev).add(id));
    try {
      await action();
    } catch (reason) {
      Notification.error(messageOf(reason), { autoClose: 8000 });
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
    setKeys(prev => prev.map(key => (key.id === clean.id ? { ...key, ...clean } : key)));
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
          setKeys(prev => [listed, ...prev.filter(key => key.id !== listed.id)]);
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
    withBusy(key.id, async () => {
      if (!(await confirmRotate(key))) {
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
    withBusy(key.id, async () => {
      if (!(await confirmRevoke(key))) {
        return;
      }
      await client.deleteKey(key.id);
      // The focused trash button is gone with its row: keep keyboard users in the panel, on
      // the row that takes its place (see the layout effect above).
      focusAfterRevoke.current = Math.max(
        0,
        keys.findIndex(item => item.id === key.id)
      );
      setKeys(prev => prev.filter(item => item.id !== key.id));
      Notification.success(`Key "${key.name}" was revoked.`, { autoClose: 4000 });
    });

  const toggle = (key: IApiKey): Promise<void> =>
    withBusy(key.id, async () => {
      const next = key.status === 'active' ? 'inactive' : 'active';
      replaceKey(await client.setStatus(key.id, next));
    });

  const use = (key: IApiKey): Promise<void> =>
    withBusy(key.id, async () => {
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
    body = (
      <div className="qbk-State" role="status" aria-live="polite">
        <div className="qbk-Spinner" aria-hidden="true" />
        <p>Loading your API keys…</p>
      </div>
    );
  } else if (phase === 'failed' && error) {
    body = (
      <div className="qbk-State qbk-State-error" role="alert">
        <p className="qbk-State-title">
          {error.upstreamDown ? 'The key service is unreachable' : 'Your keys could not be loaded'}
        </p>
        <p className="qbk-State-message">{error.message}</p>
        {error.upstreamDown && (
          <p className="qbk-State-help">
            Keys stored in this Lab stay safe. Try again in a moment, or ask your administrator to
            check the key service.
          </p>
        )}
        <button type="button" className="jp-mod-styled jp-mod-accept qbk-Retry" onClick={retry}>
          Retry
        </button>
      </div>
    );
  } else if (!keys.length) {
    body = (
      <div className="qbk-State qbk-State-empty">
        <keyIcon.react tag="span" className="qbk-State-icon" />
        <p className="qbk-State-title">No API keys yet — create one</p>
        <p className="qbk-State-help">
          A key lets notebooks, jobs and scripts spend your qBraid credits. Its value is shown
          once; notebooks in this Lab use it by name.
        </p>
        <button
          type="button"
          className="jp-mod-styled jp-mod-accept"
          onClick={() => void create()}
          disabled={creating}
        >
          Create API Key
        </button>
      </div>
    );
  } else {
    body = (
      <ul className="qbk-List" aria-label="API keys">
        {keys.map(key => (
          <KeyRow
            key={key.id}
            apiKey={key}
            settings={settings}
            expanded={expanded.has(key.id)}
            busy={busy.has(key.id)}
            notebook={notebook}
            onToggleExpanded={() => toggleExpanded(key.id)}
            onUse={() => void use(key)}
            onCopy={() => void copySnippet(key)}
            onRotate={() => void rotate(key)}
            onRevoke={() => void revoke(key)}
            onToggleStatus={() => void toggle(key)}
          />
        ))}
      </ul>
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
            onClick={() => void create()}
            disabled={creating || phase === 'failed'}
          >
            Create API Key
          </button>
        </div>
      </header>
      <div className={`qbk-Progress ${refreshing && phase === 'ready' ? 'qbk-mod-active' : ''}`} />
      <div className="qbk-Body">{body}</div>
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

interface IRowProps {
  apiKey: IApiKey;
  settings: IPanelSettings;
  expanded: boolean;
  busy: boolean;
  notebook: string | null;
  onToggleExpanded: () => void;
  onUse: () => void;
  onCopy: () => void;
  onRotate: () => void;
  onRevoke: () => void;
  onToggleStatus: () => void;
}

function KeyRow(props: IRowProps): JSX.Element {
  const { apiKey: key, settings, expanded, busy, notebook } = props;
  const detailsId = `qbk-details-${key.id}`;
  const ageDays = daysSince(key.rotatedAt ?? key.createdAt);
  const old = ageDays >= settings.ageWarningDays;
  const idleDays = key.lastUsedAt ? daysSince(key.lastUsedAt) : daysSince(key.createdAt);
  const idle = idleDays >= settings.unusedWarningDays;
  const active = key.status === 'active';
  const Caret = expanded ? caretDownIcon : caretRightIcon;

  return (
    <li
      className={`qbk-Row ${active ? '' : 'qbk-mod-inactive'} ${busy ? 'qbk-mod-busy' : ''}`}
      data-key-id={key.id}
      data-key-name={key.name}
      aria-busy={busy}
    >
      <button
        type="button"
        className="qbk-Row-toggle"
        aria-expanded={expanded}
        aria-controls={detailsId}
        aria-label={`${key.name}, ${active ? 'active' : 'inactive'}, last used ${timeAgo(key.lastUsedAt)}. ${expanded ? 'Hide' : 'Show'} details`}
        onClick={props.onToggleExpanded}
      >
        <Caret.react tag="span" className="qbk-Row-caret" />
        <span className="qbk-Row-head">
          <span className="qbk-Row-name" title={key.name}>
            {key.name}
          </span>
          <span className={`qbk-Status ${active ? 'qbk-Status-active' : 'qbk-Status-inactive'}`}>
            {active ? 'active' : 'inactive'}
          </span>
        </span>
        <span className="qbk-Row-hint">{key.hint}</span>
        <span className="qbk-Row-meta">
          <span title={fullDate(key.createdAt)}>Created {shortDate(key.createdAt)}</span>
          <span title={key.lastUsedAt ? fullDate(key.lastUsedAt) : 'Not used yet'}>
            Last used {timeAgo(key.lastUsedAt)}
          </span>
        </span>
        <span className="qbk-Row-badges">
          {key.stored ? (
            <span
              className="qbk-Badge qbk-Badge-stored"
              title="This Lab's keyring holds the value: notebooks here can use the key by name."
            >
              stored here
            </span>
          ) : (
            <span
              className="qbk-Badge qbk-Badge-remote"
              title="This Lab's keyring does not hold the value; regenerate the key to store it here."
            >
              not stored here
            </span>
          )}
          {old && (
            <span
              className="qbk-Badge qbk-Badge-warn"
              title={`The value is ${ageDays} days old. Regenerate keys every ${settings.ageWarningDays} days to limit the damage of a leak.`}
            >
              {settings.ageWarningDays}+ days old
            </span>
          )}
          {idle && (
            <span
              className="qbk-Badge qbk-Badge-warn"
              title={`Not used for ${idleDays} days. Revoke keys you no longer need.`}
            >
              unused {settings.unusedWarningDays}+ days
            </span>
          )}
        </span>
      </button>
      <div className="qbk-Row-actions">
        <button
          type="button"
          className="jp-mod-styled qbk-TextButton qbk-Use"
          onClick={props.onUse}
          disabled={busy || !active || !key.stored || !notebook}
          title={
            !active
              ? 'Activate the key first.'
              : !key.stored
                ? "This Lab's keyring does not hold the value."
                : notebook
                  ? `Put this key into the kernel of ${notebook} (nothing is written to the notebook).`
                  : 'Open a notebook first.'
          }
        >
          Use in notebook
        </button>
        <span className="qbk-Row-spacer" />
        <button
          type="button"
          className="qbk-IconButton qbk-Copy"
          onClick={props.onCopy}
          aria-label={`Copy "%qbraid_key use ${key.name}"`}
          title={`Copy "%qbraid_key use ${key.name}"`}
        >
          <copyIcon.react tag="span" />
        </button>
        <button
          type="button"
          className="qbk-IconButton qbk-Rotate"
          onClick={props.onRotate}
          disabled={busy}
          aria-label={`Regenerate key ${key.name}`}
          title="Regenerate Key"
        >
          <refreshIcon.react tag="span" />
        </button>
        <button
          type="button"
          className="qbk-IconButton qbk-Revoke"
          onClick={props.onRevoke}
          disabled={busy}
          aria-label={`Revoke key ${key.name}`}
          title="Revoke (permanent)"
        >
          <deleteIcon.react tag="span" />
        </button>
      </div>
      <div id={detailsId} className="qbk-Details" hidden={!expanded}>
        {expanded && (
          <KeyDetails
            apiKey={key}
            busy={busy}
            onToggleStatus={props.onToggleStatus}
          />
        )}
      </div>
    </li>
  );
}

function KeyDetails(props: {
  apiKey: IApiKey;
  busy: boolean;
  onToggleStatus: () => void;
}): JSX.Element {
  const { apiKey: key, busy } = props;
  const active = key.status === 'active';
  const daily = key.usage?.daily ?? [];
  const recent = daily.reduce((sum, day) => sum + day.count, 0);
  return (
    <div className="qbk-Details-body">
      <dl className="qbk-Facts">
        <dt>Created</dt>
        <dd>{fullDate(key.createdAt)}</dd>
        <dt>Rotated</dt>
        <dd>{key.rotatedAt ? fullDate(key.rotatedAt) : 'never'}</dd>
        <dt>Last used</dt>
        <dd>
          {key.lastUsedAt ? `${fullDate(key.lastUsedAt)} (${timeAgo(key.lastUsedAt)})` : 'never'}
        </dd>
        <dt>Status</dt>
        <dd className="qbk-Facts-status">
          <span>{active ? 'Active' : 'Inactive: requests with it are refused'}</span>
          <button
            type="button"
            className="jp-mod-styled qbk-TextButton qbk-StatusToggle"
            onClick={props.onToggleStatus}
            disabled={busy}
            title={active ? 'Stop this key from working (reversible).' : 'Let this key work again.'}
          >
            {active ? 'Deactivate' : 'Activate'}
          </button>
        </dd>
        <dt>Permissions</dt>
        <dd>
          {key.scopes.length ? (
            <ul className="qbk-Scopes" aria-label="Permissions">
              {key.scopes.map(scope => (
                <li key={scope} className="qbk-Scope">
                  {scope}
                </li>
              ))}
            </ul>
          ) : (
            'none'
          )}
        </dd>
        <dt>Usage</dt>
        <dd>
          {key.usage?.total ?? 0} in total, {recent} in the last 30 days
        </dd>
      </dl>
      <UsageChart daily={daily} />
    </div>
  );
}

function UsageChart(props: { daily: IDailyUsage[] }): JSX.Element {
  const { daily } = props;
  const max = Math.max(1, ...daily.map(day => day.count));
  const busiest = daily.reduce<IDailyUsage | null>(
    (best, day) => (day.count > (best?.count ?? 0) ? day : best),
    null
  );
  const label = busiest
    ? `Daily uses over the last ${daily.length} days; busiest ${busiest.date} with ${busiest.count}.`
    : `No uses in the last ${daily.length || 30} days.`;
  return (
    <figure className="qbk-Chart">
      <div className="qbk-Chart-bars" role="img" aria-label={label}>
        {daily.map(day => (
          <span
            key={day.date}
            className={`qbk-Chart-bar ${day.count ? '' : 'qbk-mod-zero'}`}
            style={{ height: `${Math.max(day.count ? 8 : 2, (day.count / max) * 100)}%` }}
            title={`${day.date}: ${day.count} ${day.count === 1 ? 'use' : 'uses'}`}
          />
        ))}
      </div>
      <figcaption className="qbk-Chart-caption">
        <span title={daily[0]?.date}>{daily.length || 30} days ago</span>
        <span>uses per day</span>
        <span title={daily[daily.length - 1]?.date}>today</span>
      </figcaption>
    </figure>
  );
}
