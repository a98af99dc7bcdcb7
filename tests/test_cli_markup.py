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


def test_video_summary_keeps_brackets_in_file_names(tmp_path, capsys):
    """`l2 video`'s "wrote" line names the output as written (found by a new user: "o[bold]ut.mp4"
    printed as "out.mp4")."""
    import numpy as np

    from l2tech.video.synth import write_clip

    src = tmp_path / "[red]clip.mp4"
    write_clip(src, [np.full((64, 96, 3), 40 * i, np.uint8) for i in range(4)], rate=25)
    out = tmp_path / "o[bold]ut.mp4"
    rc = main(["video", str(src), "-o", str(out)])
    text = capsys.readouterr().out.replace("\n", "")
    assert rc == 0 and out.exists()
    assert f"wrote {out}" in text, text


def test_develop_lines_keep_brackets_in_file_names(tmp_path, capsys):
    """The develop line ("RAW → OUT"), the "skipped" line of a rerun and the summary's "failed"
    line name files as written (found by a new user: "[bold]x.jpg" printed as "x.jpg")."""
    from conftest import shared_file

    raw = shared_file("raw/decodable/canon_kiss_x4__colorchecker.dng")
    out = tmp_path / "[bold]x[i].jpg"
    assert main(["develop", str(raw), "-o", str(out)]) == 0
    assert f"→ {out}" in capsys.readouterr().out.replace("\n", "")
    assert main(["develop", str(raw), "-o", str(out)]) == 0  # done: skipped
    assert "[bold]x[i].jpg" in capsys.readouterr().err.replace("\n", "")
    assert main(["develop", str(raw), "-o", str(tmp_path / "[red]gone[i]" / "y.jpg")]) == 1
    cap = capsys.readouterr()
    assert "[red]gone[i]" in cap.out.replace("\n", "") and "[red]gone[i]" in cap.err.replace("\n", "")
