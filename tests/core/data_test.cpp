// GLUE and custom loaders: exact text-to-text strings, label mapping, splits, row errors.
#include <gtest/gtest.h>

#include "expect_error.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "ladder/data/custom.h"
#include "ladder/data/glue.h"
#include "ladder/data/shuffle.h"
#include "ladder/data/table.h"
#include "ladder/error.h"

namespace {

using ladder::data::Dataset;
using ladder::data::load_glue;
using ladder::data::LoadOptions;

const std::string kGlue = std::string(LADDER_TEST_DATA) + "/glue_samples";
const std::string kCustom = std::string(LADDER_TEST_DATA) + "/custom_samples";

std::vector<std::string> sources(const Dataset& d) {
  std::vector<std::string> out;
  for (const auto& e : d.examples) out.push_back(e.source);
  return out;
}

using ladder::test::contains;
using ladder::test::error_of;

TEST(Shuffle, SplitMix64MatchesReferenceOutputs) {
  // Reference values of splitmix64 seeded with 0 (Vigna's splitmix64.c).
  ladder::data::SplitMix64 rng(0);
  EXPECT_EQ(rng.next(), 0xE220A8397B1DCDAFULL);
  EXPECT_EQ(rng.next(), 0x6E789E6AA1B965F4ULL);
  EXPECT_EQ(rng.next(), 0x06C45D188009454FULL);
}

TEST(Shuffle, PermutationDeterministicAndSeedDependent) {
  const auto a = ladder::data::shuffled_indices(50, 42);
  std::vector<std::size_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 0; i < sorted.size(); ++i) EXPECT_EQ(sorted[i], i);
  EXPECT_EQ(a, ladder::data::shuffled_indices(50, 42));
  EXPECT_NE(a, ladder::data::shuffled_indices(50, 43));
  EXPECT_TRUE(ladder::data::shuffled_indices(0, 1).empty());
  ladder::data::SplitMix64 rng(5);
  for (int i = 0; i < 100; ++i) EXPECT_LT(rng.below(3), 3u);
}

TEST(Shuffle, TorchRandpermMatchesTorch) {
  // Expected values printed by torch 1.13 (python3-torch), e.g. for n=10 seed 42:
  //   python3 -c "import torch; g=torch.Generator(); g.manual_seed(42); print(torch.randperm(10, generator=g).tolist())"
  // and for n=277 / 67349 the same with p=...tolist(); print(p[:10], p[138:148]) etc.
  using ladder::data::torch_randperm;
  using V = std::vector<std::size_t>;
  EXPECT_EQ(torch_randperm(10, 42), (V{2, 6, 1, 8, 4, 5, 0, 9, 3, 7}));
  EXPECT_EQ(torch_randperm(10, 0), (V{4, 1, 7, 5, 3, 9, 0, 8, 6, 2}));
  EXPECT_EQ(torch_randperm(10, 7), (V{5, 0, 3, 4, 1, 7, 9, 6, 8, 2}));
  EXPECT_EQ(torch_randperm(12, 42), (V{6, 8, 1, 7, 0, 2, 10, 11, 4, 3, 5, 9}));
  EXPECT_EQ(torch_randperm(6, 42), (V{0, 3, 2, 4, 1, 5}));
  EXPECT_TRUE(torch_randperm(0, 42).empty());
  EXPECT_EQ(torch_randperm(1, 42), (V{0}));
  EXPECT_EQ(torch_randperm(2, 42), (V{0, 1}));
  // RTE's dev set (277 rows): the authors' validation starts with p[:10], test with p[138:148].
  const V rte = torch_randperm(277, 42);
  EXPECT_EQ(V(rte.begin(), rte.begin() + 10), (V{207, 84, 253, 243, 190, 28, 165, 111, 87, 170}));
  EXPECT_EQ(V(rte.begin() + 138, rte.begin() + 148), (V{152, 221, 79, 245, 103, 208, 60, 159, 210, 155}));
  // SST-2's train set (67,349 rows): p[:5], p[1000:1005], p[-3:], sum(i * p[i]).
  const V sst2 = torch_randperm(67349, 42);
  ASSERT_EQ(sst2.size(), 67349u);
  EXPECT_EQ(V(sst2.begin(), sst2.begin() + 5), (V{6677, 49712, 38268, 32909, 23395}));
  EXPECT_EQ(V(sst2.begin() + 1000, sst2.begin() + 1005), (V{6043, 63299, 11082, 50055, 57215}));
  EXPECT_EQ(V(sst2.end() - 3, sst2.end()), (V{8208, 58784, 3253}));
  unsigned long long weighted = 0;
  for (std::size_t i = 0; i < sst2.size(); ++i) weighted += static_cast<unsigned long long>(i) * sst2[i];
  EXPECT_EQ(weighted, 76317141694941ULL);
  // Only the low 32 bits of the seed matter (torch's mt19937 takes seed & 0xffffffff).
  EXPECT_EQ(torch_randperm(50, (1ULL << 32) + 7), torch_randperm(50, 7));
}

TEST(Glue, StsbTargetT5NearestPointTwo) {
  using ladder::data::stsb_target;
  EXPECT_EQ(stsb_target(3.8, 0.2), "3.8");
  EXPECT_EQ(stsb_target(3.85, 0.2), "3.8");
  EXPECT_EQ(stsb_target(4.75, 0.2), "4.8");
  EXPECT_EQ(stsb_target(5.0, 0.2), "5.0");
  EXPECT_EQ(stsb_target(0.0, 0.2), "0.0");
  EXPECT_EQ(stsb_target(2.0, 0.2), "2.0");
  EXPECT_EQ(stsb_target(0.55, 0.2), "0.6");
  // Ties go to the even multiple of 0.2.
  EXPECT_EQ(stsb_target(2.5, 0.2), "2.4");
  EXPECT_EQ(stsb_target(3.9, 0.2), "4.0");
  EXPECT_EQ(stsb_target(3.7, 0.2), "3.6");
  EXPECT_EQ(stsb_target(0.1, 0.2), "0.0");
  EXPECT_EQ(stsb_target(0.3, 0.2), "0.4");
}

TEST(Glue, StsbTargetAuthorsNearestPointOne) {
  // The authors' round_stsb_target on HF's float32 label; expected values from numpy 1.24:
  //   python3 -c "import numpy as np; x=float(np.float32(3.85)); print(np.round((x*5)/5, decimals=1))"
  using ladder::data::stsb_target;
  EXPECT_EQ(stsb_target(3.8), "3.8");
  EXPECT_EQ(stsb_target(5.0), "5.0");
  EXPECT_EQ(stsb_target(0.0), "0.0");
  EXPECT_EQ(stsb_target(2.5), "2.5");
  EXPECT_EQ(stsb_target(3.9), "3.9");
  EXPECT_EQ(stsb_target(0.1), "0.1");
  EXPECT_EQ(stsb_target(0.3), "0.3");
  EXPECT_EQ(stsb_target(4.75), "4.8");   // exact tie 47.5 -> 48 (even)
  EXPECT_EQ(stsb_target(2.25), "2.2");   // exact tie 22.5 -> 22 (even)
  EXPECT_EQ(stsb_target(0.25), "0.2");   // exact tie 2.5 -> 2 (even)
  EXPECT_EQ(stsb_target(1.25), "1.2");
  EXPECT_EQ(stsb_target(3.85), "3.8");   // float32(3.85) = 3.8499999046...
  EXPECT_EQ(stsb_target(1.05), "1.0");   // float32(1.05) = 1.0499999523...
  EXPECT_EQ(stsb_target(2.35), "2.3");   // float32(2.35) = 2.3499999046...
  EXPECT_EQ(stsb_target(4.95), "4.9");   // float32(4.95) = 4.9499998092...
  EXPECT_EQ(stsb_target(0.55), "0.6");   // float32(0.55) = 0.5500000119...
  EXPECT_EQ(stsb_target(0.15), "0.2");   // float32(0.15) = 0.1500000059...
  EXPECT_EQ(stsb_target(4.65), "4.7");   // float32(4.65) = 4.6500000953...
  EXPECT_EQ(stsb_target(3.95), "4.0");
  EXPECT_EQ(stsb_target(0.05), "0.1");
  EXPECT_EQ(stsb_target(1.45), "1.5");
  EXPECT_EQ(stsb_target(3.85, 0.1), stsb_target(3.85));
}

TEST(Glue, StsbStepOption) {
  EXPECT_THROW(ladder::data::stsb_target(1.0, 0.5), ladder::UsageError);
  EXPECT_THROW(ladder::data::stsb_target(1.0, 0.0), ladder::UsageError);
  LoadOptions options;
  options.stsb_step = 0.25;
  const std::string message = error_of<ladder::UsageError>([&] { load_glue("stsb", kGlue, "train", 42, options); });
  EXPECT_TRUE(contains(message, "0.25")) << message;
  EXPECT_THROW(load_glue("rte", kGlue, "train", 42, options), ladder::UsageError);
}

TEST(Glue, TaskTable) {
  EXPECT_EQ(ladder::data::glue_tasks().size(), 9u);
  EXPECT_EQ(ladder::data::glue_task("mnli").labels, (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_TRUE(ladder::data::glue_task("stsb").labels.empty());
  EXPECT_EQ(ladder::data::glue_task("mrpc").metrics, (std::vector<std::string>{"accuracy", "f1"}));
  EXPECT_EQ(ladder::data::glue_task("cola").metrics, (std::vector<std::string>{"mcc"}));
  EXPECT_TRUE(ladder::data::glue_task("qqp").large);
  EXPECT_FALSE(ladder::data::glue_task("rte").large);
  EXPECT_TRUE(contains(error_of<ladder::UsageError>([] { ladder::data::glue_task("squad"); }), "rte"));
  EXPECT_EQ(ladder::data::glue_source("mnli", "A", "B"), "mnli premise: A hypothesis B");
  EXPECT_EQ(ladder::data::glue_source("sst2", "S"), "sst2 sentence: S");
}

TEST(Glue, LabelsAsTheDataWritesThem) {
  using ladder::data::glue_data_label;
  EXPECT_EQ(glue_data_label("rte", "0"), "entailment");
  EXPECT_EQ(glue_data_label("rte", "1"), "not_entailment");
  EXPECT_EQ(glue_data_label("mnli", "2"), "contradiction");
  EXPECT_EQ(glue_data_label("sst2", "1"), "1");
  EXPECT_EQ(glue_data_label("rte", "Ca"), "");
  EXPECT_EQ(glue_data_label("sst2", "2"), "");
  EXPECT_EQ(glue_data_label("stsb", "3.8"), "3.8");
}

TEST(Glue, ColaSourceTargetKeepsQuotes) {
  const Dataset d = load_glue("cola", kGlue, "train");
  ASSERT_EQ(d.examples.size(), 3u);
  for (std::size_t k = 0; k < d.examples.size(); ++k) EXPECT_EQ(d.examples[k].index, k);  // file order
  EXPECT_EQ(d.task, "cola");
  EXPECT_EQ(d.labels, (std::vector<std::string>{"0", "1"}));
  EXPECT_EQ(d.examples[0].source, "cola sentence: Our friends won't buy this analysis, let alone the next one we propose.");
  EXPECT_EQ(d.examples[0].target, "1");
  EXPECT_EQ(d.examples[1].source, "cola sentence: He said \"hello\" quietly the.");
  EXPECT_EQ(d.examples[1].target, "0");
}

TEST(Glue, Sst2LargeTaskSplitsAsTheAuthors) {
  LoadOptions options;
  options.large_task_validation_size = 4;
  const Dataset train = load_glue("sst2", kGlue, "train", 42, options);
  const Dataset validation = load_glue("sst2", kGlue, "validation", 42, options);
  const Dataset test = load_glue("sst2", kGlue, "test", 42, options);
  ASSERT_EQ(train.examples.size(), 8u);
  ASSERT_EQ(validation.examples.size(), 4u);
  ASSERT_EQ(test.examples.size(), 3u);
  // Test is the dev file verbatim, trailing space and quotes included.
  EXPECT_EQ(test.examples[0].source, "sst2 sentence: it 's a charming and often affecting journey . ");
  EXPECT_EQ(test.examples[0].target, "1");
  EXPECT_EQ(test.examples[1].source, "sst2 sentence: unflinchingly bleak and \" desperate ");
  // Train + validation partition the 12 training rows.
  std::set<std::string> all;
  for (int i = 0; i < 12; ++i) all.insert("sst2 sentence: train phrase " + std::to_string(i) + " 's \" quoted ");
  std::set<std::string> seen;
  for (const auto& s : sources(train)) EXPECT_TRUE(seen.insert(s).second);
  for (const auto& s : sources(validation)) EXPECT_TRUE(seen.insert(s).second) << "in both: " << s;
  EXPECT_EQ(seen, all);
  // perm = torch.randperm(12, seed 42) = [6, 8, 1, 7, 0, 2, 10, 11, 4, 3, 5, 9]: validation =
  // rows perm[:4], train = rows perm[4:], both in permutation order as the authors' select().
  auto number = [](const std::string& s) { return std::stoi(s.substr(std::string("sst2 sentence: train phrase ").size())); };
  const std::vector<std::size_t> perm = {6, 8, 1, 7, 0, 2, 10, 11, 4, 3, 5, 9};
  for (std::size_t k = 0; k < 4; ++k) {
    EXPECT_EQ(validation.examples[k].index, perm[k]);
    EXPECT_EQ(number(validation.examples[k].source), static_cast<int>(perm[k]));
  }
  for (std::size_t k = 0; k < 8; ++k) {
    EXPECT_EQ(train.examples[k].index, perm[4 + k]);
    EXPECT_EQ(number(train.examples[k].source), static_cast<int>(perm[4 + k]));
  }
  for (const auto& e : train.examples) EXPECT_EQ(e.target, std::to_string(number(e.source) % 2));
  for (std::size_t k = 0; k < test.examples.size(); ++k) EXPECT_EQ(test.examples[k].index, k);
  // The paper's 1,000-row carve does not fit 12 rows.
  EXPECT_TRUE(contains(error_of<ladder::Error>([] { load_glue("sst2", kGlue, "validation"); }), "too few"));
}

TEST(Glue, MrpcGlueLayoutWithBom) {
  const Dataset train = load_glue("mrpc", kGlue, "train");
  ASSERT_EQ(train.examples.size(), 3u);
  EXPECT_EQ(train.examples[0].source,
            "mrpc sentence1: Amrozi accused his brother, whom he called \"the witness\". sentence2: Referring to "
            "him as only \"the witness\", Amrozi accused his brother.");
  EXPECT_EQ(train.examples[0].target, "1");
  EXPECT_EQ(train.examples[1].target, "0");
  const Dataset validation = load_glue("mrpc", kGlue, "validation");
  const Dataset test = load_glue("mrpc", kGlue, "test");
  EXPECT_EQ(validation.examples.size(), 3u);
  EXPECT_EQ(test.examples.size(), 3u);
  for (const auto& e : validation.examples) EXPECT_TRUE(contains(e.source, "Dev A"));
}

TEST(Glue, MrpcOriginalMsrFiles) {
  // Only msr_paraphrase_{train,test}.txt (CRLF, BOM): MSR test is the dev set to halve.
  const std::string dir = kGlue + "/MRPC-msr";
  const Dataset train = load_glue("mrpc", dir, "train");
  ASSERT_EQ(train.examples.size(), 2u);
  EXPECT_EQ(train.examples[0].source, "mrpc sentence1: MSR train A0. sentence2: MSR train B0.");
  EXPECT_EQ(train.examples[0].target, "1");
  const Dataset validation = load_glue("mrpc", dir, "validation");
  const Dataset test = load_glue("mrpc", dir, "test");
  EXPECT_EQ(validation.examples.size(), 2u);
  EXPECT_EQ(test.examples.size(), 3u);
  std::set<std::string> seen;
  for (const auto* d : {&validation, &test}) {
    for (const auto& e : d->examples) {
      EXPECT_TRUE(seen.insert(e.source).second);
      EXPECT_TRUE(e.target == "0" || e.target == "1") << "'" << e.target << "'";
    }
  }
  for (int i = 0; i < 5; ++i) {
    const std::string s = "mrpc sentence1: MSR test A" + std::to_string(i) + ". sentence2: MSR test B" + std::to_string(i) + ".";
    EXPECT_EQ(seen.count(s), 1u) << s;
  }
}

TEST(Glue, MrpcMsrLayoutUnderGlueNames) {
  // The shared data's layout: train.tsv/test.tsv that are the MSR files (header "Quality").
  const std::string dir = kGlue + "/MRPC-msr-tsv";
  EXPECT_EQ(load_glue("mrpc", dir, "train").examples.size(), 1u);
  const Dataset validation = load_glue("mrpc", dir, "validation");
  ASSERT_EQ(validation.examples.size(), 2u);
  EXPECT_TRUE(contains(validation.examples[0].source, "Copied test"));
  const std::string message = error_of<ladder::FormatError>([] { load_glue("mrpc", kGlue + "/MRPC-unlabeled", "test"); });
  EXPECT_TRUE(contains(message, "unlabeled")) << message;
  EXPECT_TRUE(contains(message, "test.tsv:1:")) << message;
}

TEST(Glue, QqpQnliWnli) {
  const Dataset qqp = load_glue("qqp", kGlue, "test");
  ASSERT_EQ(qqp.examples.size(), 2u);
  EXPECT_EQ(qqp.examples[0].source, "qqp question1: Why is \"C++\" hard? question2: Is C++ hard?");
  EXPECT_EQ(qqp.examples[0].target, "1");
  const Dataset qnli = load_glue("qnli", kGlue, "test");
  ASSERT_EQ(qnli.examples.size(), 1u);
  EXPECT_EQ(qnli.examples[0].source,
            "qnli question: What came into force after the new constitution was herald? sentence: As of that day, "
            "the new constitution heralding the Second Republic came into force.");
  EXPECT_EQ(qnli.examples[0].target, "0");
  LoadOptions options;
  options.large_task_validation_size = 2;
  const Dataset qnli_train = load_glue("qnli", kGlue, "train", 42, options);
  ASSERT_EQ(qnli_train.examples.size(), 4u);
  for (const auto& e : qnli_train.examples) {
    const int n = e.source[std::string("qnli question: What is ").size()] - '0';
    EXPECT_EQ(e.target, n % 2 == 0 ? "0" : "1") << e.source;  // entailment -> 0, not_entailment -> 1
  }
  const Dataset wnli = load_glue("wnli", kGlue, "train");
  ASSERT_EQ(wnli.examples.size(), 1u);
  EXPECT_EQ(wnli.examples[0].source,
            "wnli sentence1: I stuck a pin through a carrot. When I pulled the pin out, it had a hole. sentence2: "
            "The carrot had a hole.");
  EXPECT_EQ(wnli.examples[0].target, "1");
}

TEST(Glue, StsbGlueAndOriginalLayouts) {
  const Dataset train = load_glue("stsb", kGlue, "train");
  ASSERT_EQ(train.examples.size(), 2u);
  EXPECT_TRUE(train.labels.empty());
  EXPECT_EQ(train.examples[0].source, "stsb sentence1: A plane is taking off. sentence2: An air plane is taking off.");
  EXPECT_EQ(train.examples[0].target, "5.0");
  EXPECT_EQ(train.examples[1].target, "3.8");
  // Dev rows i=0..5 have scores 5.000 2.500 3.900 0.100 4.750 0.300: nearest 0.1 by default
  // (the authors), nearest 0.2 with stsb_step 0.2 (T5).
  const std::vector<std::string> authors = {"5.0", "2.5", "3.9", "0.1", "4.8", "0.3"};
  const std::vector<std::string> t5 = {"5.0", "2.4", "4.0", "0.0", "4.8", "0.4"};
  LoadOptions step02;
  step02.stsb_step = 0.2;
  std::size_t found = 0;
  for (const char* split : {"validation", "test"}) {
    const Dataset d = load_glue("stsb", kGlue, split);
    const Dataset d02 = load_glue("stsb", kGlue, split, 42, step02);
    ASSERT_EQ(d.examples.size(), 3u);
    for (std::size_t k = 0; k < d.examples.size(); ++k) {
      const auto& e = d.examples[k];
      const int i = e.source[std::string("stsb sentence1: Dev s1 ").size()] - '0';
      EXPECT_EQ(e.index, static_cast<std::size_t>(i));
      EXPECT_EQ(e.target, authors.at(i)) << e.source;
      EXPECT_EQ(d02.examples[k].source, e.source);
      EXPECT_EQ(d02.examples[k].target, t5.at(i)) << e.source;
      ++found;
    }
  }
  EXPECT_EQ(found, 6u);
  // torch.randperm(6, seed 42) = [0, 3, 2, 4, 1, 5]: validation rows 0, 3, 2; test rows 4, 1, 5.
  EXPECT_EQ(load_glue("stsb", kGlue, "validation").examples[1].index, 3u);
  EXPECT_EQ(load_glue("stsb", kGlue, "test").examples[0].index, 4u);
  const std::string original = kGlue + "/STS-B-original";
  const Dataset otrain = load_glue("stsb", original, "train");
  ASSERT_EQ(otrain.examples.size(), 2u);  // the 9-column row is accepted
  EXPECT_EQ(otrain.examples[1].source, "stsb sentence1: He said \"no\". sentence2: She said yes.");
  EXPECT_EQ(otrain.examples[1].target, "1.2");
  EXPECT_EQ(load_glue("stsb", original, "validation").examples.size(), 2u);
}

TEST(Glue, MnliMismatchedIsValidationMatchedIsTest) {
  const Dataset validation = load_glue("mnli", kGlue, "validation");
  const Dataset test = load_glue("mnli", kGlue, "test");
  ASSERT_EQ(validation.examples.size(), 3u);
  ASSERT_EQ(test.examples.size(), 3u);
  EXPECT_EQ(validation.examples[0].source, "mnli premise: Mismatched premise 0. hypothesis Mismatched hypothesis 0.");
  EXPECT_EQ(validation.examples[0].target, "0");
  EXPECT_EQ(test.examples[1].source, "mnli premise: Matched premise 1. hypothesis Matched hypothesis 1.");
  EXPECT_EQ(test.examples[1].target, "1");   // neutral
  EXPECT_EQ(test.examples[2].target, "2");   // contradiction
  EXPECT_EQ(load_glue("mnli", kGlue, "train").examples.at(0).target, "1");
}

TEST(Glue, RteLabelsAndSmallTaskSplitDeterminism) {
  const Dataset train = load_glue("rte", kGlue, "train");
  ASSERT_EQ(train.examples.size(), 3u);
  EXPECT_EQ(train.examples[0].source,
            "rte sentence1: No Weapons of Mass Destruction Found in Iraq Yet. sentence2: Weapons of Mass "
            "Destruction Found in Iraq.");
  EXPECT_EQ(train.examples[0].target, "1");  // not_entailment
  EXPECT_EQ(train.examples[1].source, "rte sentence1: The \"witness\" spoke. sentence2: Someone spoke.");
  EXPECT_EQ(train.examples[1].target, "0");  // entailment

  const Dataset v42 = load_glue("rte", kGlue, "validation", 42);
  const Dataset t42 = load_glue("rte", kGlue, "test", 42);
  // The authors' split: perm = torch.randperm(10, seed 42) = [2, 6, 1, 8, 4, 5, 0, 9, 3, 7];
  // validation = dev rows perm[:5], test = dev rows perm[5:], in that order.
  const std::vector<std::size_t> perm = {2, 6, 1, 8, 4, 5, 0, 9, 3, 7};
  auto dev_row = [](std::size_t i) {
    return "rte sentence1: RTE dev premise " + std::to_string(i) + ". sentence2: RTE dev hypothesis " +
           std::to_string(i) + ".";
  };
  for (std::size_t k = 0; k < 5; ++k) {
    ASSERT_LT(k, v42.examples.size());
    ASSERT_LT(k, t42.examples.size());
    EXPECT_EQ(v42.examples[k].index, perm[k]);
    EXPECT_EQ(v42.examples[k].source, dev_row(perm[k]));
    EXPECT_EQ(t42.examples[k].index, perm[5 + k]);
    EXPECT_EQ(t42.examples[k].source, dev_row(perm[5 + k]));
  }
  // Seed 7: torch.randperm(10, seed 7) = [5, 0, 3, 4, 1, 7, 9, 6, 8, 2].
  EXPECT_EQ(load_glue("rte", kGlue, "validation", 7).examples.at(0).source, dev_row(5));
  EXPECT_EQ(sources(v42), sources(load_glue("rte", kGlue, "validation", 42)));
  EXPECT_NE(sources(v42), sources(load_glue("rte", kGlue, "validation", 7)));
  ASSERT_EQ(v42.examples.size(), 5u);
  ASSERT_EQ(t42.examples.size(), 5u);
  std::set<std::string> all;
  for (const auto& s : sources(v42)) EXPECT_TRUE(all.insert(s).second);
  for (const auto& s : sources(t42)) EXPECT_TRUE(all.insert(s).second) << "in validation and test: " << s;
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(all.count("rte sentence1: RTE dev premise " + std::to_string(i) + ". sentence2: RTE dev hypothesis " +
                        std::to_string(i) + "."), 1u);
  }
  EXPECT_TRUE(contains(error_of<ladder::UsageError>([] { load_glue("rte", kGlue, "dev"); }), "'dev'"));
}

TEST(Glue, MissingFileNamesPathAndTask) {
  const std::string message = error_of<ladder::Error>([] { load_glue("rte", "/nonexistent/glue", "validation"); });
  EXPECT_TRUE(contains(message, "/nonexistent/glue")) << message;
  EXPECT_TRUE(contains(message, "dev.tsv")) << message;
  EXPECT_TRUE(contains(message, "rte")) << message;
}

TEST(Glue, MalformedRowsThrowWithFileLineOrAreCounted) {
  const std::string dir = kGlue + "/malformed";
  std::string message = error_of<ladder::FormatError>([&] { load_glue("rte", dir, "train"); });
  EXPECT_TRUE(contains(message, "malformed/RTE/train.tsv:3:")) << message;
  EXPECT_TRUE(contains(message, "expected 4, found 3")) << message;
  LoadOptions skip;
  skip.skip_malformed = true;
  const Dataset rte = load_glue("rte", dir, "train", 42, skip);
  ASSERT_EQ(rte.examples.size(), 2u);
  EXPECT_EQ(rte.skipped_rows, 2u);  // line 3 (columns) and line 5 (label "maybe")
  EXPECT_EQ(rte.examples[1].target, "1");
  // index counts usable rows only (the rows HF datasets would keep).
  EXPECT_EQ(rte.examples[0].index, 0u);
  EXPECT_EQ(rte.examples[1].index, 1u);
  EXPECT_EQ(load_glue("rte", dir, "validation", 42, skip).skipped_rows, 0u);

  message = error_of<ladder::FormatError>([&] { load_glue("stsb", dir, "train"); });
  EXPECT_TRUE(contains(message, "malformed/STS-B/train.tsv:2:")) << message;
  EXPECT_TRUE(contains(message, "'abc'")) << message;
  const Dataset stsb = load_glue("stsb", dir, "train", 42, skip);
  EXPECT_EQ(stsb.examples.size(), 1u);
  EXPECT_EQ(stsb.skipped_rows, 2u);  // "abc" and 7.5 (outside [0, 5])

  message = error_of<ladder::FormatError>([&] { load_glue("cola", dir, "train"); });
  EXPECT_TRUE(contains(message, "malformed/CoLA/train.tsv:2:")) << message;
  EXPECT_TRUE(contains(message, "'2'")) << message;
}

// ---- table readers and custom data ----

TEST(Table, CsvQuotingAndLineNumbers) {
  const auto rows = ladder::data::read_csv_rows("a,b\r\n\"x, y\",\"say \"\"hi\"\"\nthere\"\n\nlast,\n", "mem.csv");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1].fields, (std::vector<std::string>{"x, y", "say \"hi\"\nthere"}));
  EXPECT_EQ(rows[1].line, 2u);
  EXPECT_EQ(rows[2].line, 5u);  // the quoted newline and the blank line still count
  EXPECT_EQ(rows[2].fields, (std::vector<std::string>{"last", ""}));
  EXPECT_EQ(ladder::data::split_tabs("a\t\"b\t"), (std::vector<std::string>{"a", "\"b", ""}));
}

TEST(Custom, JsonlClassificationInfersSortedLabels) {
  ladder::data::ClassificationFields fields;
  fields.prefix = "sentiment";
  const Dataset d = ladder::data::load_custom_classification(kCustom + "/reviews.jsonl", fields, "reviews");
  ASSERT_EQ(d.examples.size(), 4u);  // the blank line is not a row
  EXPECT_EQ(d.task, "reviews");
  EXPECT_EQ(d.examples[0].source, "sentiment great movie");
  EXPECT_EQ(d.examples[0].target, "pos");
  EXPECT_EQ(d.examples[1].source, "sentiment awful \"plot\"");
  EXPECT_EQ(d.examples[3].target, "1");  // a JSON number label becomes its text
  EXPECT_EQ(d.labels, (std::vector<std::string>{"1", "neg", "neutral", "pos"}));
}

TEST(Custom, CsvAndTsvWithPair) {
  const Dataset csv = ladder::data::load_custom_classification(kCustom + "/reviews.csv", {});
  ASSERT_EQ(csv.examples.size(), 3u);
  EXPECT_EQ(csv.examples[0].source, "great, really great");
  EXPECT_EQ(csv.examples[1].source, "she said \"no\"\nand left");
  EXPECT_EQ(csv.examples[1].target, "neg");
  EXPECT_EQ(csv.labels, (std::vector<std::string>{"neg", "pos"}));

  ladder::data::ClassificationFields fields;
  fields.text_field = "premise";
  fields.text_pair_field = "hypothesis";
  fields.prefix = "nli";
  const Dataset tsv = ladder::data::load_custom_classification(kCustom + "/nli.tsv", fields);
  ASSERT_EQ(tsv.examples.size(), 2u);
  EXPECT_EQ(tsv.examples[0].source, "nli premise: A man \"sleeps\". hypothesis: A person rests.");
  EXPECT_EQ(tsv.labels, (std::vector<std::string>{"contradiction", "entailment"}));

  // A fixed label set (from a run directory) makes other labels malformed.
  ladder::data::ClassificationFields known;
  known.known_labels = {"pos", "other"};
  const std::string message =
      error_of<ladder::FormatError>([&] { ladder::data::load_custom_classification(kCustom + "/reviews.csv", known); });
  EXPECT_TRUE(contains(message, "reviews.csv:3:")) << message;
  EXPECT_TRUE(contains(message, "'neg'")) << message;
}

TEST(Custom, RowErrorsNameFileLineAndSkipModeCounts) {
  const std::string bad = kCustom + "/bad.jsonl";
  std::string message = error_of<ladder::FormatError>([&] { ladder::data::load_custom_classification(bad, {}); });
  EXPECT_TRUE(contains(message, "bad.jsonl:2:")) << message;
  EXPECT_TRUE(contains(message, "'label'")) << message;
  LoadOptions skip;
  skip.skip_malformed = true;
  const Dataset d = ladder::data::load_custom_classification(bad, {}, "custom", skip);
  EXPECT_EQ(d.examples.size(), 2u);
  EXPECT_EQ(d.skipped_rows, 3u);  // missing label, not JSON, empty label
  EXPECT_EQ(d.labels, (std::vector<std::string>{"a", "b"}));
  // index: position among the file's usable rows.
  EXPECT_EQ(d.examples[0].index, 0u);
  EXPECT_EQ(d.examples[1].index, 1u);
  EXPECT_EQ(d.examples[1].source, "ok too");

  message = error_of<ladder::FormatError>(
      [&] { ladder::data::load_custom_classification(kCustom + "/unterminated.csv", {}, "custom", skip); });
  EXPECT_TRUE(contains(message, "unterminated.csv:3:")) << message;
  message = error_of<ladder::FormatError>([&] { ladder::data::load_custom_classification(kCustom + "/after_quote.csv", {}); });
  EXPECT_TRUE(contains(message, "after_quote.csv:2:")) << message;
  message = error_of<ladder::FormatError>([&] { ladder::data::load_custom_classification(kCustom + "/bad_columns.tsv", {}); });
  EXPECT_TRUE(contains(message, "bad_columns.tsv:3:")) << message;
  EXPECT_EQ(ladder::data::load_custom_classification(kCustom + "/bad_columns.tsv", {}, "c", skip).skipped_rows, 1u);

  ladder::data::ClassificationFields wrong;
  wrong.text_field = "sentence";
  message = error_of<ladder::FormatError>([&] { ladder::data::load_custom_classification(kCustom + "/reviews.csv", wrong); });
  EXPECT_TRUE(contains(message, "'sentence'")) << message;
  EXPECT_THROW(ladder::data::load_custom_classification(kCustom + "/notes.xml", {}), ladder::UsageError);
  message = error_of<ladder::Error>([&] { ladder::data::load_custom_classification(kCustom + "/absent.jsonl", {}); });
  EXPECT_TRUE(contains(message, "absent.jsonl")) << message;
}

TEST(Custom, Seq2Seq) {
  ladder::data::Seq2SeqFields fields;
  fields.prefix = "translate English to German:";
  const Dataset d = ladder::data::load_custom_seq2seq(kCustom + "/translate.csv", fields);
  ASSERT_EQ(d.examples.size(), 2u);
  EXPECT_EQ(d.examples[0].source, "translate English to German: Hello, world");
  EXPECT_EQ(d.examples[0].target, "Hallo Welt");
  EXPECT_TRUE(d.labels.empty());
  EXPECT_EQ(d.examples[0].index, 0u);
  EXPECT_EQ(d.examples[1].index, 1u);
  // An Example still brace-initialises from {source, target}; index defaults to 0.
  const ladder::data::Example plain{"s", "t"};
  EXPECT_EQ(plain.index, 0u);
}

TEST(Custom, PlainTextFromLinesOrAField) {
  const auto dir = std::filesystem::temp_directory_path() / ("ladder_text_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "stories.txt") << "\xEF\xBB\xBFOnce upon a time.\r\n\n   \nThe end.\n";
  const Dataset lines = ladder::data::load_custom_text((dir / "stories.txt").string(), "text");
  ASSERT_EQ(lines.examples.size(), 2u);
  EXPECT_EQ(lines.examples[0].source, "");
  EXPECT_EQ(lines.examples[0].target, "Once upon a time.");
  EXPECT_EQ(lines.examples[1].target, "The end.");
  EXPECT_EQ(lines.examples[1].index, 1u);
  std::ofstream(dir / "docs.jsonl") << "{\"body\": \"first\"}\n{\"body\": \"  \"}\n{\"body\": \"third\"}\n";
  std::string message =
      error_of<ladder::FormatError>([&] { ladder::data::load_custom_text((dir / "docs.jsonl").string(), "body"); });
  EXPECT_TRUE(contains(message, "docs.jsonl:2") && contains(message, "empty text")) << message;
  ladder::data::LoadOptions skip;
  skip.skip_malformed = true;
  const Dataset kept = ladder::data::load_custom_text((dir / "docs.jsonl").string(), "body", "custom", skip);
  ASSERT_EQ(kept.examples.size(), 2u);
  EXPECT_EQ(kept.examples[1].target, "third");
  EXPECT_EQ(kept.skipped_rows, 1u);
  message = error_of<ladder::FormatError>([&] { ladder::data::load_custom_text((dir / "docs.jsonl").string(), "text"); });
  EXPECT_TRUE(contains(message, "missing field 'text'")) << message;
  std::filesystem::remove_all(dir);
}

// A file in another layout than the flags name says what its rows hold and which flags read
// them: Alpaca's instruction/input/output, a chat's messages.
TEST(Custom, AMissingFieldNamesTheFieldsTheRowHas) {
  const auto dir = std::filesystem::temp_directory_path() / ("ladder_fields_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "alpaca.jsonl") << R"({"instruction": "Add.", "input": "2 and 3", "output": "5"})" << "\n";
  std::ofstream(dir / "chat.jsonl") << R"({"messages": [{"role": "user", "content": "hi"}]})" << "\n";
  ladder::data::Seq2SeqFields fields;
  fields.source_field = "prompt";
  fields.target_field = "completion";
  std::string message = error_of<ladder::FormatError>(
      [&] { ladder::data::load_custom_seq2seq((dir / "alpaca.jsonl").string(), fields); });
  EXPECT_TRUE(contains(message, "alpaca.jsonl:1") && contains(message, "missing field 'prompt'")) << message;
  EXPECT_TRUE(contains(message, "'input', 'instruction', 'output'") && contains(message, "--source-field/--target-field") &&
              contains(message, "instruction rows: --task chat"))
      << message;
  message = error_of<ladder::FormatError>([&] { ladder::data::load_custom_seq2seq((dir / "chat.jsonl").string(), fields); });
  EXPECT_TRUE(contains(message, "a chat row") && contains(message, "--task chat")) << message;
  std::filesystem::remove_all(dir);
}

TEST(Custom, LabelFileRoundTrip) {
  const auto dir = std::filesystem::temp_directory_path() / ("ladder_labels_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "labels.json").string();
  ladder::data::save_labels(path, {"neg", "pos", "a \"quoted\" label"});
  std::ifstream in(path);
  const nlohmann::json json = nlohmann::json::parse(in);
  EXPECT_EQ(json.at("labels").size(), 3u);
  EXPECT_EQ(json.at("labels").at(2).get<std::string>(), "a \"quoted\" label");
  EXPECT_EQ(ladder::data::load_labels(path), (std::vector<std::string>{"neg", "pos", "a \"quoted\" label"}));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  std::ofstream(dir / "dup.json") << R"({"labels": ["a", "a"]})";
  EXPECT_TRUE(contains(error_of<ladder::FormatError>([&] { ladder::data::load_labels((dir / "dup.json").string()); }), "duplicate"));
  std::ofstream(dir / "bad.json") << R"(["a"])";
  EXPECT_THROW(ladder::data::load_labels((dir / "bad.json").string()), ladder::FormatError);
  EXPECT_THROW(ladder::data::load_labels((dir / "none.json").string()), ladder::FormatError);
  std::filesystem::remove_all(dir);
}

// ---- the real data in ../shared (skipped when absent) ----

TEST(SharedData, RealGlueRowCounts) {
  const std::string glue = std::string(LADDER_SHARED_DIR) + "/data/glue";
  if (!std::filesystem::is_directory(glue + "/RTE")) GTEST_SKIP() << "no shared GLUE data at " << glue;
  EXPECT_EQ(load_glue("rte", glue, "train").examples.size(), 2489u);
  EXPECT_EQ(load_glue("rte", glue, "validation").examples.size(), 138u);  // dev 277 halved
  EXPECT_EQ(load_glue("rte", glue, "test").examples.size(), 139u);
  EXPECT_EQ(load_glue("sst2", glue, "train").examples.size(), 66349u);   // 67,349 - 1,000
  EXPECT_EQ(load_glue("sst2", glue, "validation").examples.size(), 1000u);
  EXPECT_EQ(load_glue("sst2", glue, "test").examples.size(), 872u);
  EXPECT_EQ(load_glue("cola", glue, "train").examples.size(), 8551u);
  EXPECT_EQ(load_glue("cola", glue, "validation").examples.size(), 521u);  // dev 1,043 halved
  EXPECT_EQ(load_glue("mrpc", glue, "train").examples.size(), 4076u);      // MSR train
  EXPECT_EQ(load_glue("mrpc", glue, "validation").examples.size(), 862u);  // MSR test 1,725 halved
  EXPECT_EQ(load_glue("mrpc", glue, "test").examples.size(), 863u);
}

TEST(SharedData, RealGlueSplitsAreTheAuthorsRows) {
  // Positions printed by tests/reference/glue_split_reference.py (torch 1.13), which reads the
  // files as HF datasets does and splits them as the authors' tasks.py:
  //   python3 tests/reference/glue_split_reference.py ../shared/data/glue rte sst2 cola
  const std::string glue = std::string(LADDER_SHARED_DIR) + "/data/glue";
  if (!std::filesystem::is_directory(glue + "/RTE")) GTEST_SKIP() << "no shared GLUE data at " << glue;
  auto first = [](const Dataset& d, std::size_t count) {
    std::vector<std::size_t> out;
    for (std::size_t k = 0; k < count && k < d.examples.size(); ++k) out.push_back(d.examples[k].index);
    return out;
  };
  using V = std::vector<std::size_t>;
  const Dataset rte_validation = load_glue("rte", glue, "validation");
  EXPECT_EQ(first(rte_validation, 10), (V{207, 84, 253, 243, 190, 28, 165, 111, 87, 170}));
  EXPECT_TRUE(contains(rte_validation.examples.at(1).source,
                       "rte sentence1: It is hoped that women, who constitute more than half of the population"));
  EXPECT_EQ(first(load_glue("rte", glue, "test"), 10), (V{152, 221, 79, 245, 103, 208, 60, 159, 210, 155}));
  const Dataset sst2_validation = load_glue("sst2", glue, "validation");
  EXPECT_EQ(first(sst2_validation, 10), (V{6677, 49712, 38268, 32909, 23395, 66940, 62886, 11359, 52008, 24222}));
  EXPECT_EQ(sst2_validation.examples.at(0).source, "sst2 sentence: replete with stereotypical familial quandaries ");
  const Dataset sst2_train = load_glue("sst2", glue, "train");
  EXPECT_EQ(first(sst2_train, 10), (V{6043, 63299, 11082, 50055, 57215, 43137, 9389, 65601, 2489, 18952}));
  EXPECT_EQ(sst2_train.examples.at(1).source, "sst2 sentence: juiced with enough energy and excitement for at least three films . ");
  EXPECT_EQ(first(load_glue("cola", glue, "validation"), 10), (V{911, 408, 813, 657, 710, 526, 977, 467, 768, 440}));
  const Dataset cola_test = load_glue("cola", glue, "test");
  EXPECT_EQ(first(cola_test, 10), (V{334, 85, 10, 327, 486, 13, 944, 116, 892, 754}));
  EXPECT_EQ(cola_test.examples.at(0).source, "cola sentence: He's a more reliable man.");
}

TEST(SharedData, FortunesAsCustomTsv) {
  const std::string path = std::string(LADDER_SHARED_DIR) + "/data/fortunes/fortunes.tsv";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "no shared fortunes data at " << path;
  ladder::data::ClassificationFields fields;
  fields.label_field = "category";
  const Dataset d = ladder::data::load_custom_classification(path, fields, "fortunes");
  EXPECT_GT(d.examples.size(), 15000u);
  EXPECT_EQ(d.skipped_rows, 0u);
  EXPECT_EQ(d.labels.size(), 43u);
  EXPECT_TRUE(std::is_sorted(d.labels.begin(), d.labels.end()));
}

}  // namespace
