// VL task loaders: prompts, file formats, split-file fallback, bad rows, answer sampling.
#include <gtest/gtest.h>

#include "expect_error.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <unistd.h>

#include "ladder/data/vl/tasks.h"
#include "ladder/error.h"

namespace {

using ladder::data::load_vl_split;
using ladder::data::LoadOptions;
using ladder::data::VlDataset;
using ladder::data::VlExample;
using Answers = std::vector<std::pair<std::string, double>>;
using Strings = std::vector<std::string>;

const std::string kVl = std::string(LADDER_TEST_DATA) + "/vl";

using ladder::test::contains;
using ladder::test::error_of;

// A scratch task folder holding one file, removed with the object.
class ScratchDir {
 public:
  ScratchDir(const std::string& file, const std::string& text) {
    dir_ = std::filesystem::temp_directory_path() / ("ladder_vl_" + std::to_string(getpid()) + "_" + std::to_string(counter_++));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / file) << text;
  }
  ~ScratchDir() { std::filesystem::remove_all(dir_); }
  std::string path() const { return dir_.string(); }
  std::string file(const std::string& name) const { return (dir_ / name).string(); }

 private:
  std::filesystem::path dir_;
  static inline int counter_ = 0;
};

TEST(VlTasks, PromptsAreTheAuthorsMultitaskPrompts) {
  EXPECT_EQ(ladder::data::vl_task_names(), (Strings{"vqa", "gqa", "nlvr", "caption"}));
  EXPECT_EQ(ladder::data::vl_task_prompt("vqa"), "vqa: ");
  EXPECT_EQ(ladder::data::vl_task_prompt("gqa"), "gpa: ");  // sic, as multitask.py
  EXPECT_EQ(ladder::data::vl_task_prompt("nlvr"), "nlvr: ");
  EXPECT_EQ(ladder::data::vl_task_prompt("caption"), "caption: ");
  EXPECT_TRUE(contains(error_of<ladder::UsageError>([] { ladder::data::vl_task_prompt("vcr"); }), "vqa, gqa, nlvr or caption"));
  EXPECT_THROW(load_vl_split("vqa", kVl + "/vqa", "dev"), ladder::UsageError);
}

TEST(VlTasks, VqaTrainRowsTargetsAndAnswersInFileOrder) {
  const VlDataset d = load_vl_split("vqa", kVl + "/vqa", "train");
  EXPECT_EQ(d.task, "vqa");
  ASSERT_EQ(d.examples.size(), 3u);
  const VlExample& first = d.examples[0];
  EXPECT_EQ(first.task, "vqa");
  EXPECT_EQ(first.id, "458752000");
  EXPECT_EQ(first.source, "vqa: What is this photo taken looking through?");
  EXPECT_EQ(first.image_ids, (Strings{"COCO_train2014_000000458752"}));
  EXPECT_EQ(first.target, "net");
  // File order, not alphabetical ("mesh" < "net").
  EXPECT_EQ(first.answers, (Answers{{"net", 1.0}, {"netting", 0.3}, {"mesh", 0.3}}));
  EXPECT_TRUE(first.references.empty());
  // Equal top scores: the first in file order ("pitcher" before "catcher").
  EXPECT_EQ(d.examples[1].target, "pitcher");
  // A string question_id and "question" instead of "sent".
  EXPECT_EQ(d.examples[2].id, "262146000");
  EXPECT_EQ(d.examples[2].source, "vqa: What is the person doing?");
  EXPECT_EQ(d.skipped_rows, 0u);
}

TEST(VlTasks, ValidationFallsBackThroughTheListedNames) {
  // vqa/ has no val.json or valid.json: minival.json is used.
  const VlDataset vqa = load_vl_split("vqa", kVl + "/vqa", "validation");
  ASSERT_EQ(vqa.examples.size(), 1u);
  EXPECT_EQ(vqa.examples[0].id, "393225000");
  EXPECT_EQ(vqa.examples[0].target, "yes");
  // gqa/ has only testdev.json: it serves both validation and test.
  const VlDataset gqa_validation = load_vl_split("gqa", kVl + "/gqa", "validation");
  const VlDataset gqa_test = load_vl_split("gqa", kVl + "/gqa", "test");
  ASSERT_EQ(gqa_validation.examples.size(), 1u);
  ASSERT_EQ(gqa_test.examples.size(), 1u);
  EXPECT_EQ(gqa_validation.examples[0].id, "201307251");
  EXPECT_EQ(ladder::data::vl_split_files("nlvr", "validation"),
            (Strings{"val.json", "valid.json", "minival.json", "karpathy_val.json", "testdev.json"}));
  EXPECT_EQ(ladder::data::vl_split_files("vqa", "test"), (Strings{"test.json", "testdev.json", "karpathy_test.json"}));
  // The first existing name wins: val.json before testdev.json.
  ScratchDir dir("val.json", R"([{"img_id": "i", "sent": "s?", "question_id": 7, "label": {"a": 1}}])");
  std::ofstream(dir.file("testdev.json")) << "[]";
  EXPECT_EQ(load_vl_split("vqa", dir.path(), "validation").examples.size(), 1u);
}

TEST(VlTasks, GqaUsesTheAuthorsGpaPrompt) {
  const VlDataset d = load_vl_split("gqa", kVl + "/gqa", "train");
  ASSERT_EQ(d.examples.size(), 2u);
  EXPECT_EQ(d.examples[0].id, "02930152");  // leading zero kept: ids are text
  EXPECT_EQ(d.examples[0].source, "gpa: Is the sky dark?");
  EXPECT_EQ(d.examples[0].image_ids, (Strings{"2354786"}));
  EXPECT_EQ(d.examples[1].target, "pipe");
  EXPECT_EQ(d.examples[1].answers, (Answers{{"pipe", 1.0}}));
}

TEST(VlTasks, VqaTestRowsMayBeUnlabelled) {
  const VlDataset d = load_vl_split("vqa", kVl + "/vqa", "test");
  ASSERT_EQ(d.examples.size(), 2u);
  EXPECT_TRUE(d.examples[0].answers.empty());
  EXPECT_EQ(d.examples[0].target, "");
  EXPECT_EQ(d.examples[1].target, "baseball");
}

TEST(VlTasks, NlvrTwoImagesAndTrueFalseTargets) {
  const VlDataset d = load_vl_split("nlvr", kVl + "/nlvr", "train");
  ASSERT_EQ(d.examples.size(), 2u);
  EXPECT_EQ(d.examples[0].id, "nlvr2_train_0");
  EXPECT_EQ(d.examples[0].image_ids, (Strings{"train-10171-0-img0", "train-10171-0-img1"}));
  EXPECT_EQ(d.examples[0].source,
            "nlvr: An image shows one leather pencil case, displayed open with writing implements tucked inside.");
  EXPECT_EQ(d.examples[0].target, "false");
  EXPECT_EQ(d.examples[1].target, "true");
  EXPECT_TRUE(d.examples[1].answers.empty());
  EXPECT_EQ(load_vl_split("nlvr", kVl + "/nlvr", "validation").examples.at(0).target, "true");  // valid.json
  const VlDataset test = load_vl_split("nlvr", kVl + "/nlvr", "test");
  ASSERT_EQ(test.examples.size(), 1u);
  EXPECT_EQ(test.examples[0].target, "");
}

TEST(VlTasks, KarpathyCaptionSplits) {
  const std::string dir = kVl + "/caption";
  const VlDataset train = load_vl_split("caption", dir, "train");
  // train + restval images, one example per sentence, in file order.
  ASSERT_EQ(train.examples.size(), 3u);
  EXPECT_EQ(train.examples[0].id, "COCO_train2014_000000318556");
  EXPECT_EQ(train.examples[0].image_ids, (Strings{"COCO_train2014_000000318556"}));
  EXPECT_EQ(train.examples[0].source, "caption: ");
  EXPECT_EQ(train.examples[0].target, "A very clean and well decorated empty bathroom");
  EXPECT_EQ(train.examples[1].target, "A blue and white bathroom with butterfly themed wall tiles.");
  EXPECT_EQ(train.examples[1].references, train.examples[0].references);
  EXPECT_EQ(train.examples[0].references.size(), 2u);
  EXPECT_EQ(train.examples[2].id, "COCO_val2014_000000116100");  // restval counts as train

  const VlDataset validation = load_vl_split("caption", dir, "validation");
  ASSERT_EQ(validation.examples.size(), 1u);
  EXPECT_EQ(validation.examples[0].target, "A woman wearing a net on her head cutting a cake.");  // stripped

  const VlDataset test = load_vl_split("caption", dir, "test");
  ASSERT_EQ(test.examples.size(), 1u);  // one example per image, all references
  EXPECT_EQ(test.examples[0].id, "COCO_val2014_000000391895");
  EXPECT_EQ(test.examples[0].references,
            (Strings{"A man with a red helmet on a small moped on a dirt road.",
                     "Man riding a motor bike on a dirt road on the countryside."}));
  EXPECT_EQ(test.examples[0].target, test.examples[0].references[0]);
}

TEST(VlTasks, MissingFileNamesTheFolderAndEveryNameTried) {
  const std::string empty = kVl + "/caption";  // has no train.json
  const std::string message = error_of<ladder::LoadError>([&] { load_vl_split("nlvr", empty, "validation"); });
  EXPECT_TRUE(contains(message, empty)) << message;
  for (const char* name : {"val.json", "valid.json", "minival.json", "karpathy_val.json", "testdev.json"})
    EXPECT_TRUE(contains(message, name)) << message;
  EXPECT_TRUE(contains(error_of<ladder::LoadError>([&] { load_vl_split("caption", kVl + "/vqa", "test"); }),
                       "dataset_coco.json"));
}

struct BadRow {
  const char* task;
  const char* split;
  const char* json;
  const char* id;       // expected in the message
  const char* problem;  // expected in the message
};

TEST(VlTasks, EveryBadRowNamesFileRowAndId) {
  const std::vector<BadRow> cases = {
      {"vqa", "train", R"([{"sent": "q?", "question_id": 11, "label": {"a": 1}}])", "id 11", "missing field \"img_id\""},
      {"vqa", "train", R"([{"img_id": "i", "question_id": 12, "label": {"a": 1}}])", "id 12", "missing field \"sent\""},
      {"vqa", "train", R"([{"img_id": "i", "sent": "q?", "label": {"a": 1}}])", "id ?", "missing field \"question_id\""},
      {"vqa", "train", R"([{"img_id": 5, "sent": "q?", "question_id": 13, "label": {"a": 1}}])", "id 13", "\"img_id\" must be a string"},
      {"vqa", "train", R"([{"img_id": "i", "sent": "q?", "question_id": 1.5, "label": {"a": 1}}])", "id 1.5", "string or a whole number"},
      {"vqa", "train", R"([{"img_id": "i", "sent": "q?", "question_id": 14, "label": ["a"]}])", "id 14", "\"label\" must be an object"},
      {"vqa", "train", R"([{"img_id": "i", "sent": "q?", "question_id": 15, "label": {}}])", "id 15", "empty answer set"},
      {"gqa", "validation", R"([{"img_id": "i", "sent": "q?", "question_id": "g16", "label": {}}])", "id g16", "empty answer set"},
      {"vqa", "train", R"([{"img_id": "i", "sent": "q?", "question_id": 17, "label": {"a": "high"}}])", "id 17", "must be a number"},
      {"vqa", "train", R"([{"img_id": "i", "sent": "q?", "question_id": 18}])", "id 18", "missing field \"label\""},
      {"vqa", "train", R"([["not", "an", "object"]])", "id ?", "not a JSON object"},
      {"nlvr", "train", R"([{"img0": "a", "img1": "b", "sent": "s", "uid": "n19", "label": 2}])", "id n19", "0 or 1"},
      {"nlvr", "train", R"([{"img0": "a", "img1": "b", "sent": "s", "uid": "n20", "label": "1"}])", "id n20", "0 or 1"},
      {"nlvr", "train", R"([{"img0": "a", "sent": "s", "uid": "n21", "label": 1}])", "id n21", "missing field \"img1\""},
  };
  for (const BadRow& bad : cases) {
    SCOPED_TRACE(bad.json);
    const std::string file = std::string(bad.split) == "train" ? "train.json" : "val.json";
    ScratchDir dir(file, std::string("[{\"img_id\": \"ok\", \"img0\": \"a\", \"img1\": \"b\", \"uid\": \"ok\", "
                                     "\"sent\": \"fine\", \"question_id\": 1, \"label\": ") +
                             (std::string(bad.task) == "nlvr" ? "1" : "{\"x\": 1}") + "}, " + (bad.json + 1));
    const std::string message = error_of<ladder::FormatError>([&] { load_vl_split(bad.task, dir.path(), bad.split); });
    EXPECT_TRUE(contains(message, dir.file(file))) << message;
    EXPECT_TRUE(contains(message, "row 1")) << message;  // row 0 is the good one
    EXPECT_TRUE(contains(message, bad.id)) << message;
    EXPECT_TRUE(contains(message, bad.problem)) << message;
    // skip_malformed keeps the good row and counts the bad one.
    LoadOptions skip;
    skip.skip_malformed = true;
    const VlDataset d = load_vl_split(bad.task, dir.path(), bad.split, skip);
    EXPECT_EQ(d.examples.size(), 1u);
    EXPECT_EQ(d.skipped_rows, 1u);
  }
}

TEST(VlTasks, BadCaptionImagesAndFiles) {
  ScratchDir dir("dataset_coco.json", R"({"images": [
      {"filename": "COCO_val2014_1.jpg", "split": "test", "sentences": [{"raw": "ok"}]},
      {"filename": "COCO_val2014_2.jpg", "split": "test", "sentences": []},
      {"filename": "COCO_val2014_3.jpg", "split": "test", "sentences": [{"raw": 3}]},
      {"filename": "COCO_val2014_4.jpg", "split": "holdout", "sentences": [{"raw": "x"}]}]})");
  const std::string message = error_of<ladder::FormatError>([&] { load_vl_split("caption", dir.path(), "test"); });
  EXPECT_TRUE(contains(message, dir.file("dataset_coco.json")) && contains(message, "row 1") &&
              contains(message, "COCO_val2014_2.jpg") && contains(message, "image without sentences"))
      << message;
  LoadOptions skip;
  skip.skip_malformed = true;
  const VlDataset d = load_vl_split("caption", dir.path(), "test", skip);
  EXPECT_EQ(d.examples.size(), 1u);
  EXPECT_EQ(d.skipped_rows, 3u);  // no sentences, "raw" not a string, unknown split

  ScratchDir not_json("train.json", "[{\"img_id\": ");
  EXPECT_TRUE(contains(error_of<ladder::FormatError>([&] { load_vl_split("vqa", not_json.path(), "train", skip); }),
                       "invalid JSON"));
  ScratchDir object("train.json", "{\"rows\": []}");
  EXPECT_TRUE(contains(error_of<ladder::FormatError>([&] { load_vl_split("vqa", object.path(), "train", skip); }),
                       "expected a JSON array"));
  ScratchDir no_images("dataset_coco.json", "[]");
  EXPECT_THROW(load_vl_split("caption", no_images.path(), "train"), ladder::FormatError);
}

TEST(VlTasks, SampleAnswerFollowsTheScoreDistribution) {
  VlExample e;
  e.answers = {{"net", 1.0}, {"netting", 0.3}, {"mesh", 0.3}};  // sum 1.6: cumulative 0.625, 0.8125, 1
  EXPECT_EQ(ladder::data::sample_answer(e, 0.0), "net");
  EXPECT_EQ(ladder::data::sample_answer(e, 0.6249), "net");
  EXPECT_EQ(ladder::data::sample_answer(e, 0.625), "netting");
  EXPECT_EQ(ladder::data::sample_answer(e, 0.8124), "netting");
  EXPECT_EQ(ladder::data::sample_answer(e, 0.8125), "mesh");
  EXPECT_EQ(ladder::data::sample_answer(e, 0.9999999999), "mesh");
  // Over an even grid of u the frequencies are the probabilities.
  std::map<std::string, int> counts;
  for (int i = 0; i < 1600; ++i) ++counts[ladder::data::sample_answer(e, (i + 0.5) / 1600)];
  EXPECT_EQ(counts["net"], 1000);
  EXPECT_EQ(counts["netting"], 300);
  EXPECT_EQ(counts["mesh"], 300);

  VlExample zero_first;
  zero_first.answers = {{"never", 0.0}, {"always", 0.6}};
  EXPECT_EQ(ladder::data::sample_answer(zero_first, 0.0), "always");  // score 0 is never drawn
  VlExample zero_last;
  zero_last.answers = {{"always", 0.6}, {"never", 0.0}};
  EXPECT_EQ(ladder::data::sample_answer(zero_last, 0.9999999999), "always");
  VlExample none;
  EXPECT_EQ(ladder::data::sample_answer(none, 0.5), "");
  VlExample all_zero;
  all_zero.answers = {{"a", 0.0}};
  EXPECT_EQ(ladder::data::sample_answer(all_zero, 0.5), "");  // the authors' score_sum == 0 case
}

}  // namespace
