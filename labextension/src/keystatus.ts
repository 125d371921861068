// One rule for a key's status, the same words as the ipywidgets panel's
// (qbraid_keys_ext/keyview.py): an inactive key keeps every action but "use", and looks
// paused, never deleted.
import { IApiKey } from './api';

/** What a key's status badge says when pointed at. */
export function statusTitle(key: IApiKey): string {
  return key.status === 'active'
    ? 'Active: requests with this key are accepted.'
    : 'Inactive: requests with this key are refused until it is activated.';
}

/** Why a key cannot be used in a notebook here, as a sentence, or null when it can. */
export function useBlocker(key: IApiKey): string | null {
  if (key.status !== 'active') {
    return 'Activate the key first: requests with it are refused while it is inactive.';
  }
  if (!key.stored) {
    return `This Lab's keyring does not hold the value: regenerate the key here, or run %qbraid_key add ${key.name}.`;
  }
  return null;
}
