// Build the prebuilt labextension into ../qbraid_keys_ext/labextension, offline.
//
// `jupyter-builder build` would otherwise fetch @jupyterlab/core-meta from the network;
// we hand it the core package file of the JupyterLab installed next to the Python that
// drives the build (pip's isolated build environment, or the developer's venv).
// Extra arguments (e.g. --development) are passed through.
'use strict';

const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const LOCATE = [
  'import os, jupyter_builder, jupyterlab',
  "print(os.path.join(os.path.dirname(jupyterlab.__file__), 'staging', 'package.json'))"
].join('; ');

function which(cmd) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    for (const ext of process.platform === 'win32' ? ['.exe', '.cmd', ''] : ['']) {
      const candidate = path.join(dir, cmd + ext);
      try {
        fs.accessSync(candidate, fs.constants.X_OK);
        if (fs.statSync(candidate).isFile()) {
          return candidate;
        }
      } catch {
        // not here
      }
    }
  }
  return null;
}

// The interpreter that runs an installed console script (its shebang line).
function interpreterOf(script) {
  if (!script || process.platform === 'win32') {
    return null;
  }
  const head = fs.readFileSync(script, 'utf8').split('\n', 3);
  const shebang = head[0].startsWith('#!') ? head[0].slice(2).trim() : '';
  if (shebang === '/bin/sh' && head[1]) {
    // pip writes `'''exec' "/long path/python" "$0" "$@"` when the path is long.
    const match = /exec' "([^"]+)"/.exec(head[1]) || /exec' (\S+)/.exec(head[1]);
    return match ? match[1] : null;
  }
  return shebang ? shebang.split(/\s+/)[0] : null;
}

function candidates() {
  const list = [
    process.env.QBRAID_KEYS_BUILD_PYTHON,
    process.env.VIRTUAL_ENV &&
      path.join(process.env.VIRTUAL_ENV, process.platform === 'win32' ? 'Scripts' : 'bin', 'python'),
    interpreterOf(which('jupyter-builder')),
    interpreterOf(which('jupyter')),
    process.platform === 'win32' ? 'python' : 'python3',
    'python'
  ];
  return [...new Set(list.filter(Boolean))];
}

function locate() {
  const tried = [];
  for (const python of candidates()) {
    const out = spawnSync(python, ['-c', LOCATE], { encoding: 'utf8' });
    const file = (out.stdout || '').trim();
    if (out.status === 0 && file && fs.existsSync(file)) {
      return { python, file };
    }
    tried.push(python);
  }
  console.error(
    'Could not find a Python with jupyterlab>=4.6 and jupyter_builder installed ' +
      `(tried: ${tried.join(', ')}). Set QBRAID_KEYS_BUILD_PYTHON to such an interpreter.`
  );
  process.exit(1);
}

const { python, file } = locate();
const args = [
  '-m',
  'jupyter_builder.main',
  'build',
  '--core-package-file',
  file,
  path.resolve(__dirname, '..'),
  // after the path: `--development` also takes a value and would swallow it
  ...process.argv.slice(2)
];
console.log(`Building labextension with ${python} (core: ${file})`);
const result = spawnSync(python, args, { stdio: 'inherit' });
process.exit(result.status === null ? 1 : result.status);
