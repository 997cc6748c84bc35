"""CMDB enrichment: the v2 delta sync (schema-aware, a hash per record, only what changed is
sent; 429 backoff; stale map recovery) and the v1 full CSV export.

planner (pure decisions) · settings · source (reading CIs) · state (x_bip_panda_cmdb_sync) ·
enrichment_api (BigPanda) · backoff · sync (the v2 runner) · export_v1 · factory.
"""

from .export_v1 import ExportReport, V1Exporter
from .factory import build_cmdb_sync, build_v1_exporter
from .settings import CmdbSettings
from .sync import CmdbSync, SyncReport

__all__ = ["CmdbSettings", "CmdbSync", "ExportReport", "SyncReport", "V1Exporter", "build_cmdb_sync",
           "build_v1_exporter"]
