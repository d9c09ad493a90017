// History chart of one attribute of the selected entity (uPlot), with a text summary
// for screen readers and the flood levels of a gauge as reference lines.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { formatNumber, formatTime, t } from './i18n.js';

let plot = null;

export function drawChart(container, summary, series, { label, levels = [] }) {
  if (plot) {
    plot.destroy();
    plot = null;
  }
  container.replaceChildren();
  const points = (series || []).filter(([, value]) => typeof value === 'number');
  if (!points.length) {
    summary.textContent = t('chartEmpty');
    return;
  }
  const values = points.map(([, value]) => value);
  summary.textContent = t('chartSummary', points.length, formatNumber(Math.min(...values)),
    formatNumber(Math.max(...values)), formatNumber(values[values.length - 1]));
  const data = [points.map(([at]) => at / 1000), values, ...levels.map(({ value }) => values.map(() => value))];
  const width = Math.max(240, container.clientWidth || 320);
  plot = new uPlot({
    width, height: 200, tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Asia/Seoul'),
    series: [
      { label: t('time'), value: (u, ts) => (ts === null || ts === undefined ? '—' : formatTime(ts * 1000)) },
      { label, stroke: '#0b57d0', width: 2, points: { show: points.length < 60 } },
      ...levels.map(({ name, color }) => ({ label: name, stroke: color, dash: [6, 4], width: 1.5 })),
    ],
    axes: [{ stroke: '#1b1f24' }, { stroke: '#1b1f24' }],
  }, data, container);
  container.querySelector('canvas')?.setAttribute('aria-hidden', 'true');
}
