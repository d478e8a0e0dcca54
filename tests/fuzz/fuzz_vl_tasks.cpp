// libFuzzer target: vision-language task files (include/ladder/data/vl/tasks.h). The input is
// written as every file name load_vl_split looks for first (train.json, val.json, test.json,
// dataset_coco.json) in one scratch folder, then loaded as each task (vqa, gqa, nlvr, caption)
// and split (train, validation, test), with skip_malformed off and on.
//
// Stricter than the other targets: tasks.h documents UsageError / LoadError / FormatError, so
// any exception that is not a ladder::Error (nlohmann's included) is a finding here, with or
// without LADDER_FUZZ_STRICT. Invariants checked:
//   - skipping never changes a file that loads without it (same examples, 0 skipped), and a
//     file whose skipping run drops nothing loads without it too;
//   - every example has the documented shape (task, image ids, targets, answers, references);
//   - sample_answer returns "" or one of the example's positive-score answers.
#include <cmath>
#include <string>
#include <typeinfo>
#include <vector>

#include "fuzz_common.h"
#include "ladder/data/vl/tasks.h"

namespace {

using ladder::data::LoadOptions;
using ladder::data::VlDataset;
using ladder::data::VlExample;

struct Outcome {
  bool ok = false;
  VlDataset dataset;
  std::string error;
};

Outcome load(const std::string& task, const std::string& dir, const std::string& split, bool skip) {
  Outcome outcome;
  LoadOptions options;
  options.skip_malformed = skip;
  try {
    outcome.dataset = ladder::data::load_vl_split(task, dir, split, options);
    outcome.ok = true;
  } catch (const ladder::Error& error) {
    outcome.error = error.what();
    if (outcome.error.empty()) ladder_fuzz::fail("load_vl_split(" + task + ", " + split + ") threw an empty message");
  } catch (const std::exception& error) {
    ladder_fuzz::fail("load_vl_split(" + task + ", " + split + (skip ? ", skip" : "") + ") threw " +
                      typeid(error).name() + " (not a ladder::Error): " + error.what());
  } catch (...) {
    ladder_fuzz::fail("load_vl_split(" + task + ", " + split + ") threw a non-std exception");
  }
  return outcome;
}

bool same_examples(const VlDataset& a, const VlDataset& b) {
  if (a.examples.size() != b.examples.size()) return false;
  for (std::size_t i = 0; i < a.examples.size(); ++i) {
    const VlExample& x = a.examples[i];
    const VlExample& y = b.examples[i];
    if (x.id != y.id || x.source != y.source || x.target != y.target || x.image_ids != y.image_ids ||
        x.answers != y.answers || x.references != y.references)
      return false;
  }
  return true;
}

void check_example(const VlExample& example, const std::string& task, const std::string& split) {
  const std::string where = task + " " + split + " example \"" + example.id + "\": ";
  if (example.task != task) ladder_fuzz::fail(where + "task \"" + example.task + "\"");
  if (example.source.rfind(ladder::data::vl_task_prompt(task), 0) != 0) ladder_fuzz::fail(where + "source lacks the prompt");
  const std::size_t images = task == "nlvr" ? 2 : 1;
  if (example.image_ids.size() != images) ladder_fuzz::fail(where + "wrong number of image ids");
  const bool labelled = split != "test";
  if (task == "nlvr") {
    const bool known = example.target == "true" || example.target == "false" || (!labelled && example.target.empty());
    if (!known) ladder_fuzz::fail(where + "nlvr target \"" + example.target + "\"");
  } else if (task == "caption") {
    if (example.references.empty()) ladder_fuzz::fail(where + "caption without references");
    if (example.image_ids[0] != example.id) ladder_fuzz::fail(where + "caption image id differs from the id");
    if (split != "train" && example.target != example.references.front())
      ladder_fuzz::fail(where + "caption eval target is not the first reference");
  } else {
    if (labelled && example.answers.empty()) ladder_fuzz::fail(where + "labelled split without answers");
    if (!example.answers.empty()) {
      // The target is the first answer, in file order, of the highest score.
      double best = example.answers.front().second;
      for (const auto& [answer, score] : example.answers)
        if (score > best) best = score;
      const std::string* first_best = nullptr;
      for (const auto& [answer, score] : example.answers)
        if (first_best == nullptr && score == best) first_best = &answer;
      if (first_best == nullptr || *first_best != example.target)
        ladder_fuzz::fail(where + "target \"" + example.target + "\" is not the first highest-scored answer");
    } else if (!example.target.empty()) {
      ladder_fuzz::fail(where + "unlabelled question with a target");
    }
    for (double u : {0.0, 0.25, 0.5, 0.999999999}) {
      const std::string& drawn = ladder::data::sample_answer(example, u);
      if (drawn.empty()) continue;
      bool positive = false;
      for (const auto& [answer, score] : example.answers)
        if (answer == drawn && score > 0) positive = true;
      if (!positive) ladder_fuzz::fail(where + "sample_answer drew \"" + drawn + "\", not a positive-score answer");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  for (const char* name : {"train.json", "val.json", "test.json", "dataset_coco.json"})
    ladder_fuzz::write_scratch(name, data, size);
  const std::string& dir = ladder_fuzz::scratch_dir();
  std::size_t checksum = 0;
  for (const std::string task : {"vqa", "gqa", "nlvr", "caption"}) {
    for (const std::string split : {"train", "validation", "test"}) {
      const Outcome strict = load(task, dir, split, false);
      const Outcome skipping = load(task, dir, split, true);
      if (strict.ok) {
        if (!skipping.ok) ladder_fuzz::fail(task + " " + split + ": loads, but not with skip_malformed: " + skipping.error);
        if (strict.dataset.skipped_rows != 0) ladder_fuzz::fail(task + " " + split + ": rows skipped without skip_malformed");
        if (skipping.dataset.skipped_rows != 0 || !same_examples(strict.dataset, skipping.dataset))
          ladder_fuzz::fail(task + " " + split + ": skip_malformed changed a file that loads without it");
      } else if (skipping.ok && skipping.dataset.skipped_rows == 0) {
        ladder_fuzz::fail(task + " " + split + ": fails (" + strict.error +
                          ") but skip_malformed loads it dropping no row");
      }
      if (!skipping.ok) continue;
      if (skipping.dataset.task != task) ladder_fuzz::fail("dataset task \"" + skipping.dataset.task + "\"");
      for (const VlExample& example : skipping.dataset.examples) {
        check_example(example, task, split);
        checksum += example.source.size() + example.target.size() + example.answers.size();
      }
    }
  }
  ladder_fuzz::consume(checksum);
  return 0;
}
