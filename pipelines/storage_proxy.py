"""Optuna's gRPC storage proxy in front of one database, for hundreds of sweep workers:
`python -m pipelines.storage_proxy --storage postgresql://USER@HOST/DB --port 13000`.

Workers then pass `-P storage=grpc://PROXY_HOST:13000` and hold no database connection of their
own. Optuna's ``run_grpc_proxy_server`` serves until Ctrl-C or SIGTERM. It has no TLS and no
authentication: whoever reaches the port can read and write every study, so it listens on
127.0.0.1 unless told otherwise, and other machines reach it through an SSH tunnel
(`ssh -N -L 13000:127.0.0.1:13000 PROXY_HOST`) or over a private network only.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from pipelines import _cli
from tracking.config.errors import ConfigError
from tracking.config.params import check, param

log = logging.getLogger("pipelines.storage_proxy")


@dataclass(frozen=True)
class ProxyConfig:
    storage: str = param("sqlite:///optuna.db", "the database the proxy serves (Optuna URL)")
    host: str = param("127.0.0.1", "address to listen on (no TLS, no login: keep it private)")
    port: int = param(13000, "port to listen on", at_least=1, below=65536)


def main(argv: Sequence[str] | None = None) -> int:
    _cli.setup()
    try:
        (config,) = _cli.parse(argv, "python -m pipelines.storage_proxy", __doc__, ProxyConfig)
        check(config)
        if config.storage.startswith("grpc://"):
            raise ConfigError("storage", config.storage, "is a proxy itself", "pass a database URL")
        from tracking.sweep.storage import open_storage

        storage = open_storage(config.storage)
    except ConfigError as error:
        return _cli.fail(error)
    except SystemExit as done:
        return int(done.code or 0)

    import optuna

    from tracking.config.errors import Terminated

    _cli.raise_on_sigterm()
    log.info("serving %s on grpc://%s:%d", config.storage, config.host, config.port)
    try:
        optuna.storages.run_grpc_proxy_server(storage, host=config.host, port=config.port)
    except (KeyboardInterrupt, Terminated):
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
