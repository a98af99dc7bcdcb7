"""Every required option of every command is enforced by Click: leaving it out is a usage error
(exit 2, "Missing option") before any work.

Before: ``output_option`` passed ``default=None`` explicitly, which Click 8.3 counts as a given
value, so ``required=True`` was never checked: ``l2 lens convert IN.json`` without ``-o`` ended
in a ``TypeError`` traceback, and ``l2 video``, ``l2 lut apply`` and ``l2 lut convert`` reached
their bodies with no output.
"""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from l2tech.cli.main import cli


def _commands(group: click.Group, ctx: click.Context, prefix: tuple[str, ...] = ()):
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, click.Context(cmd, parent=ctx, info_name=name), prefix + (name,))
        elif cmd is not None:
            yield prefix + (name,), cmd


def _required_cases():
    ctx = click.Context(cli, info_name="l2")
    for path, cmd in _commands(cli, ctx):
        for p in cmd.params:
            if isinstance(p, click.Option) and p.required:
                yield pytest.param(path, cmd, p, id=" ".join(path) + " " + p.opts[-1])


CASES = list(_required_cases())


def test_the_tree_has_required_options():
    ids = {" ".join(c.values[0]) + " " + c.values[2].opts[-1] for c in CASES}
    assert {"lens convert --output", "video --output", "lut apply --output", "lut convert --output",
            "calibrate distortion --target"} <= ids, ids


@pytest.mark.parametrize("path,cmd,opt", CASES)
def test_missing_required_option_is_a_usage_error(path, cmd, opt, tmp_path):
    # give every required argument a path that exists, so only the option is missing
    src = tmp_path / "in.json"
    src.write_text("{}")
    args = list(path)
    for p in cmd.params:
        if isinstance(p, click.Argument) and p.required:
            args.append(str(src))
    for p in cmd.params:  # the other required options, given
        if isinstance(p, click.Option) and p.required and p is not opt:
            args += [p.opts[-1], str(tmp_path / "other.out")]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2, (args, res.output, res.exception)
    assert "Missing option" in res.output and opt.opts[-1] in res.output, res.output
    assert not isinstance(res.exception, TypeError)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["in.json"]
