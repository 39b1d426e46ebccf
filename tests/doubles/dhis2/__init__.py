"""Contract double of the DHIS2 Web API 2.40–2.43 (see server.py); never a real DHIS2 server."""

from .server import VERSIONS, Dhis2Double, LoggedRequest

__all__ = ["VERSIONS", "Dhis2Double", "LoggedRequest"]
