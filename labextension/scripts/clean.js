// Remove the TypeScript output and the built labextension (cross-platform `rm -rf`).
const fs = require('fs');
const path = require('path');

for (const dir of ['lib', path.join('..', 'qbraid_keys_ext', 'labextension')]) {
  fs.rmSync(path.join(__dirname, '..', dir), { recursive: true, force: true });
}
