"""Development tooling, apart from the service: the demo (`pumpapi serve`), the production layout
on one machine (`pumpapi stack`, `pumpapi nginx-conf`), a private PostgreSQL cluster, the fleet
simulator and the process helpers they share.

Nothing the service loads (`create_app`, the blueprints, the models) imports this package: its
commands are registered lazily by pumpapi.cli, so the gunicorn master never imports them
(tests/test_architecture.py checks both).
"""
