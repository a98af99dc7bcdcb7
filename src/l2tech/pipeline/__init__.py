"""The jobs, built from the stages of the other packages (ARCHITECTURE.md "one spine").

- :mod:`l2tech.pipeline.recipe` — the one :class:`Recipe` (every setting, stills and video);
- :mod:`l2tech.pipeline.lens_plan` — metadata + profile + recipe → :class:`LensPlan`;
- :mod:`l2tech.pipeline.stills` — develop (RAW) and correct (developed images), file to file;
- :mod:`l2tech.pipeline.batch` — the stills batch loop;
- :mod:`l2tech.pipeline.video` — :class:`~l2tech.pipeline.video.VideoJob` (a Recipe plus the
  video-only settings) and :func:`~l2tech.pipeline.video.run_video_job`, clip to clip;
- :mod:`l2tech.pipeline.calibrate` — calibration jobs.

Nothing here is an algorithm of its own; each step calls the package that owns it.
"""

from __future__ import annotations

from l2tech.pipeline import lens_plan as _lens_plan
from l2tech.pipeline import recipe as _recipe
from l2tech.pipeline import stills as _stills
from l2tech.pipeline.lens_plan import *  # noqa: F403  (its __all__)
from l2tech.pipeline.recipe import *  # noqa: F403  (its __all__)
from l2tech.pipeline.stills import *  # noqa: F403  (its __all__)

__all__ = [*_recipe.__all__, *_lens_plan.__all__, *_stills.__all__]
