// The 30-day usage chart in a key's details: one bar a day, oldest left.
import * as React from 'react';

import { IDailyUsage } from './api';

export function UsageChart(props: { daily: IDailyUsage[] }): JSX.Element {
  const { daily } = props;
  const max = Math.max(1, ...daily.map(day => day.count));
  const busiest = daily.reduce<IDailyUsage | null>(
    (best, day) => (day.count > (best?.count ?? 0) ? day : best),
    null
  );
  const label = busiest
    ? `Daily uses over the last ${daily.length} days; busiest ${busiest.date} with ${busiest.count}.`
    : `No uses in the last ${daily.length || 30} days.`;
  return (
    <figure className="qbk-Chart">
      <div className="qbk-Chart-bars" role="img" aria-label={label}>
        {daily.map(day => (
          <span
            key={day.date}
            className={`qbk-Chart-bar ${day.count ? '' : 'qbk-mod-zero'}`}
            style={{ height: `${Math.max(day.count ? 8 : 2, (day.count / max) * 100)}%` }}
            title={`${day.date}: ${day.count} ${day.count === 1 ? 'use' : 'uses'}`}
          />
        ))}
      </div>
      <figcaption className="qbk-Chart-caption">
        <span title={daily[0]?.date}>{daily.length || 30} days ago</span>
        <span>uses per day</span>
        <span title={daily[daily.length - 1]?.date}>today</span>
      </figcaption>
    </figure>
  );
}
