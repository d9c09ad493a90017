// Every label of the page in Korean and English. t(key, ...args) in the current language.

const STRINGS = {
  ko: {
    title: '서울 도시 운영 지도',
    subtitle: '도시 데이터 허브 실시간 현황과 디지털 트윈',
    skip: '지도 대신 목록으로 건너뛰기',
    switchLang: 'English',
    switchLangLabel: 'Switch to English',
    layers: '레이어',
    layersHint: '허브에 있는 엔터티 유형',
    baseLayers: '기본 지도',
    dong: '행정동 경계',
    tiles: '배경 타일',
    pollutant: '대기 지표',
    view: '보기',
    view2d: '2D 지도',
    view3d: '3D 구별 입체',
    metric: '3D 높이 지표',
    legend: '범례',
    time: '시각',
    timeLabel: '시간 이동 (이력)',
    live: '실시간',
    liveButton: '실시간으로',
    loadingHistory: '이력 불러오는 중…',
    noHistory: '이력 없음',
    steps: (n) => `${n}개 시점`,
    map: '서울 지도',
    mapUnavailable: '이 브라우저에서 WebGL 지도를 그릴 수 없습니다. 아래 목록에서 같은 정보를 볼 수 있습니다.',
    entities: '엔터티 목록',
    entitiesCaption: (n, when) => `지도에 그려진 엔터티 ${n}개 (${when})`,
    name: '이름',
    type: '유형',
    value: '값',
    status: '상태',
    observed: '관측 시각',
    district: '자치구',
    details: '선택한 엔터티',
    noSelection: '지도나 목록에서 엔터티를 고르세요.',
    attribute: '속성',
    history: '이력',
    chartSummary: (n, min, max, last) => `${n}개 값, 최소 ${min}, 최대 ${max}, 마지막 ${last}`,
    chartEmpty: '숫자 이력이 없습니다.',
    districts3d: '구별 지표',
    connected: '실시간 연결됨',
    disconnected: '실시간 연결 끊김, 다시 연결 중',
    updated: (n) => `${n}개 엔터티 갱신`,
    apiKey: 'API 키',
    apiKeyHint: '이 허브는 읽기에 키가 필요합니다.',
    save: '저장',
    noData: '자료 없음',
    bands: { good: '좋음', normal: '보통', bad: '나쁨', veryBad: '매우 나쁨' },
    water: { normal: '정상', advisory: '홍수주의보 수위', warning: '홍수경보 수위', inundation: '도시침수 예비경보' },
    severity: { informational: '정보', low: '낮음', medium: '보통', high: '높음', critical: '심각' },
    kinds: {
      district: '자치구', air: '대기질 측정소', water: '한강 수위 관측소', forecast: '수위 예측',
      alert: '경보', coverage: 'CCTV 배치 계획', incident: '보안 사고', sensor: 'S-DoT 센서',
      device: '장치', other: '기타',
    },
    metrics: {
      pm10: '미세먼지(PM10) 평균', pm25: '초미세먼지(PM2.5) 평균', count: (kind) => `${kind} 수`,
    },
    pm10: '미세먼지 PM10', pm25: '초미세먼지 PM2.5',
    attribution: '경계: southkorea/seoul-maps (Apache-2.0) · 대기질: 서울 열린데이터 광장',
  },
  en: {
    title: 'Seoul city operations map',
    subtitle: 'Live picture of the city data hub and its digital twin',
    skip: 'Skip the map to the entity list',
    switchLang: '한국어',
    switchLangLabel: '한국어로 보기',
    layers: 'Layers',
    layersHint: 'Entity types the hub holds',
    baseLayers: 'Base map',
    dong: 'Dong boundaries',
    tiles: 'Background tiles',
    pollutant: 'Air measure',
    view: 'View',
    view2d: '2D map',
    view3d: '3D districts',
    metric: '3D height measure',
    legend: 'Legend',
    time: 'Time',
    timeLabel: 'Travel in time (history)',
    live: 'Live',
    liveButton: 'Back to live',
    loadingHistory: 'Loading history…',
    noHistory: 'No history',
    steps: (n) => `${n} moments`,
    map: 'Map of Seoul',
    mapUnavailable: 'This browser cannot draw the WebGL map. The list below shows the same information.',
    entities: 'Entity list',
    entitiesCaption: (n, when) => `${n} entities drawn on the map (${when})`,
    name: 'Name',
    type: 'Type',
    value: 'Value',
    status: 'Status',
    observed: 'Observed',
    district: 'District',
    details: 'Selected entity',
    noSelection: 'Choose an entity on the map or in the list.',
    attribute: 'Attribute',
    history: 'History',
    chartSummary: (n, min, max, last) => `${n} values, min ${min}, max ${max}, last ${last}`,
    chartEmpty: 'No numeric history.',
    districts3d: 'Districts by measure',
    connected: 'Live feed connected',
    disconnected: 'Live feed lost, reconnecting',
    updated: (n) => `${n} entities updated`,
    apiKey: 'API key',
    apiKeyHint: 'This hub needs a key to read.',
    save: 'Save',
    noData: 'no data',
    bands: { good: 'Good', normal: 'Normal', bad: 'Bad', veryBad: 'Very bad' },
    water: { normal: 'Normal', advisory: 'Flood advisory level', warning: 'Flood warning level', inundation: 'Urban inundation pre-warning' },
    severity: { informational: 'Information', low: 'Low', medium: 'Medium', high: 'High', critical: 'Critical' },
    kinds: {
      district: 'Districts (gu)', air: 'Air-quality stations', water: 'Han River gauges',
      forecast: 'Water-level forecasts', alert: 'Alerts', coverage: 'CCTV coverage plans',
      incident: 'Security incidents', sensor: 'S-DoT sensors', device: 'Devices', other: 'Other',
    },
    metrics: {
      pm10: 'Mean PM10', pm25: 'Mean PM2.5', count: (kind) => `Number of ${kind.toLowerCase()}`,
    },
    pm10: 'PM10', pm25: 'PM2.5',
    attribution: 'Boundaries: southkorea/seoul-maps (Apache-2.0) · Air quality: Seoul Open Data Plaza',
  },
};

let current = 'ko';

export function setLanguage(lang) {
  current = lang === 'en' ? 'en' : 'ko';
  document.documentElement.lang = current;
  return current;
}

export function language() {
  return current;
}

export function t(key, ...args) {
  let value = STRINGS[current];
  for (const part of key.split('.')) value = value?.[part];
  if (value === undefined) return key;
  return typeof value === 'function' ? value(...args) : value;
}

// Fill every element carrying data-i18n (text) or data-i18n-label (aria-label).
export function translatePage(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-label]')) {
    el.setAttribute('aria-label', t(el.dataset.i18nLabel));
  }
  document.title = t('title');
}

const SEOUL = { ko: 'ko-KR', en: 'en-GB' };

// A time as people in Seoul read it (the hub stores UTC).
export function formatTime(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  return new Intl.DateTimeFormat(SEOUL[current], {
    timeZone: 'Asia/Seoul', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', hour12: false,
  }).format(new Date(ms)) + ' KST';
}

export function formatNumber(value) {
  if (typeof value !== 'number') return value === undefined || value === null ? '—' : String(value);
  return new Intl.NumberFormat(SEOUL[current], { maximumFractionDigits: 3 }).format(value);
}
