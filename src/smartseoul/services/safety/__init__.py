"""Safe city: crime hotspots and CCTV siting (see docs/safety.md).

``inputs`` reads points and areas, ``districts`` the district statistics; ``hotspots`` computes kernel
density, Getis-Ord Gi* and rates; ``siting`` solves the MCLP and LSCP with HiGHS and
``heuristic`` the very large cases; ``budget`` draws coverage curves and shares cameras
across gu; ``service`` reads and writes the hub; ``routes`` and ``cli`` are thin adapters.
"""
