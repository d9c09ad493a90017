// Reading the hub through its NGSI-LD API (core @context only: names come back as IRIs
// or core terms; the page works with their last segment, e.g. .../AirQualityObserved).

let apiRoot = '/ngsi-ld/v1';
let apiKey = '';

export function configure({ api, key }) {
  if (api) apiRoot = api;
  apiKey = key || '';
}

export function shortName(iri) {
  const text = String(iri);
  const cut = Math.max(text.lastIndexOf('/'), text.lastIndexOf('#'), text.lastIndexOf(':'));
  return cut >= 0 && cut < text.length - 1 ? text.slice(cut + 1) : text;
}

async function get(path, params = {}) {
  const url = new URL(apiRoot + path, window.location.origin);
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null) url.searchParams.set(key, value);
  }
  const headers = { Accept: 'application/json' };
  if (apiKey) headers.Authorization = `Bearer ${apiKey}`;
  const response = await fetch(url, { headers });
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(`${response.status} ${path}`);
  return response.json();
}

export async function entityTypes() {
  const body = await get('/types');
  return body ? body.typeList || [] : [];
}

export async function entitiesOfType(typeIri, { page = 1000 } = {}) {
  const out = [];
  for (let offset = 0; ; offset += page) {
    const rows = (await get('/entities', { type: typeIri, limit: page, offset })) || [];
    out.push(...rows);
    if (rows.length < page) return out;
  }
}

// History of some attributes of every entity of a type: {entityId: {short: [[ms, value]]}}.
export async function typeHistory(typeIri, attrIris, { lastN = 720, page = 200 } = {}) {
  const out = {};
  for (let offset = 0; ; offset += page) {
    const rows = (await get('/temporal/entities', {
      type: typeIri, attrs: attrIris.join(','), timerel: 'after', timeAt: '1970-01-01T00:00:00Z',
      options: 'temporalValues', lastN, limit: page, offset,
    })) || [];
    for (const row of rows) out[row.id] = temporalSeries(row);
    if (rows.length < page) return out;
  }
}

export async function entityHistory(entityId, { lastN = 1000 } = {}) {
  const row = await get(`/temporal/entities/${encodeURIComponent(entityId)}`, {
    options: 'temporalValues', lastN,
  });
  return row ? temporalSeries(row) : {};
}

// {short name: [[ms, value], ...]} sorted by time, one value per instant.
function temporalSeries(row) {
  const series = {};
  for (const [key, attr] of Object.entries(row)) {
    if (key === 'id' || key === 'type' || !attr || !Array.isArray(attr.values)) continue;
    const points = new Map();
    for (const [value, at] of attr.values) points.set(Date.parse(at), value);
    series[shortName(key)] = [...points.entries()].sort((a, b) => a[0] - b[0]);
  }
  return series;
}

function attrValue(attr) {
  if (attr === null || typeof attr !== 'object' || Array.isArray(attr)) return attr;
  for (const key of ['value', 'object', 'languageMap', 'vocab', 'json', 'valueList', 'objectList']) {
    if (key in attr) return attr[key];
  }
  return undefined;
}

// A normalized entity as the page uses it: short names, plain values, geometry.
export function simplify(entity) {
  const attrs = {};
  const iris = {};
  let geometry = null;
  for (const [key, raw] of Object.entries(entity)) {
    if (['id', 'type', '@context', 'scope', 'createdAt', 'modifiedAt'].includes(key)) continue;
    const attr = Array.isArray(raw) ? raw[0] : raw; // a multi-attribute: its first instance
    const name = shortName(key);
    iris[name] = key;
    if (attr && attr.type === 'GeoProperty' && (!geometry || name === 'location')) geometry = attr.value;
    attrs[name] = {
      value: attrValue(attr),
      kind: attr?.type,
      observedAt: attr?.observedAt ? Date.parse(attr.observedAt) : null,
      unit: attr?.unitCode,
    };
  }
  const type = Array.isArray(entity.type) ? entity.type[0] : entity.type;
  return { id: entity.id, type, typeShort: shortName(type), attrs, iris, geometry };
}
