#pragma once
// Vision-language tasks (VQA v2, GQA, NLVR2, COCO captioning) as text-to-text examples over
// precomputed image features, in the file layouts the VL-T5 / LST authors' code reads
// (VL-T5/src/{vqa,gqa,nlvr,caption}_clip_data.py). Torch-free: images are referred to by id;
// features.h reads their features, metrics.h scores predictions.
//
// File formats (a JSON array of rows unless said otherwise; unknown keys are ignored):
//   vqa      {"img_id", "sent" (or "question"), "question_id" (number or string),
//             "label": {answer: score}}        (the LXMERT/VL-T5 preprocessed files)
//   gqa      the same shape; question_id is a string there
//   nlvr     {"img0", "img1", "sent", "uid", "label": 0 | 1}   -> target "false" / "true"
//   caption  the Karpathy split file dataset_coco.json:
//            {"images": [{"filename": "COCO_val2014_000000391895.jpg", "split": "test",
//                         "sentences": [{"raw": "..."}], ...}]}
//            image id = filename up to its first '.' (as the authors' filename.split('.')[0]);
//            sentences are stripped of surrounding whitespace.
//
// Files tried, in `dir` (the task's folder), first existing wins:
//   vqa/gqa/nlvr  train:       train.json
//                 validation:  val.json, valid.json, minival.json, karpathy_val.json, testdev.json
//                 test:        test.json, testdev.json, karpathy_test.json
//     (VL-T5's folders name their splits differently per task: VQA karpathy_val/minival,
//      GQA valid/testdev, NLVR2 valid/test; one list covers them all.)
//   caption       dataset_coco.json for every split: Karpathy "train" and "restval" -> train,
//                 "val" -> validation, "test" -> test (the authors' split_rename).
//
// Examples:
//   vqa/gqa/nlvr  one per row, file order.
//   caption train one per (image, sentence), target = that sentence, references = all of the
//                 image's sentences (as the authors' datum['targets']).
//   caption eval  one per image, target = its first sentence, references = all of them.
// Sources: vl_task_prompt(task) + sentence; for caption the prompt alone ("caption: ", the
// authors' input_text = ' '.join([prefix])).
//
// Malformed rows: FormatError "FILE: row N (id ID): problem" (N 0-based, in the file's array
// or "images" array), or, with LoadOptions::skip_malformed, the row is dropped and counted in
// VlDataset::skipped_rows. Problems: a row that is not an object, a missing field, a field of the
// wrong type, a label that is not an object, a score that is not a number, an empty answer set
// in a train/validation file, an NLVR2 label other than 0/1, an image without sentences.
// Rows without a "label" are fine in test files (answers empty, target ""); in train and
// validation files they are malformed. A file that is not JSON, or whose top level has the
// wrong shape, always throws.
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "ladder/data/example.h"

namespace ladder::data {

struct VlExample {
  std::string task;     // "vqa" | "gqa" | "nlvr" | "caption"
  std::string id;       // question_id (as text) / NLVR2 uid / caption: image id
  std::string source;   // task prompt + sentence, e.g. "vqa: what colour is the circle?"
  std::vector<std::string> image_ids;  // one, or two for nlvr (img0, img1)
  std::string target;   // training target text: nlvr "true"/"false"; caption train: its sentence;
                        // vqa/gqa: the highest-scored answer (ties: first in file order); caption eval: first reference
  std::vector<std::pair<std::string, double>> answers;  // vqa/gqa label {answer: score}, file order
  std::vector<std::string> references;  // caption: all reference sentences of the image; else empty
};

struct VlDataset {
  std::string task;
  std::vector<VlExample> examples;
  std::size_t skipped_rows = 0;  // malformed rows dropped under LoadOptions::skip_malformed
};

// The authors' multitask prompts (VL-T5 multitask.py with --use_tasks_prompts): "vqa: ",
// "gpa: ", "nlvr: ", "caption: ". Throws UsageError listing the tasks for any other name.
std::string vl_task_prompt(const std::string& task);
std::vector<std::string> vl_task_names();  // {"vqa", "gqa", "nlvr", "caption"}

// The file names tried for a split, in order (see the table above).
std::vector<std::string> vl_split_files(const std::string& task, const std::string& split);

// Loads one split ("train", "validation" or "test") of a task from its folder. Throws UsageError
// for an unknown task or split, LoadError naming the folder and every file name tried when none
// exists, FormatError for malformed content (see above).
VlDataset load_vl_split(const std::string& task, const std::string& dir, const std::string& split,
                        const LoadOptions& options = {});

// Draws a training answer for vqa/gqa as the authors do: np.random.multinomial(1, score/sum)
// .argmax(), i.e. answer i with probability score_i / sum of scores. `u` is a uniform draw in
// [0, 1): the answer is the first whose cumulative probability exceeds u, so answers of score 0
// are never drawn. An example without answers, or whose scores sum to 0, gives "" (the authors'
// score_sum == 0 case).
const std::string& sample_answer(const VlExample& example, double u);

}  // namespace ladder::data
