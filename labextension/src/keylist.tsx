// The sidebar's list of keys, windowed: only the rows in view (and a margin around them) are
// in the DOM, whatever the number of keys loaded; padding above and below stands for the
// others. Row heights are measured as rows are shown (and when one expands); rows not yet
// shown count as the average measured height.
import * as React from 'react';

import { IApiKey, KeysClient } from './api';
import { IRowHandlers, KeyRow } from './keyrow';
import { IPanelSettings } from './settings';

/** Height of a row never measured, before any row was. */
const FIRST_ESTIMATE = 100;
/** Rows this far (in pixels) above and below the view are rendered too. */
const MARGIN_PX = 500;
/** Ask for the next page when the last loaded row is this close to the window. */
const NEAR_END_ROWS = 10;

export interface IKeyListProps {
  /** The keys loaded so far, in list order. */
  keys: IApiKey[];
  /** How many keys there are in all (more may be loaded by scrolling). */
  total: number;
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
  /** The element that scrolls the list (the list is its first child). */
  scroller: React.RefObject<HTMLElement>;
  /** The rows near the end of the loaded keys are in the window: load more, if any. */
  onNearEnd: () => void;
  /** Which keys (positions in `keys`, end excluded) are rendered now. */
  onWindow?: (first: number, end: number) => void;
}

/** The first index whose offset is above `y` (offsets ascending, offsets[0] = 0). */
function indexAt(offsets: Float64Array, y: number): number {
  let lo = 0;
  let hi = offsets.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (offsets[mid] <= y) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

export function KeyList(props: IKeyListProps): JSX.Element {
  const { keys, total, settings, expanded, busy, notebook, usersOf, client, handlers } = props;
  const { scroller, onNearEnd, onWindow } = props;
  const heights = React.useRef(new Map<string, number>());
  const list = React.useRef<HTMLUListElement>(null);
  const [view, setView] = React.useState({ top: 0, height: 800 });
  const [, setMeasured] = React.useState(0);

  // Follow the scroller: its scroll position and its height.
  React.useEffect(() => {
    const element = scroller.current;
    if (!element) {
      return;
    }
    let frame = 0;
    const read = (): void => {
      frame = 0;
      setView(prev =>
        prev.top === element.scrollTop && prev.height === element.clientHeight
          ? prev
          : { top: element.scrollTop, height: element.clientHeight }
      );
    };
    const onScroll = (): void => {
      if (!frame) {
        frame = requestAnimationFrame(read);
      }
    };
    read();
    element.addEventListener('scroll', onScroll, { passive: true });
    const resize = new ResizeObserver(onScroll);
    resize.observe(element);
    return () => {
      element.removeEventListener('scroll', onScroll);
      resize.disconnect();
      cancelAnimationFrame(frame);
    };
  }, [scroller]);

  // Where each key's row starts, from measured heights (else the average measured).
  let measuredSum = 0;
  let measuredCount = 0;
  for (const height of heights.current.values()) {
    measuredSum += height;
    measuredCount++;
  }
  const estimate = measuredCount ? measuredSum / measuredCount : FIRST_ESTIMATE;
  const offsets = new Float64Array(keys.length + 1);
  for (let i = 0; i < keys.length; i++) {
    offsets[i + 1] = offsets[i] + (heights.current.get(keys[i].id) ?? estimate);
  }
  const first = Math.min(indexAt(offsets, view.top - MARGIN_PX), keys.length);
  const end = Math.min(keys.length, indexAt(offsets, view.top + view.height + MARGIN_PX) + 1);
  const shown = keys.slice(first, end);

  // Measure the rendered rows (again when one changes size, e.g. its details open).
  React.useLayoutEffect(() => {
    const element = list.current;
    if (!element) {
      return;
    }
    const measure = (): void => {
      let changed = false;
      for (const row of Array.from(element.children) as HTMLElement[]) {
        const id = row.dataset.keyId;
        const height = row.offsetHeight;
        if (id && height > 0 && heights.current.get(id) !== height) {
          heights.current.set(id, height);
          changed = true;
        }
      }
      if (changed) {
        setMeasured(n => n + 1);
      }
    };
    measure();
    const resize = new ResizeObserver(measure);
    for (const row of Array.from(element.children)) {
      resize.observe(row);
    }
    return () => resize.disconnect();
  });

  React.useEffect(() => {
    onWindow?.(first, end);
    if (end >= keys.length - NEAR_END_ROWS) {
      onNearEnd();
    }
  }, [first, end, keys.length, onNearEnd, onWindow]);

  return (
    <ul
      className="qbk-List"
      aria-label="API keys"
      ref={list}
      style={{ paddingTop: offsets[first], paddingBottom: offsets[keys.length] - offsets[end] }}
    >
      {shown.map((key, i) => (
        <KeyRow
          key={key.id}
          apiKey={key}
          position={first + i + 1}
          setSize={Math.max(total, keys.length)}
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
