import { LabIcon } from '@jupyterlab/ui-components';

// A key, drawn for the 16-24px activity bar; `jp-icon3` follows the theme's icon color.
const KEY_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M7.5 14.5a3 3 0 1 1 0-6 3 3 0 0 1 0 6zm0-8.5a5.5 5.5 0 1 0 5.2 7.3H15v2.2h2.5v-2.2h1.5v2.7h2.5v-5.2h-8.8A5.5 5.5 0 0 0 7.5 6z"/>
  </g>
</svg>`;

export const keyIcon = new LabIcon({ name: 'qbraid-keys-ext:key', svgstr: KEY_SVG });
