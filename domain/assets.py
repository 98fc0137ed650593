"""Value types of the asset inventory."""

from __future__ import annotations

import enum


class AssetType(enum.StrEnum):
    """What kind of thing an asset is; the values are the stored spelling."""

    SERVER = "server"
    DATABASE = "database"
    NETWORK = "network"
    STORAGE = "storage"
    APPLICATION = "application"
    CONTAINER = "container"
    CLOUD = "cloud"
    OTHER = "other"
