// qbraid-keys-ext: qBraid API keys in JupyterLab's left area.
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { KEY_EVENT_SCHEMA_SUFFIX, KeysClient } from './api';
import { keyIcon } from './icons';
import { useKeyInNotebook } from './kernel';
import { Messages, NOTIFICATION_PLUGIN } from './messages';
import { KeysPanel } from './panel';
import { IQbraidLabState, offerInQbraidLabDialog } from './qbraidlab';
import { DEFAULT_SETTINGS, IPanelSettings } from './settings';

const PLUGIN_ID = 'qbraid-keys-ext:plugin';

export namespace CommandIDs {
  export const open = 'qbraid-keys:open';
}

function readSettings(settings: ISettingRegistry.ISettings): IPanelSettings {
  const number = (key: keyof IPanelSettings): number => {
    const value = settings.get(key).composite;
    return typeof value === 'number' && value > 0 ? value : DEFAULT_SETTINGS[key];
  };
  return { ageWarningDays: number('ageWarningDays'), unusedWarningDays: number('unusedWarningDays') };
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Manage qBraid API keys from the left sidebar and use them in notebooks.',
  autoStart: true,
  optional: [ICommandPalette, ISettingRegistry, INotebookTracker, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    registry: ISettingRegistry | null,
    notebooks: INotebookTracker | null,
    restorer: ILayoutRestorer | null
  ) => {
    const client = new KeysClient(app.serviceManager.serverSettings);
    // Without the notification plugin (qBraid Lab disables it) toasts go nowhere: the
    // sidebar shows every message itself, and adds a toast only where the plugin runs.
    const messages = new Messages(app.hasPlugin(NOTIFICATION_PLUGIN));
    const panel = new KeysPanel({
      client,
      messages,
      currentNotebook: () => notebooks?.currentWidget?.title.label ?? null,
      useInNotebook: async key => {
        const current = notebooks?.currentWidget;
        if (!current) {
          throw new Error(`No notebook is open: open one, then press "Use in notebook" again.`);
        }
        return useKeyInNotebook(current, key.name);
      }
    });
    // Live updates: every key change made through this server, and every use or clear in
    // one of its kernels, arrives on the server's event bus (never with a value).
    app.serviceManager.events.stream.connect((_, event) => {
      if (String(event.schema_id).endsWith(KEY_EVENT_SCHEMA_SUFFIX)) {
        panel.keyChanged();
      }
    });
    notebooks?.currentChanged.connect(() => panel.refreshTarget());
    notebooks?.widgetAdded.connect(() => panel.refreshTarget());

    app.shell.add(panel, 'left', { rank: 650 });
    restorer?.add(panel, panel.id);

    // qBraid Lab: its "API Key Required" dialog offers to get a key from this sidebar.
    client
      .route<IQbraidLabState>('GET', 'qbraid-lab')
      .then(state => {
        if (state.available) {
          offerInQbraidLabDialog(() => {
            app.shell.activateById(panel.id);
            panel.offerForQbraidLab();
          });
        }
      })
      .catch(() => undefined); // no qBraid Lab route answer: nothing to offer

    app.commands.addCommand(CommandIDs.open, {
      label: 'qBraid: Manage API Keys',
      caption: 'Open the qBraid API Keys sidebar',
      icon: keyIcon,
      execute: () => {
        app.shell.activateById(panel.id);
      }
    });
    palette?.addItem({ command: CommandIDs.open, category: 'qBraid' });

    if (registry) {
      registry
        .load(PLUGIN_ID)
        .then(settings => {
          panel.settings = readSettings(settings);
          settings.changed.connect(() => {
            panel.settings = readSettings(settings);
          });
        })
        .catch(reason => {
          console.warn('qbraid-keys-ext: settings could not be loaded', reason);
        });
    }
  }
};

export default plugin;
