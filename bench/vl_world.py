#!/usr/bin/python3
"""vl_world.py: a small synthetic image world in the VL-T5 (CLIP-T5) file formats.

Stands in for COCO/VG/NLVR2 images and CLIP features, which cannot be downloaded here. Writes
four tasks (VQA, GQA, NLVR2, COCO captions) over one shared pool of images, with image features
that are a fixed, documented function of the pixels. Run with Debian's Python (numpy, h5py):

    /usr/bin/python3 bench/vl_world.py --out DIR [--images 600] [--seed 0] [--feature-dim 64]
                                       [--grid 7] [--image-size 112] [--ppm]
    /usr/bin/python3 bench/vl_world.py --check DIR

Same arguments -> byte-identical files (every random draw comes from numpy's default_rng on
SeedSequence([seed, stream]); HDF5 datasets are written without timestamps).

THE WORLD
  Image: S x S pixels (--image-size, default 112), RGB uint8, background (30, 30, 30).
  1-4 objects (uniform). Each object: shape in {circle, square, triangle}, colour in the palette
  red (220,50,50), green (50,180,70), blue (50,90,230), yellow (235,215,50), purple (150,70,200),
  white (240,240,240), size small (r = 0.075 S) or large (r = 0.14 S). Objects after the first
  copy the colour (and, independently, the shape) of an earlier object with probability 0.35,
  otherwise draw uniformly, so that counts of 2-3 of a kind occur. Shapes: circle of radius r;
  axis-aligned square of half-side 0.9 r; equilateral triangle, apex up, circumradius 1.2 r.
  Bounding radius b = 1.3 r. Centres uniform in [b+2, S-b-2]^2, rejected while any two objects
  have centre distance < b1 + b2 + 2 (so objects never overlap). Object colour jitter: uniform
  integer in [-12, 12] per channel per object; pixel noise: uniform integer in [-4, 4] per
  channel per pixel; clipped to [0, 255]. Pixel (x, y) is covered by a shape when its centre
  (x + 0.5, y + 0.5) is inside it. Images split by image: 70% train, 15% val, 15% test
  (at least 2 images in val and test); every task uses that split, so no image crosses splits.
  Image ids: synth_000000, synth_000001, ... (index i is also the caption's imgid/cocoid).

THE FEATURES (one row per grid cell, rows in row-major order: row 0 = top, column 0 = left)
  Cell (i, j) covers pixel rows [floor(i S/g), floor((i+1) S/g)) and likewise columns.
  Per pixel: p = RGB / 255; near_k = (Euclidean RGB distance to palette colour k < 60);
  fg = (Euclidean RGB distance to the background colour > 60); xedge = (the pixel's right
  neighbour differs by > 48 in some channel; 0 in the last column); yedge = the same with the
  pixel below (0 in the last row). Base vector of a cell (width 16), each a mean over the cell:
     0-2   mean R, G, B (0..1)
     3-8   fraction of pixels near red, green, blue, yellow, purple, white
     9     foreground fraction
     10-13 foreground fraction of the cell's quadrants (split at floor(h/2), floor(w/2)):
           top-left, top-right, bottom-left, bottom-right
     14    xedge density (vertical edges)     15   yedge density (horizontal edges)
  Output width D (--feature-dim, default 64): D == 16 -> the base vector; D > 16 -> the base
  vector followed by base @ W, W = default_rng(0).standard_normal((16, D-16)) / 4; D < 16 ->
  base @ W with W = default_rng(0).standard_normal((16, D)) / 4. Computed in float64, stored
  float32, [g*g, D] per image.

FILES
  features/{img_id}.h5          dataset "{img_id}/features", float32 [g*g, D] (the authors'
                                CLIP layout: one file per image)
  features.safetensors          the same matrices, tensor name = img_id, F32, keys sorted
  vqa/{train,val,test}.json     [{img_id, sent, question_id:int, question_type, answer_type,
                                  label:{answer: score}}]
  gqa/{train,valid,testdev}.json [{img_id, sent, question_id:str, label:{answer: 1.0}}]
  {vqa,gqa}/trainval_ans2label.json, trainval_label2ans.json: the answer tables the authors'
                                loaders read ({answer: index} and [answer]; the answers of the
                                train and validation labels, sorted)
  nlvr/{train,valid,test}.json  [{img0, img1, sent, uid, identifier, label: 0|1}]
  caption/dataset_coco.json     Karpathy format, 5 captions per image
  world.json                    settings, feature layout, templates, counts per split
  text_only_baseline.json       best text-only scores on the validation splits
  images/{img_id}.ppm           only with --ppm

QUESTIONS. Candidates are every question a template can ask about an image; then, per split
and per question text, answers are balanced exactly: the answer groups are sorted by size
g1 >= g2 >= ..., the m >= 2 largest are kept that maximise m * g_m, g_m of each are drawn; texts
with a single answer are dropped (kept once each in splits of < 20 images, i.e. the test
fixtures, whose small splits would otherwise be empty). So, within a split, every question text has each of its
answers equally often and a text-only model is at chance. Then all texts are scaled down evenly
to about --vqa-per-image (8) x images questions (likewise GQA and NLVR). VQA labels simulate
10 annotators, each giving the right answer with probability 0.9 and otherwise the answer's
near miss; score = min(1, 0.3 * count) (VQA's 0.3 / 0.6 / 0.9 / 1.0).

TEXT-ONLY BASELINE. For each question text of the training split, the most frequent training
answer (ties: the lexicographically first); a validation text not seen in training falls back
to its template's most frequent answer, then to the task's. Scored on val/valid with the VQA
soft score (label weight of the predicted answer) for VQA, accuracy for GQA and NLVR2; the same
by template and by global majority are reported too. Captions: the most frequent training
caption.
"""

import argparse
import json
import os
import struct
from collections import Counter, OrderedDict

import numpy as np

PALETTE = [("red", (220, 50, 50)), ("green", (50, 180, 70)), ("blue", (50, 90, 230)),
           ("yellow", (235, 215, 50)), ("purple", (150, 70, 200)), ("white", (240, 240, 240))]
COLOURS = [c for c, _ in PALETTE]
SHAPES = ["circle", "square", "triangle"]
SIZES = OrderedDict([("small", 0.075), ("large", 0.14)])
BACKGROUND = (30, 30, 30)
REPEAT_P = 0.35
COLOUR_JITTER = 12
PIXEL_NOISE = 4
NEAR_THRESHOLD = 60.0
FG_THRESHOLD = 60.0
EDGE_THRESHOLD = 48
SQUARE_HALF = 0.9
TRIANGLE_R = 1.2
BOUND_R = 1.3
ANNOTATORS = 10
ANNOTATOR_RIGHT = 0.9
PROJECTION_SEED = 0
BASE_COLUMNS = (["mean_r", "mean_g", "mean_b"] + ["near_" + c for c in COLOURS] +
                ["fg", "fg_tl", "fg_tr", "fg_bl", "fg_br", "xedge", "yedge"])
BASE_WIDTH = len(BASE_COLUMNS)
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight"]
NEAR_MISS_COLOUR = {"red": "pink", "green": "lime", "blue": "navy", "yellow": "gold",
                    "purple": "violet", "white": "gray"}
NEAR_MISS_SHAPE = {"circle": "round", "square": "rectangle", "triangle": "triangular"}
SPLITS = {"vqa": ["train", "val", "test"], "gqa": ["train", "valid", "testdev"],
          "nlvr": ["train", "valid", "test"], "caption": ["train", "val", "test"]}
TEMPLATES = OrderedDict([
    ("vqa", OrderedDict([
        ("colour_of_shape", "what color is the <shape>? (the only <shape>) -> colour"),
        ("colour_of_sized_shape", "what color is the <size> <shape>? (several <shape>s, one of "
                                  "that size) -> colour"),
        ("count_colour", "how many <colour> objects are there? -> 0..4"),
        ("count_shape", "how many <shape>s are there? -> 0..4"),
        ("count_all", "how many objects are in the picture? -> 1..4"),
        ("exists", "is there a <colour> <shape>? -> yes/no"),
        ("where", "where is the <colour> <shape>? -> left/right/top/bottom (dominant axis of the "
                  "offset from the image centre; asked when that offset is >= 0.12 S and the two "
                  "axes differ by >= 0.08 S)"),
        ("shape_of_colour", "what shape is the <colour> object? (the only one) -> shape")])),
    ("gqa", OrderedDict([
        ("rel_colour", "what is the color of the object <rel> the <colour> <shape>? -> colour"),
        ("rel_shape", "which shape is <rel> the <colour> <shape>? -> shape"),
        ("left_or_right", "is the <A> to the left or to the right of the <B>? -> left/right"),
        ("above_or_below", "is the <A> above or below the <B>? -> above/below"),
        ("verify_colour", "is the <shape> <colour>? -> yes/no"),
        ("same_colour", "do the <shape1> and the <shape2> have the same color? -> yes/no"),
        ("bigger", "which object is bigger, the <colour1> one or the <colour2> one? -> colour")])),
    ("nlvr", OrderedDict([
        ("both_colour", "both images contain a <colour> object."),
        ("exactly_one_colour", "exactly one image contains a <colour> object."),
        ("both_shape", "both images contain a <shape>."),
        ("exactly_one_shape", "exactly one image contains a <shape>."),
        ("more_shape", "the left image contains more <shape>s than the right image."),
        ("same_colour", "the <shape> in the left image is the same color as the <shape> in the "
                        "right image."),
        ("more_objects", "the left image has more objects than the right image."),
        ("fewer_objects", "the left image has fewer objects than the right image."),
        ("total", "there are <two..eight> objects in the two images.")])),
    ("caption", [
        "a <size colour shape>, ... and a <size colour shape>. (all, left to right)",
        "<n> shapes on a dark background: a <colour shape>, ... and a <colour shape>.",
        "a <colour shape> to the left of a <colour shape>. (leftmost, rightmost) / "
        "a <size colour shape> <region> of the image.",
        "a <size colour shape> above a <size colour shape>. (topmost, bottommost) / "
        "a picture of a <colour shape> on a plain dark background.",
        "a <size colour shape> next to <n-1> other shapes. / a single <size colour shape> <region>.",
        "<n> <colours> shapes.",
        "there is a <size colour shape> <region>. (one per object)"]),
])
STREAMS = {"scenes": 1, "vqa": 2, "gqa": 3, "nlvr": 4, "caption": 5, "annotators": 6,
           "pairs": 7}


def rng_for(seed, stream, *extra):
    return np.random.default_rng(np.random.SeedSequence([seed, STREAMS[stream]] + list(extra)))


# ----------------------------------------------------------------------------------- scenes

def make_scene(rng, S):
    while True:
        n = int(rng.integers(1, 5))
        objs = []
        for i in range(n):
            if i > 0 and rng.random() < REPEAT_P:
                colour = objs[int(rng.integers(i))]["colour"]
            else:
                colour = COLOURS[int(rng.integers(len(COLOURS)))]
            if i > 0 and rng.random() < REPEAT_P:
                shape = objs[int(rng.integers(i))]["shape"]
            else:
                shape = SHAPES[int(rng.integers(len(SHAPES)))]
            size = list(SIZES)[int(rng.integers(2))]
            objs.append({"colour": colour, "shape": shape, "size": size,
                         "r": SIZES[size] * S})
        ok = True
        for i, o in enumerate(objs):
            b = BOUND_R * o["r"]
            for _ in range(100):
                cx, cy = rng.uniform(b + 2, S - b - 2, size=2)
                if all((cx - p["cx"]) ** 2 + (cy - p["cy"]) ** 2 >=
                       (b + BOUND_R * p["r"] + 2) ** 2 for p in objs[:i]):
                    o["cx"], o["cy"] = float(cx), float(cy)
                    break
            else:
                ok = False
                break
        if ok:
            for o in objs:
                o["jitter"] = [int(v) for v in rng.integers(-COLOUR_JITTER, COLOUR_JITTER + 1, 3)]
            return objs


def shape_mask(o, xx, yy):
    dx, dy, r = xx - o["cx"], yy - o["cy"], o["r"]
    if o["shape"] == "circle":
        return dx * dx + dy * dy <= r * r
    if o["shape"] == "square":
        h = SQUARE_HALF * r
        return (np.abs(dx) <= h) & (np.abs(dy) <= h)
    R = TRIANGLE_R * r
    s = np.sqrt(3.0) / 2.0
    v = [(0.0, -R), (-R * s, R / 2), (R * s, R / 2)]  # apex up (image y grows downwards)
    inside = np.ones(dx.shape, bool)
    for k in range(3):
        (x0, y0), (x1, y1) = v[k], v[(k + 1) % 3]
        cross = (x1 - x0) * (dy - y0) - (y1 - y0) * (dx - x0)
        inside &= cross <= 0
    return inside


def render(objs, S, rng):
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float64) + 0.5
    img = np.empty((S, S, 3), np.int32)
    img[:] = BACKGROUND
    pal = dict(PALETTE)
    for o in objs:
        img[shape_mask(o, xx, yy)] = np.array(pal[o["colour"]]) + np.array(o["jitter"])
    img += rng.integers(-PIXEL_NOISE, PIXEL_NOISE + 1, img.shape).astype(np.int32)
    return np.clip(img, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------- features

def projection(D):
    cols = D - BASE_WIDTH if D > BASE_WIDTH else D
    return np.random.default_rng(PROJECTION_SEED).standard_normal((BASE_WIDTH, cols)) / \
        np.sqrt(BASE_WIDTH)


def base_features(img, grid):
    S = img.shape[0]
    f = img.astype(np.int32)
    chans = [f[..., c].astype(np.float64) / 255.0 for c in range(3)]
    for _, rgb in PALETTE:
        chans.append((((f - np.array(rgb)) ** 2).sum(-1) < NEAR_THRESHOLD ** 2).astype(np.float64))
    chans.append((((f - np.array(BACKGROUND)) ** 2).sum(-1) > FG_THRESHOLD ** 2).astype(np.float64))
    xedge = np.zeros((S, S))
    xedge[:, :-1] = np.abs(f[:, 1:] - f[:, :-1]).max(-1) > EDGE_THRESHOLD
    yedge = np.zeros((S, S))
    yedge[:-1, :] = np.abs(f[1:, :] - f[:-1, :]).max(-1) > EDGE_THRESHOLD
    chans += [xedge, yedge]
    stack = np.stack(chans, -1)  # S, S, 12: r g b near*6 fg xedge yedge
    # sums over the quadrants of every cell (cells are >= 2 pixels high and wide)
    edges = np.array([(k * S) // grid for k in range(grid + 1)])
    starts = np.empty(2 * grid, np.int64)
    starts[0::2] = edges[:-1]
    starts[1::2] = edges[:-1] + (edges[1:] - edges[:-1]) // 2
    q = np.add.reduceat(np.add.reduceat(stack, starts, axis=0), starts, axis=1)  # 2g, 2g, 12
    ext = np.diff(np.append(starts, S)).astype(np.float64)
    qarea = ext[:, None] * ext[None, :]
    cell = q.reshape(grid, 2, grid, 2, -1).sum((1, 3))  # g, g, 12
    carea = qarea.reshape(grid, 2, grid, 2).sum((1, 3))
    cell = cell / carea[..., None]
    quad = (q[..., 9] / qarea).reshape(grid, 2, grid, 2).transpose(0, 2, 1, 3).reshape(grid, grid, 4)
    out = np.concatenate([cell[..., :10], quad, cell[..., 10:12]], -1)
    return out.reshape(grid * grid, BASE_WIDTH)


def features(img, grid, D, W):
    base = base_features(img, grid)
    if D == BASE_WIDTH:
        full = base
    elif D > BASE_WIDTH:
        full = np.concatenate([base, base @ W], 1)
    else:
        full = base @ W
    return full.astype(np.float32)


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", (name, t)
        b, e = t["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + b:8 + n + e], "<f4").reshape(t["shape"])
    return out


# -------------------------------------------------------------------------- scene relations

def count(objs, **kw):
    return sum(all(o[k] == v for k, v in kw.items()) for o in objs)


def unique(objs, **kw):
    hits = [o for o in objs if all(o[k] == v for k, v in kw.items())]
    return hits[0] if len(hits) == 1 else None


def direction(o, S):
    """(answer, near miss) of 'where is': the dominant axis of the offset from the centre."""
    dx, dy = o["cx"] - S / 2, o["cy"] - S / 2
    if max(abs(dx), abs(dy)) < 0.12 * S or abs(abs(dx) - abs(dy)) < 0.08 * S:
        return None
    h = "left" if dx < 0 else "right"
    v = "top" if dy < 0 else "bottom"
    return (h, v) if abs(dx) > abs(dy) else (v, h)


REL = OrderedDict([("to the left of", ("cx", -1)), ("to the right of", ("cx", 1)),
                   ("above", ("cy", -1)), ("below", ("cy", 1))])


def related(objs, a, rel, S):
    """The single object `rel` a, or None: B.axis - a.axis beyond 0.08 S on the rel side, with
    no other object within the doubtful band 0.04 S .. 0.08 S on that side."""
    axis, sign = REL[rel]
    m = 0.08 * S
    hits, doubtful = [], False
    for b in objs:
        if b is a:
            continue
        d = sign * (b[axis] - a[axis])
        if d >= m:
            hits.append(b)
        elif d >= m / 2:
            doubtful = True
    return hits[0] if len(hits) == 1 and not doubtful else None


def region(o, S):
    """Where o lies on a 3 x 3 grid of the image, as a phrase: 'in the top left corner',
    'at the top', 'on the left', 'in the center', ..."""
    col = ["left", "", "right"][min(2, int(3 * o["cx"] / S))]
    row = ["top", "", "bottom"][min(2, int(3 * o["cy"] / S))]
    if row and col:
        return f"in the {row} {col} corner"
    if row:
        return f"at the {row}"
    if col:
        return f"on the {col}"
    return "in the center"


def plural(shape):
    return shape + "s"


# ------------------------------------------------------------------------------- templates

def vqa_candidates(objs, S):
    """(template, sent, answer, near_miss, question_type, answer_type)"""
    out = []
    for s in SHAPES:
        o = unique(objs, shape=s)
        if o:
            out.append(("colour_of_shape", f"what color is the {s}?", o["colour"],
                        NEAR_MISS_COLOUR[o["colour"]], "what color is the", "other"))
        elif count(objs, shape=s) > 1:
            for z in SIZES:
                o = unique(objs, shape=s, size=z)
                if o:
                    out.append(("colour_of_sized_shape", f"what color is the {z} {s}?",
                                o["colour"], NEAR_MISS_COLOUR[o["colour"]],
                                "what color is the", "other"))
    for c in COLOURS:
        n = count(objs, colour=c)
        out.append(("count_colour", f"how many {c} objects are there?", str(n),
                    None, "how many", "number"))
    for s in SHAPES:
        n = count(objs, shape=s)
        out.append(("count_shape", f"how many {plural(s)} are there?", str(n),
                    None, "how many", "number"))
    out.append(("count_all", "how many objects are in the picture?", str(len(objs)),
                None, "how many", "number"))
    for c in COLOURS:
        for s in SHAPES:
            yes = count(objs, colour=c, shape=s) > 0
            out.append(("exists", f"is there a {c} {s}?", "yes" if yes else "no",
                        "no" if yes else "yes", "is there a", "yes/no"))
    for c in COLOURS:
        for s in SHAPES:
            o = unique(objs, colour=c, shape=s)
            d = direction(o, S) if o else None
            if d:
                out.append(("where", f"where is the {c} {s}?", d[0], d[1], "where is the",
                            "other"))
    for c in COLOURS:
        o = unique(objs, colour=c)
        if o:
            out.append(("shape_of_colour", f"what shape is the {c} object?", o["shape"],
                        NEAR_MISS_SHAPE[o["shape"]], "what shape is the", "other"))
    return out


def gqa_candidates(objs, S):
    """(template, sent, answer)"""
    out = []
    refs = [(o, f"{o['colour']} {o['shape']}") for o in objs
            if count(objs, colour=o["colour"], shape=o["shape"]) == 1]
    for a, an in refs:
        for rel in REL:
            b = related(objs, a, rel, S)
            if b:
                out.append(("rel_colour", f"what is the color of the object {rel} the {an}?",
                            b["colour"]))
                out.append(("rel_shape", f"which shape is {rel} the {an}?", b["shape"]))
    for a, an in refs:
        for b, bn in refs:
            if a is b:
                continue
            dx, dy = a["cx"] - b["cx"], a["cy"] - b["cy"]
            if abs(dx) >= 0.08 * S:
                out.append(("left_or_right", f"is the {an} to the left or to the right of the {bn}?",
                            "left" if dx < 0 else "right"))
            if abs(dy) >= 0.08 * S:
                out.append(("above_or_below", f"is the {an} above or below the {bn}?",
                            "above" if dy < 0 else "below"))
    for s in SHAPES:
        o = unique(objs, shape=s)
        if o:
            for c in COLOURS:
                out.append(("verify_colour", f"is the {s} {c}?", "yes" if o["colour"] == c else "no"))
    for s1 in SHAPES:
        for s2 in SHAPES:
            o1, o2 = unique(objs, shape=s1), unique(objs, shape=s2)
            if s1 != s2 and o1 and o2:
                out.append(("same_colour", f"do the {s1} and the {s2} have the same color?",
                            "yes" if o1["colour"] == o2["colour"] else "no"))
    for c1 in COLOURS:
        for c2 in COLOURS:
            o1, o2 = unique(objs, colour=c1), unique(objs, colour=c2)
            if c1 != c2 and o1 and o2 and o1["size"] != o2["size"]:
                out.append(("bigger", f"which object is bigger, the {c1} one or the {c2} one?",
                            c1 if o1["size"] == "large" else c2))
    return out


def nlvr_candidates(A, B):
    """(template, sent, label) for the pair (left image A, right image B)."""
    out = []
    ac, bc = Counter(o["colour"] for o in A), Counter(o["colour"] for o in B)
    ash, bsh = Counter(o["shape"] for o in A), Counter(o["shape"] for o in B)
    for c in COLOURS:
        t = ac[c] > 0 and bc[c] > 0
        out.append(("both_colour", f"both images contain a {c} object.", int(t)))
        t = (ac[c] > 0) != (bc[c] > 0)
        out.append(("exactly_one_colour", f"exactly one image contains a {c} object.", int(t)))
    for s in SHAPES:
        t = ash[s] > 0 and bsh[s] > 0
        out.append(("both_shape", f"both images contain a {s}.", int(t)))
        t = (ash[s] > 0) != (bsh[s] > 0)
        out.append(("exactly_one_shape", f"exactly one image contains a {s}.", int(t)))
        t = ash[s] > bsh[s]
        out.append(("more_shape", f"the left image contains more {plural(s)} than the right image.",
                    int(t)))
        a = unique(A, shape=s) if ash[s] == 1 else None
        b = unique(B, shape=s) if bsh[s] == 1 else None
        if a and b:
            out.append(("same_colour", f"the {s} in the left image is the same color as the {s} "
                        "in the right image.", int(a["colour"] == b["colour"])))
    out.append(("more_objects", "the left image has more objects than the right image.",
                int(len(A) > len(B))))
    out.append(("fewer_objects", "the left image has fewer objects than the right image.",
                int(len(A) < len(B))))
    n = len(A) + len(B)
    for k in range(2, 9):
        out.append(("total", f"there are {NUMBER_WORDS[k]} objects in the two images.",
                    int(n == k)))
    return out


def describe(o, size=True):
    return " ".join(([o["size"]] if size else []) + [o["colour"], o["shape"]])


def join_list(items):
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def caption_candidates(objs, S):
    lr = sorted(objs, key=lambda o: o["cx"])
    tb = sorted(objs, key=lambda o: o["cy"])
    n = len(objs)
    out = []
    out.append("a " + join_list(["a " + describe(o) for o in lr])[2:] + ".")
    out.append(f"{NUMBER_WORDS[n]} shape{'s' if n > 1 else ''} on a dark background: " +
               join_list(["a " + describe(o, size=False) for o in lr]) + ".")
    if n >= 2 and lr[-1]["cx"] - lr[0]["cx"] >= 0.08 * S:
        out.append(f"a {describe(lr[0], False)} to the left of a {describe(lr[-1], False)}.")
    else:
        out.append(f"a {describe(lr[0])} {region(lr[0], S)} of the image.")
    if n >= 2 and tb[-1]["cy"] - tb[0]["cy"] >= 0.08 * S:
        out.append(f"a {describe(tb[0])} above a {describe(tb[-1])}.")
    else:
        out.append(f"a picture of a {describe(tb[0], False)} on a plain dark background.")
    big = [o for o in lr if o["size"] == "large"] or lr
    if n == 1:
        out.append(f"a single {describe(big[0])} {region(big[0], S)}.")
    else:
        others = n - 1
        out.append(f"a {describe(big[0])} next to {NUMBER_WORDS[others]} other "
                   f"shape{'s' if others > 1 else ''}.")
    cols = []
    for o in lr:
        if o["colour"] not in cols:
            cols.append(o["colour"])
    out.append(f"{NUMBER_WORDS[n]} {join_list(cols)} shape{'s' if n > 1 else ''}.")
    for o in objs:
        out.append(f"there is a {describe(o)} {region(o, S)}.")
    return out


def tokens_of(raw):
    return "".join(ch if ch.isalnum() else " " for ch in raw.lower()).split()


# ------------------------------------------------------------------------------- balancing

def balance(cands, rng, target, keep_single=False):
    """cands: list of (sent, answer, payload). Exact per-text answer balance (see docstring),
    then an even scale-down to about `target` items. keep_single (splits of < 20 images, the
    test fixtures): a text with a single answer keeps one item instead of being dropped."""
    by_sent = OrderedDict()
    for c in sorted(cands, key=lambda c: (c[0], c[1], c[2]["key"])):
        by_sent.setdefault(c[0], OrderedDict()).setdefault(c[1], []).append(c)
    plan = []
    for sent, groups in by_sent.items():
        sizes = sorted(((len(v), a) for a, v in groups.items()), key=lambda t: (-t[0], t[1]))
        best_m, best = 0, 0
        for m in range(2, len(sizes) + 1):
            if m * sizes[m - 1][0] > best:
                best_m, best = m, m * sizes[m - 1][0]
        if best_m:
            plan.append((sent, [a for _, a in sizes[:best_m]], sizes[best_m - 1][0]))
        elif keep_single:
            plan.append((sent, [sizes[0][1]], 1))
    total = sum(len(ans) * k for _, ans, k in plan)
    scale = min(1.0, target / total) if total else 1.0
    out = []
    for sent, answers, k in plan:
        k2 = max(1, int(round(k * scale)))
        for a in sorted(answers):
            g = by_sent[sent][a]
            for idx in sorted(rng.permutation(len(g))[:k2]):
                out.append(g[idx])
    return out


# --------------------------------------------------------------------------------- writing

def dump_list(path, items):
    with open(path, "w") as f:
        f.write("[\n" + ",\n".join(json.dumps(x, sort_keys=True) for x in items) + "\n]\n")


def write_vocab(d, vocab):
    """The authors' answer tables: trainval_ans2label.json {answer: index}, trainval_label2ans.json
    [answer, ...], over the answers of the train and validation labels, sorted."""
    answers = sorted(vocab)
    with open(os.path.join(d, "trainval_ans2label.json"), "w") as f:
        json.dump({a: i for i, a in enumerate(answers)}, f, sort_keys=True)
    with open(os.path.join(d, "trainval_label2ans.json"), "w") as f:
        json.dump(answers, f)


def majority(counter):
    return sorted(counter.items(), key=lambda t: (-t[1], t[0]))[0][0]


def text_only(train, val, score):
    """train/val: lists of (template, sent, gold). score(pred, gold) -> float."""
    by_sent, by_tpl, glob = {}, {}, Counter()
    for tpl, sent, gold in train:
        a = top_answer(gold)
        by_sent.setdefault(sent, Counter())[a] += 1
        by_tpl.setdefault(tpl, Counter())[a] += 1
        glob[a] += 1
    res = {}
    for name in ("by_question_text", "by_template", "global_majority"):
        tot = 0.0
        for tpl, sent, gold in val:
            if name == "by_question_text" and sent in by_sent:
                p = majority(by_sent[sent])
            elif name != "global_majority" and tpl in by_tpl:
                p = majority(by_tpl[tpl])
            else:
                p = majority(glob)
            tot += score(p, gold)
        res[name] = round(tot / max(1, len(val)), 4)
    per_tpl = {}
    for tpl in sorted({t for t, _, _ in val}):
        rows = [(s, g) for t, s, g in val if t == tpl]
        tot = 0.0
        for sent, gold in rows:
            p = majority(by_sent[sent]) if sent in by_sent else (
                majority(by_tpl[tpl]) if tpl in by_tpl else majority(glob))
            tot += score(p, gold)
        per_tpl[tpl] = {"n": len(rows), "by_question_text": round(tot / len(rows), 4)}
    res["best"] = max(res["by_question_text"], res["by_template"], res["global_majority"])
    res["per_template"] = per_tpl
    return res


def top_answer(gold):
    if isinstance(gold, dict):
        return sorted(gold.items(), key=lambda t: (-t[1], t[0]))[0][0]
    return gold


def vqa_label(rng, answer, near):
    if near is None:
        n = int(answer)
        near = str(n + 1) if n == 0 or rng.random() < 0.5 else str(n - 1)
    right = int((rng.random(ANNOTATORS) < ANNOTATOR_RIGHT).sum())
    counts = [(answer, right), (near, ANNOTATORS - right)]
    table = {0: 0.0, 1: 0.3, 2: 0.6, 3: 0.9}
    return OrderedDict((a, table.get(c, 1.0)) for a, c in counts if c > 0)


def generate(args):
    S, g, D, N, seed = args.image_size, args.grid, args.feature_dim, args.images, args.seed
    out = args.out
    for sub in ("features", "vqa", "gqa", "nlvr", "caption") + (("images",) if args.ppm else ()):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    import h5py

    srng = rng_for(seed, "scenes")
    scenes, feats = [], {}
    W = projection(D) if D != BASE_WIDTH else None
    ids = [f"synth_{i:06d}" for i in range(N)]
    for i, img_id in enumerate(ids):
        objs = make_scene(srng, S)
        img = render(objs, S, srng)
        scenes.append(objs)
        feats[img_id] = features(img, g, D, W)
        with h5py.File(os.path.join(out, "features", img_id + ".h5"), "w") as f:
            f.create_dataset(f"{img_id}/features", data=feats[img_id], track_times=False)
        if args.ppm:
            with open(os.path.join(out, "images", img_id + ".ppm"), "wb") as f:
                f.write(b"P6\n%d %d\n255\n" % (S, S) + img.tobytes())
    write_safetensors(os.path.join(out, "features.safetensors"), feats)

    n_val = max(2, int(round(0.15 * N)))
    n_test = max(2, int(round(0.15 * N)))
    order = [int(v) for v in rng_for(seed, "scenes", 99).permutation(N)]
    split_of = {}
    for rank, i in enumerate(order):
        split_of[i] = 1 if rank < n_val else 2 if rank < n_val + n_test else 0
    split_imgs = [[i for i in range(N) if split_of[i] == s] for s in range(3)]

    counts = OrderedDict()
    baselines = OrderedDict()

    # VQA
    vrng, arng = rng_for(seed, "vqa"), rng_for(seed, "annotators")
    vqa_eval, vocab = [], set()
    for s, name in enumerate(SPLITS["vqa"]):
        cands = []
        for i in split_imgs[s]:
            for tpl, sent, ans, near, qt, at in vqa_candidates(scenes[i], S):
                cands.append((sent, ans, {"key": i, "tpl": tpl, "near": near, "qt": qt, "at": at}))
        chosen = sorted(balance(cands, vrng, args.vqa_per_image * len(split_imgs[s]),
                                len(split_imgs[s]) < 20),
                        key=lambda c: (c[2]["key"], c[2]["tpl"], c[0]))
        items, per_img, ev = [], Counter(), []
        for sent, ans, p in chosen:
            i = p["key"]
            qid = i * 1000 + per_img[i]
            per_img[i] += 1
            label = vqa_label(arng, ans, p["near"])
            items.append(OrderedDict([("img_id", ids[i]), ("sent", sent), ("question_id", qid),
                                      ("question_type", p["qt"]), ("answer_type", p["at"]),
                                      ("label", label)]))
            ev.append((p["tpl"], sent, label))
        dump_list(os.path.join(out, "vqa", name + ".json"), items)
        if s < 2:
            vocab.update(a for x in items for a in x["label"])
        counts.setdefault("vqa", OrderedDict())[name] = {
            "questions": len(items), "images": len(per_img),
            "templates": dict(sorted(Counter(t for t, _, _ in ev).items()))}
        vqa_eval.append(ev)
    write_vocab(os.path.join(out, "vqa"), vocab)
    vocab = set()
    baselines["vqa"] = dict(split="val", metric="VQA soft score (label weight of the predicted "
                            "answer)", **text_only(vqa_eval[0], vqa_eval[1],
                                                   lambda p, gold: gold.get(p, 0.0)))

    # GQA
    grng = rng_for(seed, "gqa")
    gqa_eval = []
    for s, name in enumerate(SPLITS["gqa"]):
        cands = []
        for i in split_imgs[s]:
            for tpl, sent, ans in gqa_candidates(scenes[i], S):
                cands.append((sent, ans, {"key": i, "tpl": tpl}))
        chosen = sorted(balance(cands, grng, args.gqa_per_image * len(split_imgs[s]),
                                len(split_imgs[s]) < 20),
                        key=lambda c: (c[2]["key"], c[2]["tpl"], c[0]))
        items, per_img, ev = [], Counter(), []
        for sent, ans, p in chosen:
            i = p["key"]
            qid = str(i * 1000 + per_img[i])
            per_img[i] += 1
            items.append(OrderedDict([("img_id", ids[i]), ("sent", sent), ("question_id", qid),
                                      ("label", {ans: 1.0})]))
            ev.append((p["tpl"], sent, ans))
        dump_list(os.path.join(out, "gqa", name + ".json"), items)
        if s < 2:
            vocab.update(a for x in items for a in x["label"])
        counts.setdefault("gqa", OrderedDict())[name] = {
            "questions": len(items), "images": len(per_img),
            "templates": dict(sorted(Counter(t for t, _, _ in ev).items()))}
        gqa_eval.append(ev)
    write_vocab(os.path.join(out, "gqa"), vocab)
    baselines["gqa"] = dict(split="valid", metric="accuracy",
                            **text_only(gqa_eval[0], gqa_eval[1], lambda p, gold: float(p == gold)))

    # NLVR2
    nrng, prng = rng_for(seed, "nlvr"), rng_for(seed, "pairs")
    nlvr_eval = []
    for s, name in enumerate(SPLITS["nlvr"]):
        imgs = split_imgs[s]
        n_pairs = args.nlvr_pairs_per_image * len(imgs)
        cands = []
        for p in range(n_pairs):
            a, b = (int(v) for v in prng.choice(len(imgs), 2, replace=False))
            for tpl, sent, lab in nlvr_candidates(scenes[imgs[a]], scenes[imgs[b]]):
                cands.append((sent, lab, {"key": p, "tpl": tpl, "pair": (imgs[a], imgs[b])}))
        chosen = sorted(balance(cands, nrng, args.nlvr_per_image * len(imgs), len(imgs) < 20),
                        key=lambda c: (c[2]["key"], c[2]["tpl"], c[0]))
        items, per_pair, ev = [], Counter(), []
        for k, (sent, lab, p) in enumerate(chosen):
            a, b = p["pair"]
            items.append(OrderedDict([("img0", ids[a]), ("img1", ids[b]), ("sent", sent),
                                      ("uid", f"synth_nlvr_{name}_{k}"),
                                      ("identifier", f"{name}-{p['key']}-{per_pair[p['key']]}-0"),
                                      ("label", lab)]))
            per_pair[p["key"]] += 1
            ev.append((p["tpl"], sent, lab))
        dump_list(os.path.join(out, "nlvr", name + ".json"), items)
        counts.setdefault("nlvr", OrderedDict())[name] = {
            "statements": len(items), "pairs": len(per_pair),
            "true": sum(e[2] for e in ev),
            "templates": dict(sorted(Counter(t for t, _, _ in ev).items()))}
        nlvr_eval.append(ev)
    baselines["nlvr"] = dict(split="valid", metric="accuracy",
                             **text_only(nlvr_eval[0], nlvr_eval[1],
                                         lambda p, gold: float(p == gold)))

    # captions (Karpathy)
    crng = rng_for(seed, "caption")
    images, sentid, train_caps = [], 0, Counter()
    for i in range(N):
        cands = list(OrderedDict.fromkeys(caption_candidates(scenes[i], S)))
        caps = [cands[k] for k in sorted(crng.permutation(len(cands))[:5])]
        sents = []
        for c in caps:
            raw = c[0].upper() + c[1:]
            sents.append({"raw": raw, "tokens": tokens_of(raw), "imgid": i, "sentid": sentid})
            sentid += 1
            if split_of[i] == 0:
                train_caps[raw] += 1
        images.append(OrderedDict([("filepath", "synth"), ("filename", ids[i] + ".jpg"),
                                   ("imgid", i), ("cocoid", i),
                                   ("split", SPLITS["caption"][split_of[i]]),
                                   ("sentids", [x["sentid"] for x in sents]),
                                   ("sentences", sents)]))
    with open(os.path.join(out, "caption", "dataset_coco.json"), "w") as f:
        f.write('{"dataset": "synth", "images": [\n' +
                ",\n".join(json.dumps(x) for x in images) + "\n]}\n")
    counts["caption"] = OrderedDict(
        (SPLITS["caption"][s], {"images": len(split_imgs[s]), "captions": 5 * len(split_imgs[s])})
        for s in range(3))
    top = majority(train_caps)
    baselines["caption"] = {"split": "val", "metric": "BLEU/CIDEr (computed by the C++ side)",
                            "most_frequent_train_caption": top,
                            "count": train_caps[top],
                            "train_captions": sum(train_caps.values())}

    world = OrderedDict([
        ("generator", "bench/vl_world.py"),
        ("args", OrderedDict([("images", N), ("seed", seed), ("feature_dim", D), ("grid", g),
                              ("image_size", S), ("vqa_per_image", args.vqa_per_image),
                              ("gqa_per_image", args.gqa_per_image),
                              ("nlvr_per_image", args.nlvr_per_image),
                              ("nlvr_pairs_per_image", args.nlvr_pairs_per_image)])),
        ("image", OrderedDict([("background", BACKGROUND), ("palette", OrderedDict(PALETTE)),
                               ("shapes", SHAPES), ("sizes_radius_over_image", SIZES),
                               ("objects_per_image", [1, 4]), ("repeat_probability", REPEAT_P),
                               ("colour_jitter", COLOUR_JITTER), ("pixel_noise", PIXEL_NOISE)])),
        ("features", OrderedDict([
            ("rows", g * g), ("dim", D), ("dtype", "float32"), ("row_order", "row-major, top-left first"),
            ("base_width", BASE_WIDTH), ("base_columns", BASE_COLUMNS),
            ("layout", "base" if D == BASE_WIDTH else
             "base + base @ W" if D > BASE_WIDTH else "base @ W"),
            ("projection", "W = numpy default_rng(0).standard_normal((16, cols)) / 4"),
            ("h5", "features/{img_id}.h5, dataset {img_id}/features"),
            ("safetensors", "features.safetensors, tensor {img_id}")])),
        ("geometry", OrderedDict([("square_half_side", SQUARE_HALF), ("triangle_circumradius",
                                   TRIANGLE_R), ("bounding_radius", BOUND_R), ("units", "r")])),
        ("thresholds", OrderedDict([("near_palette_rgb_distance", NEAR_THRESHOLD),
                                    ("foreground_rgb_distance", FG_THRESHOLD),
                                    ("edge_channel_difference", EDGE_THRESHOLD)])),
        ("templates", TEMPLATES),
        ("relations", "B is <rel> A when B's centre is >= 0.08 S beyond A's on that axis; asked "
                      "when exactly one object is, and none is 0.04-0.08 S beyond"),
        ("splits", OrderedDict((n, len(split_imgs[s])) for s, n in enumerate(["train", "val", "test"]))),
        ("split_names", SPLITS),
        ("counts", counts),
        ("vqa_labels", "10 simulated annotators, right with p=0.9 else the near miss; "
                       "score min(1, 0.3*count)"),
    ])
    with open(os.path.join(out, "world.json"), "w") as f:
        json.dump(world, f, indent=1)
        f.write("\n")
    with open(os.path.join(out, "text_only_baseline.json"), "w") as f:
        json.dump(baselines, f, indent=1)
        f.write("\n")
    return world, baselines


# ----------------------------------------------------------------------------------- check

def check(d):
    import h5py
    world = json.load(open(os.path.join(d, "world.json")))
    R, D = world["features"]["rows"], world["features"]["dim"]
    path = os.path.join(d, "features.safetensors")
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        hdr = json.loads(f.read(n))
    spans = sorted(t["data_offsets"] for k, t in hdr.items() if k != "__metadata__")
    assert spans[0][0] == 0 and all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert spans[-1][1] == os.path.getsize(path) - 8 - n, "safetensors data size"
    assert list(hdr) == sorted(hdr), "safetensors keys not sorted"
    st = read_safetensors(path)
    h5dir = os.path.join(d, "features")
    names = sorted(f[:-3] for f in os.listdir(h5dir) if f.endswith(".h5"))
    assert names == sorted(st), "h5 files and safetensors tensors differ"
    for n in names:
        with h5py.File(os.path.join(h5dir, n + ".h5"), "r") as f:
            a = f[f"{n}/features"][...]
        assert a.dtype == np.float32 and a.shape == (R, D), (n, a.dtype, a.shape)
        assert np.array_equal(a, st[n]), n
        assert np.isfinite(a).all(), n
    known = set(names)
    print(f"features: {len(names)} images, [{R}, {D}] float32, h5 == safetensors")

    def load(task, split):
        items = json.load(open(os.path.join(d, task, split + ".json")))
        assert isinstance(items, list)
        return items

    for task in ("vqa", "gqa"):
        a2l = json.load(open(os.path.join(d, task, "trainval_ans2label.json")))
        l2a = json.load(open(os.path.join(d, task, "trainval_label2ans.json")))
        assert all(l2a[i] == a for a, i in a2l.items()) and len(a2l) == len(l2a)
        for split in SPLITS[task][:2]:
            assert all(a in a2l for x in load(task, split) for a in x["label"]), (task, split)
        print(f"{task}: {len(a2l)} answers in trainval_ans2label.json")
    for split in SPLITS["vqa"]:
        items = load("vqa", split)
        qids = set()
        for x in items:
            assert x["img_id"] in known and isinstance(x["sent"], str) and x["sent"]
            assert isinstance(x["question_id"], int) and x["question_id"] not in qids
            qids.add(x["question_id"])
            assert x["question_type"] and x["answer_type"] in ("yes/no", "number", "other")
            assert x["label"] and all(0 < v <= 1 for v in x["label"].values()), x
        print(f"vqa/{split}: {len(items)} questions on {len({x['img_id'] for x in items})} images")
    for split in SPLITS["gqa"]:
        items = load("gqa", split)
        qids = set()
        for x in items:
            assert x["img_id"] in known and x["sent"]
            assert isinstance(x["question_id"], str) and x["question_id"] not in qids
            qids.add(x["question_id"])
            assert x["label"] and all(v == 1.0 for v in x["label"].values()), x
        print(f"gqa/{split}: {len(items)} questions on {len({x['img_id'] for x in items})} images")
    for split in SPLITS["nlvr"]:
        items = load("nlvr", split)
        uids = set()
        for x in items:
            assert x["img0"] in known and x["img1"] in known and x["img0"] != x["img1"]
            assert x["sent"] and x["label"] in (0, 1) and x["uid"] not in uids and x["identifier"]
            uids.add(x["uid"])
        print(f"nlvr/{split}: {len(items)} statements, {sum(x['label'] for x in items)} true")
    cap = json.load(open(os.path.join(d, "caption", "dataset_coco.json")))
    per = Counter()
    for im in cap["images"]:
        assert im["filename"].endswith(".jpg") and im["filename"][:-4] in known
        assert im["split"] in ("train", "val", "test", "restval")
        assert len(im["sentences"]) == 5
        for s in im["sentences"]:
            assert s["raw"] and s["tokens"] and isinstance(s["sentid"], int)
        per[im["split"]] += 1
    print("caption: " + ", ".join(f"{k} {v} images" for k, v in sorted(per.items())) +
          ", 5 captions each")
    base = json.load(open(os.path.join(d, "text_only_baseline.json")))
    print("text-only baselines: " + ", ".join(
        f"{t} {base[t]['best']}" for t in ("vqa", "gqa", "nlvr")) +
        f"; caption: {base['caption']['most_frequent_train_caption']!r}")
    print("check: OK")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out")
    ap.add_argument("--check", metavar="DIR")
    ap.add_argument("--images", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--feature-dim", type=int, default=64)
    ap.add_argument("--grid", type=int, default=7)
    ap.add_argument("--image-size", type=int, default=112)
    ap.add_argument("--vqa-per-image", type=int, default=8)
    ap.add_argument("--gqa-per-image", type=int, default=8)
    ap.add_argument("--nlvr-per-image", type=int, default=8)
    ap.add_argument("--nlvr-pairs-per-image", type=int, default=6)
    ap.add_argument("--ppm", action="store_true", help="also write images/{img_id}.ppm")
    args = ap.parse_args()
    if args.check:
        check(args.check)
        return
    if not args.out:
        ap.error("--out DIR or --check DIR")
    if args.images < 6 or args.grid < 1 or args.feature_dim < 1 or args.image_size < 2 * args.grid:
        ap.error("need --images >= 6, --grid >= 1, --feature-dim >= 1, --image-size >= 2*grid")
    world, base = generate(args)
    print(json.dumps(world["counts"], indent=None))
    print("text-only: " + ", ".join(f"{t} {base[t]['best']}" for t in ("vqa", "gqa", "nlvr")))


if __name__ == "__main__":
    main()
