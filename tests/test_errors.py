"""The error hierarchy: one-line messages naming the file, builtin bases kept."""

from l2tech import errors


def test_message_names_file_and_line():
    e = errors.LUTError("LUT_3D_SIZE 1000000 outside 2-256", path="x.cube", line=3)
    assert str(e) == "x.cube:3: LUT_3D_SIZE 1000000 outside 2-256"
    assert isinstance(e, ValueError) and isinstance(e, errors.L2Error)


def test_builtin_bases():
    assert issubclass(errors.LensNotFoundError, LookupError)
    assert issubclass(errors.OutputError, OSError)
    assert issubclass(errors.DependencyMissingError, ImportError)
    assert errors.UsageError("x").exit_code == 2


def test_public_surface_resolves():
    """Every name in l2tech.__all__ imports (the lazy re-exports point at real objects)."""
    import l2tech

    for name in l2tech.__all__:
        assert getattr(l2tech, name) is not None, name
