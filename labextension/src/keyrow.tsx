// One key in the sidebar's list: its summary (a toggle for the details), its badges, its
// action buttons, and its details when expanded.
import {
  caretDownIcon,
  caretRightIcon,
  copyIcon,
  deleteIcon,
  refreshIcon
} from '@jupyterlab/ui-components';
import * as React from 'react';

import { IApiKey, KeysClient } from './api';
import { KeyDetails } from './keydetails';
import { statusTitle, useBlocker } from './keystatus';
import { QbraidLabAction } from './qbraidlab';
import { IPanelSettings } from './settings';
import { daysSince, fullDate, shortDate, timeAgo } from './time';

/** What a row can ask the view to do with its key. */
export interface IRowHandlers {
  onToggleExpanded: () => void;
  onUse: () => void;
  onCopy: () => void;
  onRotate: () => void;
  onRevoke: () => void;
  onToggleStatus: () => void;
}

export interface IRowProps extends IRowHandlers {
  apiKey: IApiKey;
  /** The row's place in the whole list (1 = newest), for assistive technology. */
  position?: number;
  /** How many keys the whole list has. */
  setSize?: number;
  settings: IPanelSettings;
  expanded: boolean;
  busy: boolean;
  notebook: string | null;
  /** The open notebooks whose kernels use this key. */
  users: string[];
  client: KeysClient;
}

export function KeyRow(props: IRowProps): JSX.Element {
  const { apiKey: key, settings, expanded, busy, notebook, users } = props;
  const detailsId = `qbk-details-${key.id}`;
  const ageDays = daysSince(key.rotatedAt ?? key.createdAt);
  const old = ageDays >= settings.ageWarningDays;
  const idleDays = key.lastUsedAt ? daysSince(key.lastUsedAt) : daysSince(key.createdAt);
  const idle = idleDays >= settings.unusedWarningDays;
  const active = key.status === 'active';
  const blocker = useBlocker(key);
  const Caret = expanded ? caretDownIcon : caretRightIcon;

  return (
    <li
      className={`qbk-Row ${active ? '' : 'qbk-mod-inactive'} ${busy ? 'qbk-mod-busy' : ''}`}
      data-key-id={key.id}
      data-key-name={key.name}
      aria-posinset={props.position}
      aria-setsize={props.setSize}
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
          <span
            className={`qbk-Status ${active ? 'qbk-Status-active' : 'qbk-Status-inactive'}`}
            title={statusTitle(key)}
          >
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
        {users.length > 0 && (
          <span className="qbk-Row-users" title="Notebooks whose kernels use this key now">
            In use by {users.join(', ')}
          </span>
        )}
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
          disabled={busy || blocker !== null}
          title={
            blocker ??
            (notebook
              ? `Put this key into the kernel of ${notebook} (nothing is written to the notebook).`
              : 'Open a notebook first.')
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
      <QbraidLabAction apiKey={key} busy={busy} />
      <div id={detailsId} className="qbk-Details" hidden={!expanded}>
        {expanded && (
          <KeyDetails
            apiKey={key}
            busy={busy}
            client={props.client}
            onToggleStatus={props.onToggleStatus}
          />
        )}
      </div>
    </li>
  );
}
