#pragma once
// GLUE tasks as text-to-text (docs/lst-design.md section 7): task table, readers for the official
// file layouts, and the paper's validation/test splits.
//
// Text-to-text formats (A/B are the file's texts, verbatim: no quote processing, no trimming):
//   cola  "cola sentence: S"                     -> "0"/"1"
//   sst2  "sst2 sentence: S"                     -> "0"/"1"
//   mrpc  "mrpc sentence1: A sentence2: B"       -> "0"/"1"
//   qqp   "qqp question1: A question2: B"        -> "0"/"1"
//   stsb  "stsb sentence1: A sentence2: B"       -> score rounded to one decimal, "3.8" (see
//                                                   stsb_target; LoadOptions::stsb_step)
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
// Splits (docs/lst-design.md section 7), seed default 42: the LST authors' seq2seq/data/tasks.py
// (AbstractTask.get with split_validation_test), whose permutation is
// torch.randperm(n, generator=torch.Generator().manual_seed(seed)); shuffle.h's torch_randperm
// makes the same permutation without libtorch. perm = torch_randperm(n, seed) over the file's
// usable rows:
//   cola, mrpc, rte, stsb, wnli: train = train file in file order; dev (n rows): validation =
//     dev[perm[0]], ..., dev[perm[n/2 - 1]] (floor(n/2) rows), test = dev[perm[n/2]], ...,
//     dev[perm[n-1]], both in permutation order (their dataset.select(indices)).
//   sst2, qnli, qqp: train file (n rows): validation = the rows perm[0 .. V-1], train = the rows
//     perm[V .. n-1], both in permutation order, V = LoadOptions::large_task_validation_size
//     (1,000 as the authors); test = dev file in file order.
//   mnli: train = train.tsv; validation = dev_mismatched; test = dev_matched (file order).
// So with the same rows in the same file order as HF `datasets`' GLUE (which the authors
// loaded), the splits hold the authors' rows in the authors' order. Example::index is each
// row's position in its file (among usable rows), so a split can be checked row by row.
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

// A target string as the task's data files write the label: rte/qnli/mnli their words
// ("0" -> "entailment"), the other classification tasks the target itself ("1"); "" when
// `target` is no label of the task. stsb: the target as it is.
std::string glue_data_label(const std::string& task, const std::string& target);

// The source string for one example (b ignored for single-sentence tasks).
std::string glue_source(const std::string& task, const std::string& a, const std::string& b = "");

// STS-B target string for a similarity score in [0, 5], one decimal ("3.8").
//   step 0.1 (default, the LST authors' round_stsb_target): np.round((label * 5) / 5, decimals=1)
//     where label is the score as float32 (HF's glue script stores np.float32(text), which
//     numpy computes as float32(double(text)), as here), i.e. nearest 0.1 computed as
//     rint(x * 10) / 10 with ties to even: 2.25 -> "2.2", 0.25 -> "0.2", 3.85 -> "3.8"
//     (float32 3.85 is 3.8499999...), 0.55 -> "0.6" (float32 0.55 is 0.55000001).
//     (`(label * 5) / 5` is label again up to rounding, so targets take the 51 values 0.0,
//     0.1, ..., 5.0, not the 26 of the 0.2 grid that the function's docstring describes.)
//   step 0.2 (the T5 paper): nearest 0.2; ties (e.g. 2.5) round half to even in units of 0.2
//     (2.5 -> "2.4"), as T5's tf.round does; a tolerance of 1e-9 makes decimal ties such as 3.9
//     exact despite binary floating point.
// Any other step: UsageError.
std::string stsb_target(double score, double step = 0.1);

// Loads one split ("train", "validation" or "test") of a GLUE task as text-to-text.
// Throws UsageError for an unknown task/split or an options.stsb_step other than 0.1/0.2,
// FormatError naming the path and the task for a missing file or bad header, and FormatError
// "FILE:LINE: ..." for a malformed row (wrong column count, unknown label, unparsable or
// out-of-range score) unless options.skip_malformed.
Dataset load_glue(const std::string& task, const std::string& data_dir, const std::string& split,
                  uint64_t seed = 42, const LoadOptions& options = {});

}  // namespace ladder::data
