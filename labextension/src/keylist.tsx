// The sidebar's list of keys: one row per key.
import * as React from 'react';

import { IApiKey, KeysClient } from './api';
import { IRowHandlers, KeyRow } from './keyrow';
import { IPanelSettings } from './settings';

export interface IKeyListProps {
  keys: IApiKey[];
  settings: IPanelSettings;
  /** Ids of the keys whose details are open. */
  expanded: Set<string>;
  /** Ids of the keys an action is running on. */
  busy: Set<string>;
  notebook: string | null;
  /** The open notebooks whose kernels use a key. */
  usersOf: (key: IApiKey) => string[];
  client: KeysClient;
  handlers: (key: IApiKey) => IRowHandlers;
}

export function KeyList(props: IKeyListProps): JSX.Element {
  const { keys, settings, expanded, busy, notebook, usersOf, client, handlers } = props;
  return (
    <ul className="qbk-List" aria-label="API keys">
      {keys.map(key => (
        <KeyRow
          key={key.id}
          apiKey={key}
          settings={settings}
          expanded={expanded.has(key.id)}
          busy={busy.has(key.id)}
          notebook={notebook}
          users={usersOf(key)}
          client={client}
          {...handlers(key)}
        />
      ))}
    </ul>
  );
}
