// A key's details, shown when its row expands: dates, status and its switch, permissions,
// usage and the usage chart.
import * as React from 'react';

import { IApiKey, IDailyUsage, IKeyEvent, KeysClient } from './api';
import { statusTitle } from './keystatus';
import { fullDate, timeAgo } from './time';
import { UsageChart } from './usagechart';

export interface IKeyDetailsProps {
  apiKey: IApiKey;
  busy: boolean;
  client: KeysClient;
  onToggleStatus: () => void;
}

/** The newest 10 events of the key's audit trail, reloaded whenever the key changes. */
function History(props: { apiKey: IApiKey; client: KeysClient }): JSX.Element {
  const { apiKey: key, client } = props;
  const [events, setEvents] = React.useState<IKeyEvent[] | null>(null);
  const [problem, setProblem] = React.useState<string | null>(null);
  React.useEffect(() => {
    let live = true;
    client.listEvents(key.id, 10).then(
      found => live && (setEvents(found), setProblem(null)),
      reason => live && setProblem(reason instanceof Error ? reason.message : String(reason))
    );
    return () => {
      live = false;
    };
  }, [client, key.id, key.name, key.hint, key.status]);
  if (problem) {
    return <p className="qbk-History-empty">The history could not be loaded: {problem}</p>;
  }
  if (!events) {
    return <p className="qbk-History-empty">Loading the history…</p>;
  }
  if (!events.length) {
    return <p className="qbk-History-empty">No recorded changes.</p>;
  }
  return (
    <ol className="qbk-History" aria-label={`History of ${key.name}`}>
      {events.map(event => (
        <li key={event.id} className="qbk-History-event" data-action={event.action}>
          <span className="qbk-History-action">{event.action}</span>{' '}
          <span title={fullDate(event.at)}>{timeAgo(event.at)}</span>
          <span className="qbk-History-detail">
            {event.hint} · by {event.actor}
          </span>
        </li>
      ))}
    </ol>
  );
}

/**
 * The key's 30-day usage series: a list item carries only totals, so the details are fetched
 * when the row opens (and again when the key changes); a key that has it already is used as is.
 */
function useDaily(key: IApiKey, client: KeysClient): IDailyUsage[] | null {
  const given = key.usage?.daily ?? null;
  const [fetched, setFetched] = React.useState<IDailyUsage[] | null>(null);
  React.useEffect(() => {
    if (given) {
      return;
    }
    let live = true;
    client.getKey(key.id).then(
      found => live && setFetched(found.usage?.daily ?? []),
      () => live && setFetched([])
    );
    return () => {
      live = false;
    };
  }, [client, key.id, key.hint, key.status, key.usage?.total, given !== null]);
  return given ?? fetched;
}

export function KeyDetails(props: IKeyDetailsProps): JSX.Element {
  const { apiKey: key, busy } = props;
  const active = key.status === 'active';
  const daily = useDaily(key, props.client);
  const recent =
    key.usage?.last30Days ?? (daily ?? []).reduce((sum, day) => sum + day.count, 0);
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
          <span>{statusTitle(key)}</span>
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
      {daily ? (
        <UsageChart daily={daily} />
      ) : (
        <p className="qbk-History-empty">Loading the usage chart…</p>
      )}
      <h3 className="qbk-Details-heading">History</h3>
      <History apiKey={key} client={props.client} />
    </div>
  );
}
