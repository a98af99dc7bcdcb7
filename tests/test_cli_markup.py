"""Error lines print file names as text: brackets in a name are not rich markup."""

from __future__ import annotations

from l2tech.cli.main import main


def test_error_line_keeps_brackets_in_file_names(tmp_path, capsys):
    bad = tmp_path / "shot[bold]x.jpg"  # printed as "shotx.jpg" (the tag eaten as markup) if unescaped
    bad.write_bytes(b"not a jpeg at all")
    rc = main(["correct", str(bad), "-o", str(tmp_path / "out.jpg"), "--lens", "x"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "shot[bold]x.jpg" in err.replace("\n", ""), err
