#!/usr/bin/python3
"""Writes the image-feature fixtures of tests/core/vl_features_test.cpp into tests/data/vl/.

Run once with Debian's python3 (python3-h5py, python3-numpy):
    /usr/bin/python3 tests/reference/make_vl_fixtures.py
The outputs are committed, so the tests never need Python.

features_h5/         the VL-T5 authors' CLIP layout: one {image_id}.h5 per image holding the
                     dataset "{image_id}/features" [L, D]
  grid7.h5           float32 [49, 2]: column 0 = y*7+x, column 1 = -(y*7+x) for grid cell (y, x)
  spike.h5           float32 [49, 1]: 0 except cell (3, 3) = 1
  half.h5            float16 [4, 3]: values exactly representable in float16
  double.h5          float64 [2, 2]
  rank3.h5           float32 [2, 2, 2]    (wrong rank)
  empty.h5           float32 [0, 4]       (no rows)
  wrong_name.h5      dataset "wrong_name/feats" instead of ".../features"
  text.h5            a string dataset "text/features" (not floating point)
features.safetensors the same grid7 (F32), spike (F32), half (F16), plus bf16 [2, 2] (BF16),
                     rank3 (F32, rank 3), ints (I32 [2, 2]: unsupported dtype)
"""
import json
import os
import struct

import h5py
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "vl")

GRID = np.arange(49, dtype=np.float32)
GRID7 = np.stack([GRID, -GRID], axis=1)  # [49, 2]
SPIKE = np.zeros((49, 1), dtype=np.float32)
SPIKE[3 * 7 + 3, 0] = 1.0
HALF = np.array([[0.5, -1.25, 2.0], [1024.0, 0.0, -0.0], [3.5, 0.099975586, 65504.0], [-2.0, 1.0, 0.25]],
                dtype=np.float16)
DOUBLE = np.array([[1.5, -2.25], [1e-3, 7.0]], dtype=np.float64)
BF16_AS_FLOAT = np.array([[1.0, -3.0], [0.15625, 256.0]], dtype=np.float32)  # exact in bfloat16


def write_h5(directory, image_id, array, name="features"):
    with h5py.File(os.path.join(directory, f"{image_id}.h5"), "w", track_order=False) as f:
        f.create_dataset(f"{image_id}/{name}", data=array, track_times=False)


def write_safetensors(path, tensors):
    """tensors: list of (name, dtype name, shape, raw bytes); sorted by name like ladder's writer."""
    header, offset, blobs = {}, 0, []
    for name, dtype, shape, raw in sorted(tensors):
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    h5_dir = os.path.join(OUT, "features_h5")
    os.makedirs(h5_dir, exist_ok=True)
    write_h5(h5_dir, "grid7", GRID7)
    write_h5(h5_dir, "spike", SPIKE)
    write_h5(h5_dir, "half", HALF)
    write_h5(h5_dir, "double", DOUBLE)
    write_h5(h5_dir, "rank3", np.ones((2, 2, 2), dtype=np.float32))
    write_h5(h5_dir, "empty", np.zeros((0, 4), dtype=np.float32))
    write_h5(h5_dir, "wrong_name", GRID7, name="feats")
    with h5py.File(os.path.join(h5_dir, "text.h5"), "w") as f:
        f.create_dataset("text/features", data=np.array([b"ab", b"cd"]), track_times=False)

    bf16 = (BF16_AS_FLOAT.view(np.uint32) >> 16).astype("<u2")  # exact: low halves are zero
    assert ((bf16.astype(np.uint32) << 16).view(np.float32) == BF16_AS_FLOAT).all()
    write_safetensors(os.path.join(OUT, "features.safetensors"), [
        ("grid7", "F32", GRID7.shape, GRID7.astype("<f4").tobytes()),
        ("spike", "F32", SPIKE.shape, SPIKE.astype("<f4").tobytes()),
        ("half", "F16", HALF.shape, HALF.astype("<f2").tobytes()),
        ("bf16", "BF16", bf16.shape, bf16.tobytes()),
        ("rank3", "F32", (2, 2, 2), np.ones((2, 2, 2), dtype="<f4").tobytes()),
        ("ints", "I32", (2, 2), np.arange(4, dtype="<i4").tobytes()),
    ])


if __name__ == "__main__":
    main()
