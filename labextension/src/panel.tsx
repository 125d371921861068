// The sidebar panel: a thin Lumino shell around the React view (keysview.tsx).
//
// | module        | holds                                                              |
// | ------------- | ------------------------------------------------------------------ |
// | keysview      | the view: loading pages, search, header, body, footer, focus       |
// | keypages      | the loaded pages of keys, and how a page fetched again merges in   |
// | keyactions    | create, regenerate, revoke, (de)activate, use, copy; busy keys      |
// | keylist       | the windowed list: only the rows in view are in the DOM            |
// | keyrow        | one key: summary, badges, action buttons                           |
// | keydetails    | a key's details when its row expands                               |
// | usagechart    | the 30-day usage chart in the details                              |
// | keystatus     | the status badge's words and when Use is disabled (as keyview.py)  |
// | viewstates    | loading, failed and empty states                                   |
// | dialogs       | the create form, the one-time value box, the confirmations         |
// | messages      | outcomes told in the sidebar (and as toasts where Lab has them)    |
// | qbraidlab     | "Use for qBraid Lab", its offer, qBraid Lab's key dialog           |
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IApiKey, KeysClient } from './api';
import { keyIcon } from './icons';
import { KeysView } from './keysview';
import { Messages } from './messages';
import { DEFAULT_SETTINGS, IPanelSettings } from './settings';


/** How often a visible panel reloads, to show changes made outside this Lab. */
const POLL_MS = 60_000;
/** Events that arrive together (e.g. revoked + cleared) cause one reload. */
const EVENT_DEBOUNCE_MS = 150;

export interface IPanelOptions {
  client: KeysClient;
  /** Inject a key into the current notebook's kernel; resolves with a message, or throws. */
  useInNotebook: (key: IApiKey) => Promise<string>;
  /** The label of the notebook "Use in notebook" targets, or null when none is open. */
  currentNotebook: () => string | null;
  /** Where outcomes are told. */
  messages: Messages;
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

  /** qBraid Lab asked for a key: show the sidebar's offer to make one its key. */
  offerForQbraidLab(): void {
    this._qbraidLabRequested = true;
    this.reload();
  }

  /** Re-render, e.g. when the current notebook changes. */
  refreshTarget(): void {
    this.update();
  }

  /** A key changed in this Lab (an event on the server's bus): reload soon, once. */
  keyChanged(): void {
    if (this._pending === null) {
      this._pending = window.setTimeout(() => {
        this._pending = null;
        this.reload();
      }, EVENT_DEBOUNCE_MS);
    }
  }

  protected override onAfterShow(): void {
    // Changes made outside this Lab send no event: refresh on every show, and every minute
    // while the panel is visible.
    this.reload();
    window.clearInterval(this._poll);
    this._poll = window.setInterval(() => this.isVisible && this.reload(), POLL_MS);
  }

  protected override onAfterHide(): void {
    window.clearInterval(this._poll);
  }

  override dispose(): void {
    window.clearInterval(this._poll);
    super.dispose();
  }

  protected render(): JSX.Element {
    return (
      <KeysView
        client={this._options.client}
        settings={this._settings}
        generation={this._generation}
        notebook={this._options.currentNotebook()}
        useInNotebook={this._options.useInNotebook}
        messages={this._options.messages}
        qbraidLabRequested={this._qbraidLabRequested}
        onQbraidLabDone={() => {
          this._qbraidLabRequested = false;
          this.update();
        }}
      />
    );
  }

  private _options: IPanelOptions;
  private _settings: IPanelSettings = DEFAULT_SETTINGS;
  private _generation = 0;
  private _poll = 0;
  private _pending: number | null = null;
  private _qbraidLabRequested = false;
}
