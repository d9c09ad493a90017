// The operations map: what the hub holds, drawn live, with a time slider and a 3D view.

import './style.css';
import { anchor, contains } from './geo.js';
import { formatTime, language, setLanguage, t, translatePage } from './i18n.js';
import { COLORS, PRIMARY, describe, kindOf, pmBand } from './kinds.js';
import { configure, entitiesOfType, entityHistory, entityTypes, simplify, typeHistory } from './ngsi.js';
import { renderDetails, renderDistrictTable, renderEntityList, renderLayers, renderLegend } from './panels.js';
import { Twin, webglAvailable } from './twin.js';

const $ = (id) => document.getElementById(id);
const RAMP = ['#d6e4f0', '#9ec3e6', '#5d9bd5', '#2f6fb3', '#1b4a82'];
const MAX_HEIGHT = 2500; // metres of the tallest district in the 3D view

const state = {
  config: null,
  gu: null, // FeatureCollection of the 25 gu (shipped boundaries)
  guNames: new Map(),
  types: new Map(), // type IRI -> {iri, short, kind, visible, history: undefined|'loading'|'loaded'|'none'}
  entities: new Map(), // id -> simplified entity (with .gu)
  history: new Map(), // id -> {attr: [[ms, value]]}
  steps: [], // sorted instants of the loaded history; the slider's last position is "live"
  time: null, // null: live; else ms
  pollutant: 'pm10',
  metric: 'avg:pm10',
  view3d: false,
  selected: null,
  chartAttr: null,
  chart: null,
  twin: null,
  key: sessionStorage.getItem('smartseoul-key') || '',
};

// -- model ---------------------------------------------------------------------------

function guOf(entity) {
  if (entity.gu !== undefined) return entity.gu;
  let code = null;
  const district = entity.attrs.district?.value ?? entity.attrs.code?.value;
  if (district !== undefined && state.guNames.has(String(district))) code = String(district);
  const point = code ? null : anchor(entity.geometry);
  if (point) code = state.gu.features.find((f) => contains(f.geometry, point))?.properties.SIG_CD ?? null;
  if (!code) {
    for (const attr of Object.values(entity.attrs)) {
      const target = attr.kind === 'Relationship' && state.entities.get(attr.value);
      if (target && target !== entity && guOf(target)) { code = guOf(target); break; }
      if (typeof attr.value === 'string' && state.guNames.has(attr.value)) { code = attr.value; break; }
    }
  }
  entity.gu = code;
  return code;
}

// Where to draw an entity: its own geometry, else its district (an alert about a gu).
function geometryOf(entity) {
  if (entity.geometry) return entity.geometry;
  const code = guOf(entity);
  const feature = code && state.gu.features.find((f) => f.properties.SIG_CD === code);
  return feature ? { type: 'Point', coordinates: anchor(feature.geometry) } : null;
}

function guName(code) {
  const names = state.guNames.get(code);
  return names ? names[language()] : '';
}

function nameOf(entity) {
  const name = entity.attrs.name?.value;
  if (name && typeof name === 'object') return name[language()] || name.ko || name.en || entity.id;
  if (name) return String(name);
  return entity.id.split(':').slice(-1)[0];
}

function seriesAt(series, time) {
  let lo = 0;
  let hi = series.length - 1;
  if (hi < 0 || series[0][0] > time) return null;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (series[mid][0] <= time) lo = mid; else hi = mid - 1;
  }
  return series[lo];
}

// The value shown for an attribute: the latest, or the one in force at the slider's time.
function valueOf(entity, attr) {
  return pointOf(entity, attr)?.[1];
}

function pointOf(entity, attr) {
  const current = entity.attrs[attr];
  if (state.time === null) return current ? [current.observedAt, current.value] : null;
  const series = state.history.get(entity.id)?.[attr];
  if (series) return seriesAt(series, state.time);
  // Loaded history without this attribute, or a kind without history: nothing at that time.
  return state.types.get(entity.type)?.history === 'loaded' ? null : current ? [current.observedAt, current.value] : null;
}

function kindOfEntity(entity) {
  return kindOf(entity.typeShort);
}

function describeEntity(entity) {
  return describe(entity, kindOfEntity(entity), valueOf, { pollutant: state.pollutant });
}

function relatedTo(id) {
  return [...state.entities.values()].filter((other) => other.id !== id
    && Object.values(other.attrs).some((attr) => attr.kind === 'Relationship' && attr.value === id));
}

function ingest(raw) {
  const entity = simplify(raw);
  let type = state.types.get(entity.type);
  if (!type) {
    const kind = kindOf(entity.typeShort);
    type = { iri: entity.type, short: entity.typeShort, kind, visible: kind !== 'district' };
    state.types.set(entity.type, type);
  }
  state.entities.set(entity.id, entity);
  guOf(entity);
  return { entity, type };
}

// -- drawing -------------------------------------------------------------------------

let redrawTimer = null;
function scheduleRedraw() {
  if (redrawTimer === null) redrawTimer = setTimeout(() => { redrawTimer = null; redraw(); }, 30);
}

function hash(text) {
  let h = 5381;
  for (let i = 0; i < text.length; i++) h = ((h << 5) + h + text.charCodeAt(i)) | 0;
  return (h >>> 0).toString(16);
}

function redraw() {
  const drawn = [];
  const byType = new Map();
  for (const entity of state.entities.values()) {
    const type = state.types.get(entity.type);
    const kind = type.kind;
    const info = describeEntity(entity);
    const geometry = geometryOf(entity);
    const feature = geometry && { type: 'Feature', geometry, properties: { id: entity.id, color: info.color } };
    if (!byType.has(type.iri)) byType.set(type.iri, []);
    if (feature) byType.get(type.iri).push(feature);
    if (type.visible) {
      drawn.push({ entity, kind, info, observed: info.attr ? pointOf(entity, info.attr)?.[0] : null });
    }
  }
  drawn.sort((a, b) => a.kind.localeCompare(b.kind) || nameOf(a.entity).localeCompare(nameOf(b.entity)));
  if (state.twin) {
    for (const [iri, features] of byType) {
      const type = state.types.get(iri);
      state.twin.draw(iri, type.kind, features, type.visible);
    }
  }
  renderEntityList(context, drawn);
  const districts = districtMetric();
  renderDistrictTable(context, districts, metricLabel(state.metric));
  if (state.twin) state.twin.districts3d(districtFeatures(districts), state.view3d);
  const root = document.documentElement;
  root.dataset.time = state.time === null ? 'live' : new Date(state.time).toISOString();
  root.dataset.drawn = String(drawn.length);
  root.dataset.drawnHash = hash(drawn.map((d) => `${d.entity.id}=${d.info.value}:${d.info.color}`).join('|'));
  root.dataset.view = state.view3d ? '3d' : '2d';
}

// -- 3D districts ------------------------------------------------------------------------

function metricOptions() {
  const options = [];
  const kinds = new Set([...state.types.values()].map((type) => type.kind));
  if (kinds.has('air')) options.push('avg:pm10', 'avg:pm25');
  for (const type of state.types.values()) {
    if (type.kind !== 'district') options.push(`count:${type.iri}`);
  }
  const numeric = new Set();
  for (const entity of state.entities.values()) {
    if (kindOfEntity(entity) !== 'district') continue;
    for (const [name, attr] of Object.entries(entity.attrs)) if (typeof attr.value === 'number') numeric.add(name);
  }
  for (const name of numeric) options.push(`attr:${name}`);
  return options;
}

function metricLabel(metric) {
  const [how, what] = metric.split(/:(.*)/s);
  if (how === 'avg') return t(`metrics.${what}`);
  if (how === 'count') {
    const type = state.types.get(what);
    return t('metrics.count', type ? (type.kind === 'other' ? type.short : t(`kinds.${type.kind}`)) : what);
  }
  return what;
}

function districtMetric() {
  const [how, what] = state.metric.split(/:(.*)/s);
  const sums = new Map(state.gu.features.map((f) => [f.properties.SIG_CD, { sum: 0, n: 0 }]));
  for (const entity of state.entities.values()) {
    const slot = sums.get(guOf(entity));
    if (!slot) continue;
    if (how === 'count' && entity.type === what && pointOf(entity, describeEntity(entity).attr || 'x') !== null) {
      slot.sum += 1;
      slot.n = 1;
    } else if (how === 'avg' && kindOfEntity(entity) === 'air') {
      const value = valueOf(entity, what);
      if (typeof value === 'number') { slot.sum += value; slot.n += 1; }
    } else if (how === 'attr' && kindOfEntity(entity) === 'district') {
      const value = valueOf(entity, what);
      if (typeof value === 'number') { slot.sum += value; slot.n = 1; }
    }
  }
  const values = [...sums.entries()].map(([code, { sum, n }]) => ({
    code, value: how === 'count' ? sum : n ? Math.round((sum / n) * 10) / 10 : null,
  }));
  const max = Math.max(1e-9, ...values.map((v) => v.value ?? 0));
  for (const item of values) {
    const ratio = (item.value ?? 0) / max;
    item.height = item.value === null ? 0 : 150 + ratio * MAX_HEIGHT;
    item.color = item.value === null ? COLORS.none
      : how === 'avg' ? COLORS[pmBand(what, item.value)]
        : RAMP[Math.min(RAMP.length - 1, Math.floor(ratio * RAMP.length))];
  }
  return values.sort((a, b) => (b.value ?? -1) - (a.value ?? -1));
}

function districtFeatures(districts) {
  const byCode = new Map(districts.map((d) => [d.code, d]));
  return state.gu.features.map((f) => ({
    type: 'Feature', geometry: f.geometry,
    properties: { code: f.properties.SIG_CD, ...byCode.get(f.properties.SIG_CD) },
  }));
}

function renderMetricSelect() {
  const select = $('metric');
  const options = metricOptions();
  if (!options.includes(state.metric)) state.metric = options[0] || 'avg:pm10';
  select.replaceChildren(...options.map((metric) => {
    const option = document.createElement('option');
    option.value = metric;
    option.textContent = metricLabel(metric);
    option.selected = metric === state.metric;
    return option;
  }));
}

function renderPollutantSelect() {
  $('pollutant').replaceChildren(...['pm10', 'pm25'].map((p) => {
    const option = document.createElement('option');
    option.value = p;
    option.textContent = t(p);
    option.selected = p === state.pollutant;
    return option;
  }));
}

// -- time slider -------------------------------------------------------------------------

function rebuildSteps() {
  const instants = new Set();
  for (const type of state.types.values()) {
    if (!type.visible || type.history !== 'loaded') continue;
    for (const entity of state.entities.values()) {
      if (entity.type !== type.iri) continue;
      for (const series of Object.values(state.history.get(entity.id) || {})) {
        for (const [at] of series) instants.add(at);
      }
    }
  }
  state.steps = [...instants].sort((a, b) => a - b);
  const slider = $('time');
  slider.max = String(state.steps.length);
  slider.disabled = state.steps.length === 0;
  if (state.time === null) slider.value = slider.max;
  else {
    const index = state.steps.findIndex((at) => at >= state.time);
    slider.value = String(index === -1 ? state.steps.length : index);
  }
  updateTimeLabel();
}

function updateTimeLabel() {
  const text = state.time === null ? t('live') : formatTime(state.time);
  $('time-out').textContent = text;
  $('time').setAttribute('aria-valuetext', text);
  $('time-note').textContent = state.steps.length ? t('steps', state.steps.length) : t('noHistory');
}

function onSlide() {
  const index = Number($('time').value);
  state.time = index >= state.steps.length ? null : state.steps[index];
  updateTimeLabel();
  scheduleRedraw();
}

async function loadHistory(type) {
  if (type.history) return;
  const sample = [...state.entities.values()].filter((e) => e.type === type.iri);
  const attrs = [...new Set(PRIMARY[type.kind]
    .flatMap((name) => sample.map((e) => e.iris[name]).filter(Boolean)))];
  if (!attrs.length) { type.history = 'none'; return; }
  type.history = 'loading';
  $('time-note').textContent = t('loadingHistory');
  try {
    const series = await typeHistory(type.iri, attrs);
    for (const [id, attrsSeries] of Object.entries(series)) {
      state.history.set(id, { ...state.history.get(id), ...attrsSeries });
    }
    type.history = 'loaded';
  } catch (error) {
    console.warn('history', type.iri, error);
    type.history = undefined;
  }
  rebuildSteps();
  scheduleRedraw();
}

// -- live feed -------------------------------------------------------------------------

function applyChanges({ entities, deleted }) {
  let newType = false;
  for (const raw of entities) {
    const had = state.types.has(Array.isArray(raw.type) ? raw.type[0] : raw.type);
    const { entity, type } = ingest(raw);
    newType ||= !had;
    if (type.history === 'loaded') {
      const series = state.history.get(entity.id) || {};
      for (const name of PRIMARY[type.kind]) {
        const attr = entity.attrs[name];
        if (!attr || typeof attr.value !== 'number') continue;
        const at = attr.observedAt ?? Date.now();
        const list = series[name] || (series[name] = []);
        if (!list.length || list[list.length - 1][0] < at) list.push([at, attr.value]);
      }
      state.history.set(entity.id, series);
    }
  }
  for (const id of deleted) state.entities.delete(id);
  renderLayers(context);
  if (newType) { renderMetricSelect(); renderLegend(context); }
  rebuildSteps();
  for (const type of state.types.values()) if (type.visible) loadHistory(type);
  document.documentElement.dataset.lastChange = String(Date.now());
  const reading = $('details').contains(document.activeElement); // never pull focus away
  if (!reading && state.selected && entities.some((e) => e.id === state.selected)) {
    renderDetails(context, { refreshChart: false });
  }
  scheduleRedraw();
}

function connect() {
  const url = new URL('/web/events', window.location.origin);
  if (state.key) url.searchParams.set('key', state.key);
  const source = new EventSource(url);
  let seen = false;
  source.addEventListener('hello', () => {
    $('live-status').textContent = t('connected');
    document.documentElement.dataset.live = 'connected';
    if (seen) refresh(); // changes while disconnected are not replayed: read everything again
    seen = true;
  });
  source.addEventListener('changes', (event) => applyChanges(JSON.parse(event.data)));
  source.addEventListener('error', () => {
    $('live-status').textContent = t('disconnected');
    document.documentElement.dataset.live = 'lost';
  });
}

// -- page ------------------------------------------------------------------------------

async function select(id, { focusDetails = false } = {}) {
  state.selected = id;
  const entity = state.entities.get(id);
  if (state.twin) state.twin.select(entity ? anchor(geometryOf(entity)) : null);
  scheduleRedraw();
  await renderDetails(context, { focus: focusDetails });
}

function setVisible(iri, visible) {
  const type = state.types.get(iri);
  type.visible = visible;
  if (visible) loadHistory(type);
  rebuildSteps();
  renderLegend(context);
  scheduleRedraw();
}

const context = {
  state, valueOf, nameOf, guName, guOf, select, setVisible, relatedTo,
  kindOf: kindOfEntity,
  describe: describeEntity,
  history: (id) => entityHistory(id),
  countOf: (iri) => [...state.entities.values()].filter((e) => e.type === iri).length,
};

async function refresh() {
  const types = await entityTypes();
  const seen = new Set();
  for (const iri of types) {
    for (const raw of await entitiesOfType(iri)) seen.add(ingest(raw).entity.id);
  }
  for (const id of [...state.entities.keys()]) if (!seen.has(id)) state.entities.delete(id);
  renderLayers(context);
  renderMetricSelect();
  renderLegend(context);
  redraw();
}

function applyLanguage(lang) {
  setLanguage(lang);
  localStorage.setItem('smartseoul-lang', lang);
  translatePage();
  const button = $('lang');
  button.textContent = t('switchLang');
  button.lang = lang === 'ko' ? 'en' : 'ko';
  button.title = t('switchLangLabel');
  if (state.twin) state.twin.setAttribution(t('attribution'));
  renderPollutantSelect();
  if (state.gu) {
    $('layer-list').replaceChildren();
    renderLayers(context);
    renderMetricSelect();
    renderLegend(context);
    updateTimeLabel();
    renderDetails(context, { refreshChart: false });
    redraw();
  }
}

function wireControls() {
  $('lang').addEventListener('click', () => applyLanguage(language() === 'ko' ? 'en' : 'ko'));
  $('time').addEventListener('input', onSlide);
  $('to-live').addEventListener('click', () => { $('time').value = $('time').max; onSlide(); });
  $('pollutant').addEventListener('change', (e) => { state.pollutant = e.target.value; renderLegend(context); scheduleRedraw(); });
  $('metric').addEventListener('change', (e) => { state.metric = e.target.value; scheduleRedraw(); });
  for (const radio of document.querySelectorAll('input[name=view]')) {
    radio.addEventListener('change', () => { state.view3d = radio.value === '3d' && radio.checked; scheduleRedraw(); });
  }
  $('show-dong').addEventListener('change', (e) => state.twin?.showDong(e.target.checked));
  $('show-tiles').addEventListener('change', (e) => state.twin?.showTiles(e.target.checked));
  $('key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    sessionStorage.setItem('smartseoul-key', $('api-key').value);
    window.location.reload();
  });
}

async function start() {
  const params = new URLSearchParams(window.location.search);
  const lang = params.get('lang') || localStorage.getItem('smartseoul-lang')
    || (navigator.language?.startsWith('ko') ? 'ko' : 'en');
  wireControls();
  applyLanguage(lang);
  state.config = await (await fetch('/web/config.json')).json();
  configure({ api: state.config.api, key: state.key });
  $('key-form').hidden = !state.config.keyedReads;
  $('tiles-item').hidden = !state.config.tileUrl;
  const [gu, dong] = await Promise.all(['gu', 'dong'].map(async (level) =>
    (await fetch(`/web/boundaries/${level}.geojson`)).json()));
  state.gu = gu;
  for (const f of gu.features) {
    state.guNames.set(f.properties.SIG_CD, { ko: f.properties.SIG_KOR_NM, en: f.properties.SIG_ENG_NM });
  }
  const root = document.documentElement;
  if (webglAvailable()) {
    try {
      state.twin = new Twin($('map'), {
        tileUrl: state.config.tileUrl, gu, dong, attribution: t('attribution'), onSelect: (id) => select(id),
      });
      root.dataset.map = 'webgl';
      state.twin.ready.then(() => { root.dataset.mapLoaded = 'true'; });
    } catch (error) {
      console.warn('map', error);
      state.twin = null;
    }
  }
  if (!state.twin) {
    root.dataset.map = 'unavailable';
    $('map').hidden = true;
    $('map-fallback').hidden = false;
  }
  window.smartseoul = { state, twin: state.twin }; // for tests and the browser console
  await refresh();
  renderDetails(context);
  connect();
  root.dataset.state = 'ready';
  await Promise.all([...state.types.values()].filter((x) => x.visible).map(loadHistory));
  root.dataset.history = 'loaded';
}

start().catch((error) => {
  console.error(error);
  document.documentElement.dataset.state = 'error';
  $('live-status').textContent = String(error);
});

