// Small plane geometry on lon/lat: enough to place entities in Seoul's 25 gu.

function rings(geometry) {
  if (!geometry) return [];
  if (geometry.type === 'Polygon') return [geometry.coordinates];
  if (geometry.type === 'MultiPolygon') return geometry.coordinates;
  return [];
}

function inRing(point, ring) {
  const [x, y] = point;
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

export function contains(geometry, point) {
  return rings(geometry).some(
    ([outer, ...holes]) => inRing(point, outer) && !holes.some((hole) => inRing(point, hole)),
  );
}

// A representative point: a Point itself, else the mean of the outer ring's vertices.
export function anchor(geometry) {
  if (!geometry) return null;
  if (geometry.type === 'Point') return geometry.coordinates;
  if (geometry.type === 'MultiPoint' || geometry.type === 'LineString') return geometry.coordinates[0];
  const polygons = rings(geometry);
  if (!polygons.length) return null;
  const outer = polygons.reduce((a, b) => (b[0].length > a[0].length ? b : a))[0];
  const sum = outer.reduce((acc, [x, y]) => [acc[0] + x, acc[1] + y], [0, 0]);
  return [sum[0] / outer.length, sum[1] / outer.length];
}
