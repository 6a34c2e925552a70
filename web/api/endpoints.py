"""Import every endpoint module of the API package so their ``@operation``s register."""

import importlib
import pkgutil

import web.api

for _module in pkgutil.iter_modules(web.api.__path__):
    if _module.name not in ("endpoints",) and not _module.name.startswith("_"):
        importlib.import_module(f"web.api.{_module.name}")
