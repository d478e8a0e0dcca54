#!/usr/bin/env python3
"""Story questions: a prompt/completion task in stories260K's own world (TinyStories), for the
demo and the examples. Python's standard library only; deterministic for a seed.

    python3 bench/story_qa.py OUT_DIR [--seed 1] [--train 2000] [--eval 200]

writes OUT_DIR/{train,validation,test}.jsonl, one {"prompt": ..., "completion": ...} per line:

    {"prompt": "Lily had a red ball and an orange hat. She played with them all day. Q: What color
     was the hat? A:", "completion": "orange"}

The answer is always one of the two colours in the story, so a model must read the story to
answer: asking for the other object's colour, or the commonest colour, is right half the time
at best (the stories' colours are drawn without preference). The pretrained model has never
seen the Q:/A: form; it continues with a story. Validation and test stories are new
combinations of the same names, objects and colours.
"""
import argparse
import json
import os
import random

NAMES = [("Lily", "She"), ("Tom", "He"), ("Ben", "He"), ("Sue", "She"), ("Max", "He"), ("Anna", "She"),
         ("Tim", "He"), ("Mia", "She"), ("Sam", "He"), ("Lucy", "She"), ("Jack", "He"), ("Amy", "She")]
OBJECTS = ["ball", "hat", "car", "box", "cup", "kite", "book", "boat", "bag", "bike", "doll", "bed"]
COLOURS = ["red", "blue", "green", "yellow", "pink", "black", "white", "brown", "purple", "orange"]
ENDINGS = ["played with {them} all day", "was very happy", "showed {them} to Mom", "took {them} to the park",
           "put {them} in the room", "loved {them} very much"]


def article(word):
    return ("an " if word[0] in "aeiou" else "a ") + word


def example(rng, objects):
    name, pronoun = rng.choice(NAMES)
    things = rng.sample(OBJECTS, objects)
    colours = rng.sample(COLOURS, objects)
    asked = rng.randrange(objects)
    owned = " and ".join(f"{article(c)} {t}" for c, t in zip(colours, things))
    them = "them" if objects > 1 else "it"
    story = f"{name} had {owned}. {pronoun} {rng.choice(ENDINGS).format(them=them)}."
    return {"prompt": f"{story} Q: What color was the {things[asked]}? A:", "completion": colours[asked]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--eval", type=int, default=200, help="validation and test examples each")
    parser.add_argument("--objects", type=int, default=1, choices=(1, 2, 3),
                        help="objects per story, each with its own colour (2: the question names which)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    seen = set()
    splits = {"train": args.train, "validation": args.eval, "test": args.eval}
    os.makedirs(args.out, exist_ok=True)
    for split, count in splits.items():
        rows = []
        while len(rows) < count:
            row = example(rng, args.objects)
            if row["prompt"] in seen:  # every prompt once across the splits
                continue
            seen.add(row["prompt"])
            rows.append(row)
        path = os.path.join(args.out, split + ".jsonl")
        with open(path + ".tmp", "w") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
        os.replace(path + ".tmp", path)
    print(f"{args.out}: " + ", ".join(f"{n} {s}" for s, n in splits.items()))


if __name__ == "__main__":
    main()
