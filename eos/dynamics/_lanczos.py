"""COMPATIBILITY (issue 17, to delete at merge): moved to :mod:`eos.curvature.lanczos`."""

from eos.curvature.lanczos import LanczosResult, lanczos_top  # noqa: F401
