"""The router: keys, groups, models, limits, plugins and dispatch behind the gRPC envelope."""

from .hookspecs import hookimpl

__all__ = ["hookimpl"]
