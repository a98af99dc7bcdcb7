"""``l2 serve``: a local web preview of l2tech's own output, a lens browser and lens curves.

HTTP only: every pixel the viewer shows is rendered by :mod:`l2tech.pipeline` (the same
develop / correct the CLI runs) and every curve by :mod:`l2tech.profiles.curves`. The pages are
plain HTML, CSS and JavaScript under ``static/`` (no build step, nothing loaded from the
internet).

- :mod:`l2tech.web.app` — the Starlette application (:func:`create_app`);
- :mod:`l2tech.web.security` — token, request-size limit, paths confined to the folder;
- :mod:`l2tech.web.render` — folder listing, renders and lens candidates through the pipeline;
- :mod:`l2tech.web.lenses` — the lens browser (search, lens page, comparison);
- :mod:`l2tech.web.recipe_toml` — the recipe file written by "save recipe".

See docs/WEB.md.
"""

from __future__ import annotations

__all__ = ["create_app"]


def __getattr__(name: str):
    if name == "create_app":
        from l2tech.web.app import create_app

        return create_app
    raise AttributeError(f"module 'l2tech.web' has no attribute {name!r}")
