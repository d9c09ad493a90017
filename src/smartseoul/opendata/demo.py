"""The demo city's datasets: air quality by gu, Han River levels and CCTV cameras by gu.

Two are live views of what the demo loads into the hub; the CCTV counts are the shipped
Seoul Open Data Plaza file (KOGL type 1, with attribution), published as an uploaded file.
"""

from __future__ import annotations

from typing import Any

from smartseoul.datasets import shipped_file
from smartseoul.opendata.catalog import Catalog, parse_dataset

CCTV_FILE = "cctv-by-district-2016.csv"
DEMO_CONTEXT_URL_PATH = "/ngsi-ld/v1/jsonldContexts/smartseoul-demo"
_SEOUL_AIR = "Seoul Metropolitan Government, Seoul Open Data Plaza (KOGL Type 1)"


def demo_datasets(context: Any) -> list[dict[str, Any]]:
    """Dataset descriptions; ``context`` is the demo @context (a URL or a term map)."""
    air_history = {
        "type": "AirQualityObserved", "q": 'stationKind=="district"', "context": context,
        "mode": "history", "start": "2014-01-01T00:00:00Z", "until": "2021-01-01T00:00:00Z",
        "attrs": ["no2", "o3", "co", "so2", "pm10", "pm25"], "time_format": "%Y%m%d",
        "columns": {"MSRDT_DE": "observedAt", "MSRSTE_NM": "name.ko", "GU_CODE": "district",
                    "NO2": "no2", "O3": "o3", "CO": "co", "SO2": "so2", "PM10": "pm10",
                    "PM25": "pm25"},
    }  # fmt: skip
    air_latest = {
        "type": "AirQualityObserved", "q": 'stationKind=="district"', "context": context,
        "mode": "latest",
        "columns": {"MSRDT_DE": "pm10.observedAt", "MSRSTE_NM": "name.ko",
                    "MSRSTE_NM_EN": "name.en", "GU_CODE": "district", "NO2": "no2", "O3": "o3",
                    "CO": "co", "SO2": "so2", "PM10": "pm10", "PM25": "pm25",
                    "location": "location"},
        "time_format": "%Y%m%d",
    }  # fmt: skip
    water = {
        "type": "WaterObserved", "context": context, "mode": "history",
        "start": "2012-01-01T00:00:00Z", "until": "2031-01-01T00:00:00Z",
        "attrs": ["waterLevel", "flow"], "time_format": "%Y%m%d%H%M",
        "columns": {"YMDHM": "observedAt", "SITE_ID": "id", "SITE_NM": "name.ko",
                    "WATER_LEVEL_M": "waterLevel", "FLOW_CMS": "flow"},
    }  # fmt: skip
    contact = {"name": "smartseoul demo", "email": "opendata@example.org"}
    return [
        {
            "name": "DailyAverageAirQuality",
            "title": {"ko": "서울시 자치구별 일별 평균 대기오염도", "en": "Daily average air quality by gu"},
            "description": {
                "ko": "25개 자치구 도시대기 측정소의 일별 평균 NO2, O3, CO, SO2(ppm), PM10, PM2.5(㎍/㎥).",
                "en": "Daily mean NO2, O3, CO, SO2 (ppm), PM10 and PM2.5 (µg/m³) at the 25 gu "
                "urban air stations, live from the city data hub.",
            },
            "license_id": "KOGL-1", "keywords": ["대기질", "미세먼지", "air quality", "PM10"],
            "themes": ["ENVI"], "frequency": "daily", "contact": contact,
            "temporal": {"start": "2019-12-02", "end": "2019-12-31"},
            "attribution": "Air quality: " + _SEOUL_AIR,
            "seoul_filters": ["MSRDT_DE", "MSRSTE_NM"],
            "resources": [
                {"id": "air-daily-history", "kind": "query", "query": air_history,
                 "name": {"ko": "일별 평균 (이력)", "en": "Daily means (history)"}},
                {"id": "air-latest", "kind": "query", "query": air_latest,
                 "name": {"ko": "측정소별 최신값", "en": "Latest value per station"}},
            ],
        },
        {
            "name": "HanRiverWaterLevel",
            "title": {"ko": "한강 수위 및 유량", "en": "Han River water levels and flow"},
            "description": {
                "ko": "한강 주요 수위관측소(청담대교, 잠수교, 한강대교, 행주대교)와 팔당댐의 10분 단위 수위·유량.",
                "en": "10-minute water levels and flows at the Han River gauges (Cheongdam, "
                "Jamsu, Hangang and Haengju bridges) and Paldang dam.",
            },
            "publisher": "한강홍수통제소 (HRFCO) via smartseoul",
            "license_id": "other", "keywords": ["한강", "수위", "홍수", "water level", "flood"],
            "themes": ["ENVI"], "frequency": "continuous", "contact": contact,
            "attribution": "HRFCO gauge readings as released for the 2022 Han River water-level "
            "prediction competition (KHNP / Dacon), for demonstration only; generated readings "
            "(labelled dataProvenance) when those files are absent.",
            "seoul_filters": ["SITE_NM"],
            "resources": [
                {"id": "han-river-levels", "kind": "query", "query": water,
                 "name": {"ko": "10분 수위 (이력)", "en": "10-minute levels (history)"}},
            ],
        },
        {
            "name": "CctvByDistrict",
            "title": {"ko": "서울시 자치구별 CCTV 설치 현황", "en": "CCTV cameras installed by gu"},
            "description": {
                "ko": "자치구별 방범용 CCTV 설치 대수 (2013년 이전, 2014–2016년).",
                "en": "CCTV cameras installed per gu: before 2013 and each year 2014–2016.",
            },
            "license_id": "KOGL-1", "keywords": ["CCTV", "안전", "safety"],
            "themes": ["JUST"], "frequency": "annual", "contact": contact,
            "temporal": {"start": "2013", "end": "2016"},
            "attribution": "CCTV: Seoul Metropolitan Government, Seoul Open Data Plaza",
            "seoul_filters": ["기관명"],
            "resources": [
                {"id": "cctv-by-district-2016", "kind": "file", "format": "CSV",
                 "name": {"ko": "자치구별 CCTV (2016)", "en": "CCTV by gu (2016)"}},
            ],
        },
    ]


async def publish_demo(store: Any, context: Any) -> list[str]:
    """Publish (or refresh) the demo datasets in the store's catalog; their names."""
    catalog = Catalog(store)
    names = []
    for data in demo_datasets(context):
        dataset = await catalog.put_dataset(parse_dataset(data))
        names.append(dataset.name)
    await catalog.put_file(
        "cctv-by-district-2016", shipped_file(CCTV_FILE).read_bytes(),
        filename=CCTV_FILE, media_type="text/csv; charset=utf-8",
    )  # fmt: skip
    return names
