#pragma once
// GLUE tasks as text-to-text (SPEC-LST.md section 7): task table, readers for the official
// file layouts, and the paper's validation/test splits.
//
// Text-to-text formats (A/B are the file's texts, verbatim: no quote processing, no trimming):
//   cola  "cola sentence: S"                     -> "0"/"1"
//   sst2  "sst2 sentence: S"                     -> "0"/"1"
//   mrpc  "mrpc sentence1: A sentence2: B"       -> "0"/"1"
//   qqp   "qqp question1: A question2: B"        -> "0"/"1"
//   stsb  "stsb sentence1: A sentence2: B"       -> score rounded to the nearest 0.2, "3.8"
//   mnli  "mnli premise: A hypothesis B"         -> "0" entailment, "1" neutral, "2" contradiction
//         (no colon after "hypothesis", as in the authors' code)
//   qnli  "qnli question: Q sentence: S"         -> "0" entailment, "1" not_entailment
//   rte   "rte sentence1: A sentence2: B"        -> "0" entailment, "1" not_entailment
//   wnli  "wnli sentence1: A sentence2: B"       -> "0"/"1"
// Files that already hold the target strings ("0"/"1"/"2") instead of label words are accepted.
//
// Files read, under `data_dir/<Dir>` (Dir = CoLA, SST-2, MRPC, QQP, STS-B, MNLI, QNLI, RTE,
// WNLI), or `data_dir` itself when that sub-folder does not exist:
//   cola        train.tsv, dev.tsv: no header, 4 columns (source, label, note, sentence)
//   sst2        train.tsv, dev.tsv: header with `sentence`, `label`
//   qqp         train.tsv, dev.tsv: header with `question1`, `question2`, `is_duplicate`
//   qnli        train.tsv, dev.tsv: header with `question`, `sentence`, `label`
//   rte, wnli   train.tsv, dev.tsv: header with `sentence1`, `sentence2`, `label`
//   mnli        train.tsv, dev_mismatched.tsv, dev_matched.tsv: `sentence1`, `sentence2`, `gold_label`
//   stsb        GLUE train.tsv, dev.tsv (header with `sentence1`, `sentence2`, `score`), or the
//               original sts-train.tsv / sts-dev.tsv (also .csv; tab-separated, no header:
//               genre, file, year, id, score, s1, s2; extra trailing columns, which some
//               original rows carry, are ignored)
//   mrpc        MSR layout ("Quality #1 ID #2 ID #1 String #2 String" header), which both GLUE's
//               train.tsv/dev.tsv and the original msr_paraphrase_{train,test}.txt use.
//               train: train.tsv, else msr_paraphrase_train.txt.
//               dev:   dev.tsv (GLUE's 408 pairs) if present; otherwise the labeled MSR test set
//                      (test.tsv whose header starts with "Quality", else msr_paraphrase_test.txt)
//                      is used as the dev set and halved into validation/test. With only the MSR
//                      files, GLUE's dev pairs cannot be told apart from train (GLUE's id list
//                      is not in the files), so train is the full MSR train (4,076 pairs) and
//                      validation/test come from the 1,725 MSR test pairs. GLUE's own test.tsv
//                      (header "index ...", no labels) is rejected with a hint.
// Every data row must have exactly the header's column count (CoLA: 4; original STS-B: >= 7).
// Empty lines are ignored; a UTF-8 BOM and CRLF line ends are accepted.
//
// Splits (SPEC section 7), seed default 42, shuffled with shuffle.h (portable):
//   cola, mrpc, rte, stsb, wnli: train = train file in file order; dev shuffled, validation =
//     first floor(n/2), test = the rest (as the authors' code slices it).
//   sst2, qnli, qqp: train file shuffled; validation = first large_task_validation_size rows
//     (shuffled order); train = the rest in file order; test = dev file in file order.
//   mnli: train = train.tsv; validation = dev_mismatched; test = dev_matched (file order).
// The paper's split used numpy's generator, so the exact rows differ from it; the sizes match.
#include <cstdint>
#include <string>
#include <vector>

#include "ladder/data/example.h"

namespace ladder::data {

struct GlueTask {
  std::string name;                  // "rte"
  std::string directory;             // "RTE": the official folder name
  std::vector<std::string> labels;   // target strings; empty for stsb (regression)
  std::vector<std::string> metrics;  // metric keys evaluate_task returns (besides "score")
  bool large = false;                // sst2/qnli/qqp: validation carved from train
};

// All nine tasks in the order cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte, wnli.
const std::vector<GlueTask>& glue_tasks();
bool is_glue_task(const std::string& name);
// Throws UsageError listing the known tasks.
const GlueTask& glue_task(const std::string& name);

// The source string for one example (b ignored for single-sentence tasks).
std::string glue_source(const std::string& task, const std::string& a, const std::string& b = "");

// STS-B target: score rounded to the nearest 0.2 with one decimal ("3.8"). Ties (e.g. 2.5)
// round half to even in units of 0.2 (2.5 -> "2.4"), as T5's tf.round does; a tolerance of
// 1e-9 makes decimal ties such as 3.9 exact despite binary floating point.
std::string stsb_target(double score);

// Loads one split ("train", "validation" or "test") of a GLUE task as text-to-text.
// Throws UsageError for an unknown task/split, FormatError naming the path and the task for
// a missing file or bad header, and FormatError "FILE:LINE: ..." for a malformed row (wrong
// column count, unknown label, unparsable/out-of-range score) unless options.skip_malformed.
Dataset load_glue(const std::string& task, const std::string& data_dir, const std::string& split,
                  uint64_t seed = 42, const LoadOptions& options = {});

}  // namespace ladder::data
