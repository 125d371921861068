// "Use in notebook": hand a key to a notebook's kernel with a silent execute request.
//
// Nothing is written to the notebook: silent requests broadcast no input, no result and
// keep no history, and their output (if any) is routed to this request, never to a cell.
// The code only names the key; the kernel fetches the value from this Lab's keyring.
import type { NotebookPanel } from '@jupyterlab/notebook';

/** Python source that makes the kernel use key `name`, leaving no names behind. */
export function useKeyCode(name: string): string {
  // A JSON string literal is a valid Python string literal for any name.
  const literal = JSON.stringify(name);
  return [
    'import qbraid_keys_ext.kernel as _qbraid_keys_kernel',
    'try:',
    `    _qbraid_keys_kernel.use_key(${literal})`,
    'finally:',
    '    del _qbraid_keys_kernel'
  ].join('\n');
}

/** Make `panel`'s kernel use key `name`; resolve with a sentence, reject with one. */
export async function useKeyInNotebook(panel: NotebookPanel, name: string): Promise<string> {
  const context = panel.sessionContext;
  await context.ready;
  const kernel = context.session?.kernel;
  const label = panel.title.label || 'the notebook';
  if (!kernel) {
    throw new Error(`${label} has no running kernel. Start one, then try again.`);
  }
  const info = await kernel.info;
  const language = info.language_info?.name ?? '';
  if (language && language.toLowerCase() !== 'python') {
    throw new Error(`${label} runs a ${language} kernel; keys can be used in Python kernels.`);
  }
  const future = kernel.requestExecute(
    {
      code: useKeyCode(name),
      silent: true,
      store_history: false,
      allow_stdin: false,
      stop_on_error: false
    },
    true
  );
  const reply = await future.done;
  const content = reply.content;
  if (content.status === 'ok') {
    return `Key "${name}" is now used by the ${label} kernel.`;
  }
  if (content.status === 'error') {
    const detail = content.ename === 'ModuleNotFoundError'
      ? 'qbraid-keys-ext is not installed in this kernel\'s environment.'
      : `${content.ename}: ${content.evalue}`;
    throw new Error(`Key "${name}" could not be used in ${label}: ${detail}`);
  }
  throw new Error(`Key "${name}" could not be used in ${label}: the kernel aborted the request.`);
}
