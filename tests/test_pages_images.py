"""The image flow in AppTest: an image sample on the Data page, then the Train page's image settings."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.data.images.dataset import DecodeOptions, decode_all
from core.data.images.profile import profile_images
from tests.imagezips import class_zip, encoded, picture
from workbench.ui import image_data

APP = Path(__file__).resolve().parents[1] / "workbench" / "app.py"


def select(at: AppTest, label: str):
    return next(s for s in at.selectbox if s.label == label)


def test_the_faces_sample_shows_its_classes_and_sets_the_choice(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    at = AppTest.from_file(str(APP), default_timeout=90).run()
    at = at.switch_page("../pages/data.py").run()
    select(at, "Dataset").set_value("faces").run()
    assert not at.exception and not at.error
    assert [m.value for m in at.metric][:3] == ["200", "2", "25 x 25 grey"]
    choice = at.session_state["data_choice"]
    assert (choice.source, choice.target, choice.task, choice.data_kind) == ("faces", "label", "binary", "image")
    assert any(h.value == "4. Data checks" for h in at.subheader)
    at.switch_page("../pages/train.py").run()
    assert not at.exception and not at.error
    assert select(at, "Model").options == ["Convolutional network (CNN)", "Residual network (small ResNet)"]
    flip = next(c for c in at.checkbox if c.label.startswith("Flip"))
    flip.check().run()
    assert not at.exception
    assert any("as random training batches would show it" in c.value for c in at.caption)  # the preview
    code = "\n".join(c.value for c in at.code)
    assert "--data faces --target label" in code and "--augment flip=1" in code


def test_profile_figures_and_checks(tmp_path: Path) -> None:
    z = class_zip(tmp_path / "p.zip", classes=2, per_class=6,
                  extra={"a/copy.png": encoded(picture(1, 101)), "b/extra.png": encoded(picture(1, 101))})
    prof = profile_images(decode_all(z, DecodeOptions()))
    assert prof.counts == {"a": 7, "b": 7} and prof.across_classes  # b/extra.png is also a/copy.png
    assert image_data.classes_figure(prof).data[0].y == (7, 7)
    assert len(image_data.sizes_figure(prof).data[0].x) == 1  # one size, all 16 x 16
    words = [m for _, m, _ in image_data.problems(prof)]
    assert any("more than one class" in w for w in words) and any("fewer than 10" in w for w in words)
