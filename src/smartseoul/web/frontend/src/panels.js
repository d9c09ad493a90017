// The page around the map: layer list, legend, the entity list (the accessible
// alternative to the map), the district table of the 3D view and the details panel.

import { drawChart } from './chart.js';
import { formatNumber, formatTime, language, t } from './i18n.js';
import { COLORS, KIND_ORDER, PM_BANDS } from './kinds.js';

const UNITS = {
  GQ: 'µg/m³', MTR: 'm', MQS: 'm³/s', CEL: '°C', 59: 'ppm', C26: 'min', P1: '%', LUX: 'lx',
  '2N': 'dB', KMH: 'km/h', MTS: 'm/s',
};
const $ = (id) => document.getElementById(id);

export function unitOf(code) {
  return code ? UNITS[code] || code : '';
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

function swatch(color, shape = 'dot') {
  return el('span', { className: `swatch ${shape}`, style: `--c:${color}`, 'aria-hidden': 'true' });
}

export function plainText(value) {
  if (value === undefined || value === null) return '—';
  if (typeof value === 'number') return formatNumber(value);
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && !Array.isArray(value) && (value.ko || value.en)) {
    return value[language()] || value.ko || value.en;
  }
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}

export function renderLayers(ctx) {
  const list = $('layer-list');
  const types = [...ctx.state.types.values()].sort(
    (a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) || a.short.localeCompare(b.short),
  );
  const shown = [...list.querySelectorAll('input')].map((box) => box.dataset.type);
  if (shown.length === types.length && types.every((type, i) => shown[i] === type.iri)) {
    // Same layers: update the counts only, so a focused checkbox keeps its focus.
    for (const [i, count] of [...list.querySelectorAll('.count')].entries()) {
      count.textContent = `(${ctx.countOf(types[i].iri)})`;
    }
    return;
  }
  list.replaceChildren(...types.map((type) => {
    const count = ctx.countOf(type.iri);
    const label = type.kind === 'other' ? type.short : t(`kinds.${type.kind}`);
    const box = el('input', { type: 'checkbox', checked: type.visible, dataset: { type: type.iri } });
    box.addEventListener('change', () => ctx.setVisible(type.iri, box.checked));
    return el('li', {}, el('label', { title: type.iri }, box, ' ', swatch(COLORS[type.kind] || COLORS.other),
      `${label} `, el('span', { className: 'count' }, `(${count})`)));
  }));
}

function legendItem(color, text, shape) {
  return el('li', {}, swatch(color, shape), text);
}

export function renderLegend(ctx) {
  const items = [];
  const kinds = new Set([...ctx.state.types.values()].filter((x) => x.visible).map((x) => x.kind));
  if (kinds.has('air') || ctx.state.metric.startsWith('avg:')) {
    const pollutant = ctx.state.pollutant;
    const [good, normal, bad] = PM_BANDS[pollutant];
    items.push(el('li', { className: 'legend-head' }, `${t(pollutant)} (µg/m³)`));
    items.push(legendItem(COLORS.good, `${t('bands.good')} 0–${good}`));
    items.push(legendItem(COLORS.normal, `${t('bands.normal')} ${good + 1}–${normal}`));
    items.push(legendItem(COLORS.bad, `${t('bands.bad')} ${normal + 1}–${bad}`));
    items.push(legendItem(COLORS.veryBad, `${t('bands.veryBad')} ${bad + 1}+`));
  }
  if (kinds.has('water') || kinds.has('forecast')) {
    items.push(el('li', { className: 'legend-head' }, t('kinds.water')));
    for (const key of ['normal', 'advisory', 'warning']) {
      items.push(legendItem(COLORS[key === 'normal' ? 'waterNormal' : key], t(`water.${key}`), 'dot big'));
    }
    if (kinds.has('forecast')) items.push(legendItem('#1b1f24', t('kinds.forecast'), 'ring'));
  }
  if (kinds.has('alert') || kinds.has('incident')) {
    items.push(el('li', { className: 'legend-head' }, t('kinds.alert')));
    for (const key of ['informational', 'medium', 'high', 'critical']) {
      items.push(legendItem(COLORS[key], t(`severity.${key}`)));
    }
  }
  items.push(legendItem(COLORS.none, t('noData')));
  $('legend').replaceChildren(...items);
}

function valueText(info, entity) {
  if (info.value === undefined || info.value === null) return '—';
  const unit = info.attr ? unitOf(entity.attrs[info.attr]?.unit) : '';
  return `${plainText(info.value)}${unit ? ` ${unit}` : ''}`;
}

// Rows are updated in place, so keyboard focus stays where it is while readings arrive.
export function renderEntityList(ctx, drawn) {
  const body = $('entity-table').tBodies[0];
  const rows = new Map([...body.rows].map((row) => [row.dataset.id, row]));
  const order = drawn.map(({ entity }) => entity.id);
  const sameOrder = order.length === rows.size && order.every((id, i) => body.rows[i]?.dataset.id === id);
  for (const { entity, kind, info, observed } of drawn) {
    let row = rows.get(entity.id);
    if (!row) {
      const button = el('button', { type: 'button', className: 'link', dataset: { id: entity.id } });
      button.addEventListener('click', () => ctx.select(entity.id, { focusDetails: true }));
      row = el('tr', { dataset: { id: entity.id } }, el('th', { scope: 'row' }, button),
        el('td'), el('td', { className: 'num' }), el('td'), el('td'), el('td'));
    }
    rows.delete(entity.id);
    const [name, type, value, status, district, when] = row.cells;
    name.firstChild.textContent = ctx.nameOf(entity);
    type.textContent = kind === 'other' ? entity.typeShort : t(`kinds.${kind}`);
    value.textContent = valueText(info, entity);
    status.replaceChildren(...(info.label ? [swatch(info.color), info.label] : []));
    district.textContent = ctx.guName(ctx.guOf(entity)) || '—';
    when.textContent = observed ? formatTime(observed) : '—';
    row.dataset.value = info.value === undefined || info.value === null ? '' : String(info.value);
    row.dataset.status = info.status || '';
    row.classList.toggle('selected', ctx.state.selected === entity.id);
    if (!sameOrder) body.append(row);
  }
  for (const stale of rows.values()) stale.remove();
  const when = ctx.state.time === null ? t('live') : formatTime(ctx.state.time);
  $('entity-caption').textContent = t('entitiesCaption', drawn.length, when);
}

export function renderDistrictTable(ctx, districts, metricLabel) {
  $('district-wrap').hidden = !ctx.state.view3d;
  $('district-metric-head').textContent = metricLabel;
  const body = $('district-table').tBodies[0];
  body.replaceChildren(...districts.map(({ code, value, color }) => el('tr', { dataset: { code } },
    el('th', { scope: 'row' }, ctx.guName(code)),
    el('td', { className: 'num' }, swatch(color, 'square'), value === null ? '—' : formatNumber(value)))));
}

export async function renderDetails(ctx, { refreshChart = true, focus = false } = {}) {
  const box = $('details-body');
  const entity = ctx.state.entities.get(ctx.state.selected);
  if (!entity) {
    box.replaceChildren(el('p', { className: 'hint' }, t('noSelection')));
    return;
  }
  const rows = Object.entries(entity.attrs)
    .filter(([name, attr]) => name !== 'location' && attr.kind !== 'GeoProperty')
    .map(([name, attr]) => el('tr', {}, el('th', { scope: 'row' }, name),
      el('td', {}, `${plainText(attr.value)}${attr.unit ? ` ${unitOf(attr.unit)}` : ''}`),
      el('td', {}, attr.observedAt ? formatTime(attr.observedAt) : '')));
  const related = ctx.relatedTo(entity.id).map((other) => el('li', {},
    el('button', { type: 'button', className: 'link', onclick: () => ctx.select(other.id, { focusDetails: true }) },
      `${t(`kinds.${ctx.kindOf(other)}`)}: ${ctx.nameOf(other)}`),
    ` ${ctx.describe(other).label}`));
  const numeric = Object.entries(entity.attrs).filter(([, attr]) => typeof attr.value === 'number').map(([name]) => name);
  if (!numeric.includes(ctx.state.chartAttr)) ctx.state.chartAttr = ctx.describe(entity).attr || numeric[0] || null;
  const select = el('select', { id: 'chart-attr' }, ...numeric.map((name) =>
    el('option', { value: name, selected: name === ctx.state.chartAttr }, name)));
  select.addEventListener('change', () => {
    ctx.state.chartAttr = select.value;
    drawEntityChart(ctx, entity);
  });
  const heading = el('h3', { id: 'details-name', tabIndex: -1 }, ctx.nameOf(entity));
  box.replaceChildren(
    heading,
    el('p', { className: 'hint' }, `${t(`kinds.${ctx.kindOf(entity)}`)} · `, el('code', {}, entity.id)),
    ...(related.length ? [el('ul', { className: 'related' }, ...related)] : []),
    ...(numeric.length ? [
      el('h4', {}, t('history')),
      el('div', { className: 'field' }, el('label', { htmlFor: 'chart-attr' }, t('attribute')), select),
      el('p', { id: 'chart-summary', className: 'hint', 'aria-live': 'polite' }),
      el('div', { id: 'chart', dataset: { entity: entity.id } }),
    ] : []),
    el('table', { className: 'attrs' }, el('caption', { className: 'visually-hidden' }, ctx.nameOf(entity)),
      el('tbody', {}, ...rows)),
  );
  if (focus) heading.focus();
  if (refreshChart && numeric.length) await drawEntityChart(ctx, entity, { fetch: true });
}

async function drawEntityChart(ctx, entity, { fetch = false } = {}) {
  if (fetch || !ctx.state.chart || ctx.state.chart.id !== entity.id) {
    ctx.state.chart = { id: entity.id, series: await ctx.history(entity.id) };
  }
  const chart = $('chart');
  if (!chart || chart.dataset.entity !== entity.id) return;
  const attr = ctx.state.chartAttr;
  const levels = [];
  for (const [name, key] of [['floodAdvisoryLevel', 'advisory'], ['floodWarningLevel', 'warning']]) {
    const value = entity.attrs[name]?.value;
    if (typeof value === 'number' && attr === 'waterLevel') levels.push({ name: t(`water.${key}`), value, color: COLORS[key] });
  }
  drawChart(chart, $('chart-summary'), ctx.state.chart.series[attr], { label: attr, levels });
  chart.dataset.points = String((ctx.state.chart.series[attr] || []).length);
}
