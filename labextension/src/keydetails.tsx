// A key's details, shown when its row expands: dates, status and its switch, permissions,
// usage and the usage chart.
import * as React from 'react';

import { IApiKey } from './api';
import { statusTitle } from './keystatus';
import { fullDate, timeAgo } from './time';
import { UsageChart } from './usagechart';

export interface IKeyDetailsProps {
  apiKey: IApiKey;
  busy: boolean;
  onToggleStatus: () => void;
}

export function KeyDetails(props: IKeyDetailsProps): JSX.Element {
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
      <UsageChart daily={daily} />
    </div>
  );
}
