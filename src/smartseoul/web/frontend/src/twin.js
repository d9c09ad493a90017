// The MapLibre map: an offline base map of Seoul (gu and dong boundaries shipped with the
// package, optional raster tiles), one GeoJSON layer per entity type, and the 3D districts.

import { AttributionControl, Map as MapLibre, NavigationControl, setWorkerUrl } from 'maplibre-gl';
import 'maplibre-gl/dist/maplibre-gl.css';

const SEOUL = { center: [126.986, 37.5535], zoom: 10.2 };
const POLYGON = ['match', ['geometry-type'], ['Polygon', 'MultiPolygon'], true, false];
const POINT = ['match', ['geometry-type'], ['Point', 'MultiPoint'], true, false];
const RADIUS = { air: 7, water: 9, forecast: 14, alert: 9, incident: 9, sensor: 5, device: 5 };

export function webglAvailable() {
  try {
    const canvas = document.createElement('canvas');
    return Boolean(canvas.getContext('webgl2') || canvas.getContext('webgl'));
  } catch {
    return false;
  }
}

function style({ tileUrl, gu, dong }) {
  const sources = {
    gu: { type: 'geojson', data: gu },
    dong: { type: 'geojson', data: dong },
    districts3d: { type: 'geojson', data: { type: 'FeatureCollection', features: [] } },
    selection: { type: 'geojson', data: { type: 'FeatureCollection', features: [] } },
  };
  const layers = [{ id: 'background', type: 'background', paint: { 'background-color': '#e9eef3' } }];
  if (tileUrl) {
    sources.tiles = { type: 'raster', tiles: [tileUrl], tileSize: 256 };
    layers.push({ id: 'tiles', type: 'raster', source: 'tiles' });
  }
  layers.push(
    { id: 'gu-fill', type: 'fill', source: 'gu', paint: { 'fill-color': '#ffffff', 'fill-opacity': tileUrl ? 0.2 : 0.75 } },
    { id: 'dong-line', type: 'line', source: 'dong', paint: { 'line-color': '#aab4bf', 'line-width': 0.5 } },
    { id: 'gu-line', type: 'line', source: 'gu', paint: { 'line-color': '#4d5866', 'line-width': 1.3 } },
    {
      id: 'districts3d', type: 'fill-extrusion', source: 'districts3d', layout: { visibility: 'none' },
      paint: {
        'fill-extrusion-color': ['get', 'color'],
        'fill-extrusion-height': ['get', 'height'],
        'fill-extrusion-opacity': 0.88,
      },
    },
  );
  return { version: 8, sources, layers };
}

export class Twin {
  constructor(container, { tileUrl, gu, dong, attribution, onSelect }) {
    setWorkerUrl(new URL('maplibre-gl-worker.mjs', import.meta.url).href);
    this.onSelect = onSelect;
    this.layers = new Map(); // type IRI -> layer id prefix
    this.map = new MapLibre({
      container, style: style({ tileUrl, gu, dong }), ...SEOUL, attributionControl: false,
      preserveDrawingBuffer: true, // screenshots and tests read the canvas
    });
    this.map.addControl(new NavigationControl({ visualizePitch: true }), 'top-right');
    this.attribution = new AttributionControl({ compact: false, customAttribution: attribution });
    this.map.addControl(this.attribution, 'bottom-right');
    this.ready = new Promise((resolve) => this.map.once('load', resolve));
    this.ready.then(() => {
      this.map.addLayer({
        id: 'selection', type: 'circle', source: 'selection',
        paint: { 'circle-radius': 16, 'circle-opacity': 0, 'circle-stroke-width': 3, 'circle-stroke-color': '#111' },
      });
    });
  }

  async setAttribution(text) {
    // AttributionControl has no setter: replace it.
    this.map.removeControl(this.attribution);
    this.attribution = new AttributionControl({ compact: false, customAttribution: text });
    this.map.addControl(this.attribution, 'bottom-right');
  }

  async ensureLayer(typeIri, kind) {
    await this.ready;
    if (this.layers.has(typeIri)) return this.layers.get(typeIri);
    const id = `t${this.layers.size}`;
    this.layers.set(typeIri, id);
    const empty = { type: 'FeatureCollection', features: [] };
    this.map.addSource(id, { type: 'geojson', data: empty });
    const before = 'selection';
    this.map.addLayer({ id: `${id}-fill`, type: 'fill', source: id, filter: POLYGON,
      paint: { 'fill-color': ['get', 'color'], 'fill-opacity': kind === 'district' ? 0.08 : 0.3 } }, before);
    this.map.addLayer({ id: `${id}-line`, type: 'line', source: id, filter: POLYGON,
      paint: { 'line-color': ['get', 'color'], 'line-width': 1.5 } }, before);
    const ring = kind === 'forecast';
    this.map.addLayer({
      id: `${id}-circle`, type: 'circle', source: id, filter: POINT,
      paint: {
        'circle-radius': RADIUS[kind] || 6,
        'circle-color': ['get', 'color'],
        'circle-opacity': ring ? 0 : 0.92,
        'circle-stroke-color': ring ? ['get', 'color'] : '#1b1f24',
        'circle-stroke-width': ring ? 3 : 1.2,
      },
    }, before);
    for (const suffix of ['fill', 'circle']) {
      const layer = `${id}-${suffix}`;
      this.map.on('click', layer, (event) => this.onSelect(event.features[0].properties.id));
      this.map.on('mouseenter', layer, () => { this.map.getCanvas().style.cursor = 'pointer'; });
      this.map.on('mouseleave', layer, () => { this.map.getCanvas().style.cursor = ''; });
    }
    return id;
  }

  async draw(typeIri, kind, features, visible) {
    const id = await this.ensureLayer(typeIri, kind);
    this.map.getSource(id).setData({ type: 'FeatureCollection', features });
    for (const suffix of ['fill', 'line', 'circle']) {
      this.map.setLayoutProperty(`${id}-${suffix}`, 'visibility', visible ? 'visible' : 'none');
    }
  }

  async select(point) {
    await this.ready;
    const features = point ? [{ type: 'Feature', geometry: { type: 'Point', coordinates: point }, properties: {} }] : [];
    this.map.getSource('selection').setData({ type: 'FeatureCollection', features });
    if (point && !this.map.getBounds().contains(point)) this.map.easeTo({ center: point, duration: 400 });
  }

  async showDong(visible) {
    await this.ready;
    this.map.setLayoutProperty('dong-line', 'visibility', visible ? 'visible' : 'none');
  }

  async showTiles(visible) {
    await this.ready;
    if (this.map.getLayer('tiles')) this.map.setLayoutProperty('tiles', 'visibility', visible ? 'visible' : 'none');
  }

  async districts3d(features, on) {
    await this.ready;
    this.map.getSource('districts3d').setData({ type: 'FeatureCollection', features });
    if (on === this.is3d) return;
    this.is3d = on;
    this.map.setLayoutProperty('districts3d', 'visibility', on ? 'visible' : 'none');
    this.map.easeTo(on ? { pitch: 55, bearing: -20, zoom: 10, center: SEOUL.center, duration: 700 } : { pitch: 0, bearing: 0, duration: 700 });
  }
}
