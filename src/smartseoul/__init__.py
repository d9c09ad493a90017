"""smartseoul: an open-source smart-city platform built around an NGSI-LD city data hub."""

__version__ = "0.1.0"
