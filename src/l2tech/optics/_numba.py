"""numba, imported without the SciPy import its BLAS probe costs.

numba's CPU target, when it starts (the first compile or cache load in a process), imports
``numba.np.arraymath``, whose ``_check_blas()`` imports ``scipy.linalg``
(about 0.17–0.25 s on the benchmark machine, the largest single item of a small RAW's
develop start-up; ``python -X importtime``). l2tech's kernels use no BLAS routine (no
``np.dot``, ``@`` or ``np.linalg`` inside ``@njit`` code), and nothing else in a develop imports
``scipy.linalg``. So numba and that module are imported here, and meanwhile ``scipy.linalg`` is marked unimportable; the
probe then reports "no BLAS" (numba only uses that answer for ``np.cov``/``np.corrcoef``'s
inner product), and the mark is removed at once: a later ``import scipy.linalg`` (by l2tech or
anyone) and numba's own BLAS-backed functions, which check again when compiled, work as usual.
When ``scipy.linalg`` or numba is already imported, this is a plain ``import numba``.

Every l2tech module that compiles kernels imports numba from here: ``from l2tech.optics._numba import
numba``.
"""

from __future__ import annotations

import sys

_LINALG = "scipy.linalg"

if "numba" not in sys.modules and _LINALG not in sys.modules:
    sys.modules[_LINALG] = None  # type: ignore[assignment]  # `import scipy.linalg...` raises ImportError
    try:
        import numba
        import numba.np.arraymath  # the probe's module: numba imports it when its CPU target starts
    finally:
        if _LINALG in sys.modules and sys.modules[_LINALG] is None:
            del sys.modules[_LINALG]
else:
    import numba

__all__ = ["numba"]
