"""The city data hub: an NGSI-LD context broker (ETSI GS CIM 009)."""
