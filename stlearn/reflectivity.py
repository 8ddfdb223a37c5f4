r"""Radar units: HKO-7 pixels, reflectivity in dBZ and rain rate (lesson 9).

Lesson 9 ("Precipitation nowcasting and Table 8") works with radar echo frames stored the way the
HKO-7 benchmark stores them: a pixel :math:`p \in [0, 1]` (the PNG value divided by 255) encodes
the reflectivity

.. math:: \mathrm{dBZ} = 70\,p - 10,

so :math:`p = 0` is -10 dBZ (no echo) and :math:`p = 1` is 60 dBZ.  Reflectivity
:math:`Z` (mm⁶ m⁻³, :math:`\mathrm{dBZ} = 10 \log_{10} Z`) relates to rain rate :math:`R` (mm/h)
by a Marshall–Palmer-type power law :math:`Z = a R^b` with :math:`a = 58.53`, :math:`b = 1.56`
(HKO-7's values), hence

.. math:: R = 10^{(\mathrm{dBZ} - 10 \log_{10} a) / (10 b)}.

All functions accept numpy arrays, torch tensors or Python numbers and return the same kind.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import torch

__all__ = [
    "DBZ_OFFSET",
    "DBZ_SCALE",
    "ZR_A",
    "ZR_B",
    "dbz_to_pixel",
    "dbz_to_rain_rate",
    "pixel_to_dbz",
    "rain_rate_to_dbz",
]

ArrayLike = TypeVar("ArrayLike", float, np.ndarray, torch.Tensor)

#: dBZ = DBZ_SCALE · p + DBZ_OFFSET (HKO-7).
DBZ_SCALE = 70.0
DBZ_OFFSET = -10.0
#: Z–R relation Z = a R^b used by HKO-7.
ZR_A = 58.53
ZR_B = 1.56


def pixel_to_dbz(p: ArrayLike) -> ArrayLike:
    r"""Reflectivity in dBZ of HKO-7 pixels :math:`p \in [0, 1]`: :math:`70 p - 10`.

    Lesson 9 ("Precipitation nowcasting and Table 8") uses it to read frames as dBZ and to
    threshold them for CSI, POD and FAR (:mod:`stlearn.metrics`).
    """
    # dBZ = 70·p − 10
    return p * DBZ_SCALE + DBZ_OFFSET


def dbz_to_pixel(dbz: ArrayLike) -> ArrayLike:
    r"""HKO-7 pixel value :math:`p = (\mathrm{dBZ} + 10) / 70` of a reflectivity (not clipped).

    Values outside [-10, 60] dBZ map outside [0, 1]; clip them yourself when storing.  Used in
    lesson 9 ("Precipitation nowcasting and Table 8") and by the radar generator.
    """
    # p = (dBZ + 10) / 70
    return (dbz - DBZ_OFFSET) / DBZ_SCALE


def dbz_to_rain_rate(dbz: ArrayLike, a: float = ZR_A, b: float = ZR_B) -> ArrayLike:
    r"""Rain rate in mm/h from reflectivity: :math:`R = 10^{(\mathrm{dBZ} - 10 \log_{10} a)/(10 b)}`.

    The inverse of the Z–R law :math:`Z = a R^b` (HKO-7: :math:`a = 58.53`, :math:`b = 1.56`);
    30, 40 and 50 dBZ are about 6.2, 27 and 118 mm/h.  Lesson 9 ("Precipitation nowcasting and
    Table 8") uses it to say what the CSI thresholds mean in rain.
    """
    # R = 10^((dBZ − 10·log10 a) / (10·b))
    exponent = (dbz - 10.0 * math.log10(a)) / (10.0 * b)
    if isinstance(exponent, torch.Tensor):
        return torch.pow(10.0, exponent)
    return np.power(10.0, exponent) if isinstance(exponent, np.ndarray) else 10.0**exponent


def rain_rate_to_dbz(rain_rate: ArrayLike, a: float = ZR_A, b: float = ZR_B) -> ArrayLike:
    r"""Reflectivity in dBZ of a rain rate R (mm/h): :math:`10 \log_{10} a + 10 b \log_{10} R`.

    R = 0 gives -inf.  Lesson 9 ("Precipitation nowcasting and Table 8").
    """
    # dBZ = 10·log10(Z) = 10·log10(a·R^b) = 10·log10 a + 10·b·log10 R
    if isinstance(rain_rate, torch.Tensor):
        log_r = torch.log10(rain_rate)
    else:
        with np.errstate(divide="ignore"):
            log_r = np.log10(rain_rate)
    dbz = 10.0 * math.log10(a) + 10.0 * b * log_r
    return dbz if isinstance(rain_rate, (np.ndarray, torch.Tensor)) else float(dbz)
