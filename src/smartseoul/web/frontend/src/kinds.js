// What each entity type means on the map: its layer kind, the attributes whose history the
// time slider loads, and the status and colour of an entity (Korean PM bands, flood levels).

import { t } from './i18n.js';

const KIND_OF_TYPE = {
  AdministrativeArea: 'district',
  AirQualityObserved: 'air',
  WaterObserved: 'water',
  WaterLevelForecast: 'forecast',
  Alert: 'alert',
  CoveragePlan: 'coverage',
  Incident: 'incident',
  EnvironmentObserved: 'sensor',
  Device: 'device',
};
export const KIND_ORDER = ['air', 'water', 'forecast', 'alert', 'incident', 'coverage', 'sensor',
  'device', 'other', 'district'];

export function kindOf(typeShort) {
  return KIND_OF_TYPE[typeShort] || 'other';
}

// Attributes drawn for each kind, in order of preference; the slider loads their history.
export const PRIMARY = {
  air: ['pm10', 'pm25'],
  water: ['waterLevel'],
  forecast: ['peakLevel'],
  sensor: ['temperature', 'LAeq', 'peopleCount'],
  device: [],
  alert: ['levelValue'],
  incident: [],
  coverage: [],
  other: [],
  district: [],
};

// Korean Ministry of Environment bands (24-hour means, µg/m³): upper bounds of good,
// normal and bad; above the last is very bad.
export const PM_BANDS = { pm10: [30, 80, 150], pm25: [15, 35, 75] };
const BAND_KEYS = ['good', 'normal', 'bad', 'veryBad'];
export const COLORS = {
  good: '#1d6fd6', normal: '#1a8a3b', bad: '#e08a00', veryBad: '#d42a1c', none: '#8a939e',
  waterNormal: '#0e7c86', advisory: '#e08a00', warning: '#d42a1c', inundation: '#b8860b',
  air: '#1a8a3b', water: '#0e7c86', forecast: '#1b1f24', alert: '#d42a1c', incident: '#8e0c9e',
  informational: '#1d6fd6', low: '#1a8a3b', medium: '#e08a00', high: '#d42a1c', critical: '#8e0c9e',
  sensor: '#6d4c41', coverage: '#6a3d9a', device: '#6d4c41', other: '#56606b', district: '#56606b',
};

export function pmBand(pollutant, value) {
  if (typeof value !== 'number' || !PM_BANDS[pollutant]) return null;
  const bounds = PM_BANDS[pollutant];
  const index = bounds.findIndex((upper) => value <= upper);
  return BAND_KEYS[index === -1 ? 3 : index];
}

const FLOOD_LEVELS = {
  none: 'normal', floodAdvisory: 'advisory', floodWarning: 'warning', inundationPreWarning: 'inundation',
};

function waterStatus(level, advisory, warning) {
  if (typeof level !== 'number') return null;
  if (typeof warning === 'number' && level >= warning) return 'warning';
  if (typeof advisory === 'number' && level >= advisory) return 'advisory';
  return 'normal';
}

function firstNumber(entity, valueOf, names) {
  for (const name of names) {
    const value = valueOf(entity, name);
    if (typeof value === 'number') return { attr: name, value };
  }
  for (const [name, attr] of Object.entries(entity.attrs)) {
    if (typeof attr.value === 'number' && attr.kind === 'Property') {
      return { attr: name, value: valueOf(entity, name) };
    }
  }
  return { attr: null, value: undefined };
}

// {attr, value, status, label, color} of an entity; valueOf(entity, attr) gives the value
// at the time shown (live or the slider's).
export function describe(entity, kind, valueOf, { pollutant = 'pm10' } = {}) {
  const plain = (name) => entity.attrs[name]?.value;
  if (kind === 'air') {
    const value = valueOf(entity, pollutant);
    const band = pmBand(pollutant, value);
    return { attr: pollutant, value, status: band, label: band ? t(`bands.${band}`) : t('noData'),
      color: COLORS[band || 'none'] };
  }
  if (kind === 'water') {
    const value = valueOf(entity, 'waterLevel');
    const status = waterStatus(value, plain('floodAdvisoryLevel'), plain('floodWarningLevel'));
    return { attr: 'waterLevel', value, status, label: status ? t(`water.${status}`) : t('noData'),
      color: COLORS[status === 'normal' ? 'waterNormal' : status || 'none'] };
  }
  if (kind === 'forecast') {
    const value = valueOf(entity, 'peakLevel');
    const status = FLOOD_LEVELS[plain('warningLevel')] || (value === undefined ? null : 'normal');
    return { attr: 'peakLevel', value, status, label: status ? t(`water.${status}`) : t('noData'),
      color: COLORS[status === 'normal' ? 'waterNormal' : status || 'none'] };
  }
  if (kind === 'alert' || kind === 'incident') {
    const severity = String(plain('severity') || 'informational');
    const value = plain('alertLevel') || plain('subCategory') || plain('category') || plain('description');
    const known = COLORS[severity] ? severity : 'informational';
    return { attr: 'severity', value, status: known, label: t(`severity.${known}`), color: COLORS[known] };
  }
  const { attr, value } = firstNumber(entity, valueOf, PRIMARY[kind] || []);
  return { attr, value, status: null, label: '', color: COLORS[kind] || COLORS.other };
}
