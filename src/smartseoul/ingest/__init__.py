"""Getting city data into the hub: device payloads, bulk imports and the demo city.

- :mod:`smartseoul.ingest.demo_city`: the demo city (gu, air stations, Han River gauges)
  built from shipped open data, as NGSI-LD entities plus their history.
"""
