"""Storm and flood response: Han River water-level forecasts and official flood warnings.

``model`` and ``metrics`` forecast and score (pure), ``warnings`` turns levels into alerts
and CAP 1.2 (pure), ``service`` reads and writes the hub, ``routes`` and ``cli`` are thin.
"""
