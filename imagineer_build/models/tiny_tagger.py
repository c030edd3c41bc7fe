"""`builtin:tiny-tagger`: a tiny ONNX tagger in the WD14 layout (model.onnx + selected_tags.csv).

Like the real taggers it takes a batch of square BGR images (0..255, NHWC) and gives one sigmoid
score per row of the CSV. Its weights are set, not learnt: each tag reads the image's mean
colour, so a red image is tagged `red` (which proves the preprocessing, BGR order included)
and magenta, cyan and yellow images get the sensitive, questionable and explicit ratings (which
proves the rating mapping). Written with the onnx helpers, so the bytes are the same everywhere.
"""

from __future__ import annotations

from pathlib import Path

from .builtin import builtin_folder, ensure_folder

SIZE = 32
GENERAL, CHARACTER, RATING = 0, 4, 9
# name, category, weights on the mean (blue, green, red) in 0..1, bias: score = sigmoid(w·bgr + b)
TAGS: list[tuple[str, int, tuple[float, float, float], float]] = [
    ("general", RATING, (0, 0, 0), 2.0),
    ("sensitive", RATING, (8, -16, 8), -10.0),      # magenta
    ("questionable", RATING, (8, 8, -16), -10.0),   # cyan
    ("explicit", RATING, (-16, 8, 8), -10.0),       # yellow
    ("red", GENERAL, (-6, -6, 12), -2.0),
    ("green", GENERAL, (-6, 12, -6), -2.0),
    ("blue", GENERAL, (12, -6, -6), -2.0),
    ("bright", GENERAL, (4, 4, 4), -6.0),
    ("dark", GENERAL, (-4, -4, -4), 3.0),
    ("no_humans", GENERAL, (0, 0, 0), 1.0),
    ("simple_background", GENERAL, (0, 0, 0), 0.5),
    ("solo", GENERAL, (0, 0, 0), -1.0),
    ("^_^", GENERAL, (0, 0, 0), -3.0),
    ("red_mascot", CHARACTER, (-10, -10, 20), -8.0),
    ("blue_mascot", CHARACTER, (20, -10, -10), -12.0),
]
IMPORTS = ("onnx",)


def ensure_tiny_tagger(models_dir: Path) -> Path:
    return ensure_folder(builtin_folder(models_dir, "tiny-tagger"), _make, IMPORTS)


def _make(dest: Path) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.array([t[2] for t in TAGS], dtype=np.float32).T  # (3, T)
    b = np.array([t[3] for t in TAGS], dtype=np.float32)
    nodes = [
        helper.make_node("ReduceMean", ["input"], ["mean"], axes=[1, 2], keepdims=0),
        helper.make_node("Mul", ["mean", "scale"], ["bgr"]),
        helper.make_node("MatMul", ["bgr", "w"], ["logits0"]),
        helper.make_node("Add", ["logits0", "b"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny_tagger",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", SIZE, SIZE, 3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", len(TAGS)])],
        initializer=[numpy_helper.from_array(np.array([1 / 255], dtype=np.float32), "scale"),
                     numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8,
                              producer_name="imagineer-build", producer_version="1")
    onnx.checker.check_model(model)
    dest.mkdir(parents=True)
    (dest / "model.onnx").write_bytes(model.SerializeToString())
    rows = "".join(f"{i},{name},{cat},{1000 - i}\n" for i, (name, cat, _, _) in enumerate(TAGS))
    (dest / "selected_tags.csv").write_text("tag_id,name,category,count\n" + rows, encoding="utf-8")
