"""A hub server process for subscription tests (kill -9, several workers).

``python hub_process.py PORT sqlite PATH`` or ``python hub_process.py PORT postgres URL SCHEMA``.
``HUB_DATA_DIR`` names the data directory (default: beside the SQLite file, else the current
one); other settings come from ``SMARTSEOUL_*`` variables as in ``smartseoul serve``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> None:
    import uvicorn

    from smartseoul.app import create_app
    from smartseoul.config import Settings
    from smartseoul.hub import notifier

    notifier.DEFAULT_TIMEOUT = 1.0  # a short lease: a killed worker's rows come back soon
    port, backend = int(argv[0]), argv[1]
    if backend == "sqlite":
        from smartseoul.hub.store.sqlite import SqliteStore

        store: Any = SqliteStore(Path(argv[2]))
        data_dir = Path(argv[2]).parent
    else:
        from smartseoul.hub.store.postgres import PostgresStore

        store = PostgresStore(argv[2], schema=argv[3], pool_size=4)
        data_dir = Path(".")
    data_dir = Path(os.environ.get("HUB_DATA_DIR", data_dir))
    app = create_app(Settings(data_dir=data_dir, port=port), store=store)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main(sys.argv[1:])
