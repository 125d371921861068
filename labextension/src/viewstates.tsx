// What the sidebar shows instead of the list: loading, a failure with Retry, no keys yet.
import * as React from 'react';

import { ApiError } from './api';
import { keyIcon } from './icons';

export function LoadingState(): JSX.Element {
  return (
    <div className="qbk-State" role="status" aria-live="polite">
      <div className="qbk-Spinner" aria-hidden="true" />
      <p>Loading your API keys…</p>
    </div>
  );
}

export function FailedState(props: { error: ApiError; onRetry: () => void }): JSX.Element {
  const { error } = props;
  return (
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
      <button type="button" className="jp-mod-styled jp-mod-accept qbk-Retry" onClick={props.onRetry}>
        Retry
      </button>
    </div>
  );
}

export function EmptyState(props: { creating: boolean; onCreate: () => void }): JSX.Element {
  return (
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
        onClick={props.onCreate}
        disabled={props.creating}
      >
        Create API Key
      </button>
    </div>
  );
}
