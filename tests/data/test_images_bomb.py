"""Image bombs: a small file whose header claims a huge image is refused on the header, before decoding
(issue 21: a 13000x13000 1-bit PNG was decoded in full, 2.5 s and 2-4 GB, before the size check), and
`neuroplast predict` answers it with one line."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from neuroplast.cli import main
from neuroplast.data.images import MAX_IMAGE_PIXELS, ImageTooLarge, check_size, read_image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "see"))
from test_server_guard import bomb_png  # noqa: E402  (the same bomb the server tests send)


def test_the_limit_is_4096_squared_by_hand() -> None:
    check_size((4096, 4096))  # 16,777,216 pixels: allowed
    check_size((16_777_216, 1))
    with pytest.raises(ImageTooLarge, match=r"4097x4096 pixels \(16,781,312\); the limit is 16,777,216"):
        check_size((4097, 4096))
    assert MAX_IMAGE_PIXELS == 4096 * 4096


@pytest.mark.parametrize("size", [(13000, 13000), (5000, 5000), (100_000, 200)])
def test_a_bomb_is_refused_before_decoding(tmp_path: Path, size: tuple[int, int]) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_png(*size))
    start = time.perf_counter()
    with pytest.raises(ImageTooLarge, match=rf"Refusing to decode image .*bomb\.png: .*{size[0] * size[1]}"
                       if size == (13000, 13000) else rf"{size[0]}x{size[1]} pixels"):
        read_image(path)
    assert time.perf_counter() - start < 0.5  # decoding the 13000x13000 one took 2.5 s
    with pytest.raises(ImageTooLarge):  # from memory too (the server's path)
        read_image(io.BytesIO(path.read_bytes()), name="the image")


def test_a_bomb_costs_no_memory(tmp_path: Path) -> None:
    """Peak memory of a fresh process that reads the bomb, against one that only imports: < 50 MB more
    (decoding it needed ~170 MB at least)."""
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_png())
    code = ("import resource, sys; from neuroplast.data.images import read_image\n"
            "try:\n    read_image(sys.argv[1]) if sys.argv[1] else None\nexcept ValueError:\n    pass\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    peak = [int(subprocess.run([sys.executable, "-c", code, arg], capture_output=True, text=True,
                               check=True).stdout) for arg in ("", str(path))]
    assert peak[1] - peak[0] < 50_000, peak  # kilobytes


def test_predict_on_the_command_line_says_one_line(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    assert main(["run", "digits-mlp", "--out", str(run_dir), "--set", "train.epochs=1", "--quiet"]) == 0
    (tmp_path / "bomb.png").write_bytes(bomb_png())
    capsys.readouterr()
    start = time.perf_counter()
    code = main(["predict", str(run_dir), str(tmp_path / "bomb.png")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "Refusing to decode image" in err[0] and "downscale" in err[0], err
    assert time.perf_counter() - start < 2


def test_a_legal_image_still_decodes(tmp_path: Path) -> None:
    im = Image.new("L", (300, 200), 255)
    im.paste(0, (100, 50, 150, 150))
    im.save(tmp_path / "ok.png")
    a = read_image(tmp_path / "ok.png")
    assert a.shape == (200, 300) and a[100, 120] == 0.0 and a[0, 0] == 1.0
