// Pretraining data: xz/plain line reading with offsets, T5 span corruption (lengths, masks,
// sentinels, reconstruction), documents, packing, block shuffling and exact resumption.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "ladder/error.h"
#include "ladder/pretrain/corpus.h"
#include "ladder/pretrain/span_corruption.h"
#include "ladder/pretrain/text_reader.h"
#include "ladder/tokenizer/t5_tokenizer.h"

namespace ladder::pretrain {
namespace {

const std::string kDir = std::string(LADDER_TEST_DATA) + "/pretrain";
const std::string kDictionary = kDir + "/tiny_dictionary.txt";
const std::string kDictionaryXz = kDir + "/tiny_dictionary.txt.xz";
const std::string kGlosses = kDir + "/tiny_glosses.txt";
const std::string kGlossesTwoStreams = kDir + "/tiny_glosses_two_streams.txt.xz";
const std::string kTruncated = kDir + "/truncated.txt.xz";

using Ids = std::vector<int64_t>;

const T5Tokenizer& t5() {
  static const T5Tokenizer tokenizer = T5Tokenizer::load(std::string(LADDER_TEST_DATA) + "/tokenizer/spiece.model");
  return tokenizer;
}

// The file's lines as std::getline splits them (the independent reference).
std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> read_all(TextReader& reader, std::size_t max_bytes = 1 << 20) {
  std::vector<std::string> lines;
  for (std::string line; reader.read_line(line, max_bytes);) lines.push_back(line);
  return lines;
}

// ---- TextReader ----

TEST(PretrainTextReader, XzAndPlainGiveTheSameLines) {
  TextReader plain(kDictionary), xz(kDictionaryXz);
  EXPECT_FALSE(plain.compressed());
  EXPECT_TRUE(xz.compressed());
  EXPECT_TRUE(is_xz_file(kDictionaryXz));
  EXPECT_FALSE(is_xz_file(kDictionary));
  const auto expected = lines_of(kDictionary);
  ASSERT_GT(expected.size(), 100u);
  EXPECT_EQ(read_all(plain), expected);
  EXPECT_EQ(read_all(xz), expected);
}

TEST(PretrainTextReader, ConcatenatedXzStreamsReadAsOneText) {
  TextReader xz(kGlossesTwoStreams);
  const auto lines = read_all(xz);
  EXPECT_EQ(lines, lines_of(kGlosses));
  EXPECT_EQ(lines.size(), 150u);
}

TEST(PretrainTextReader, TruncatedAndMissingFilesAreFormatErrors) {
  TextReader truncated(kTruncated);
  EXPECT_THROW(read_all(truncated), FormatError);
  EXPECT_THROW(TextReader(kDir + "/no_such_file.txt"), FormatError);
}

TEST(PretrainTextReader, LongLinesComeBackInPiecesAtCharacterBoundaries) {
  const std::string path = testing::TempDir() + "ladder_pretrain_long_line.txt";
  // 'é' is two bytes: cuts must never split it.
  std::string long_line;
  for (int i = 0; i < 500; ++i) long_line += "é";
  std::ofstream(path, std::ios::binary) << long_line << "\nshort\n";
  TextReader reader(path);
  std::string joined, piece;
  int pieces = 0;
  while (joined.size() < long_line.size() && reader.read_line(piece, 101)) {
    EXPECT_LE(piece.size(), 101u);
    EXPECT_EQ(piece.size() % 2, 0u) << "a piece split a two-byte character";
    joined += piece;
    ++pieces;
  }
  EXPECT_EQ(joined, long_line);
  EXPECT_EQ(pieces, 10);  // 1000 bytes in pieces of 100 (101 would split a character)
  // The last piece took the newline with it: the next line follows.
  ASSERT_TRUE(reader.read_line(piece, 101));
  EXPECT_EQ(piece, "short");
  EXPECT_FALSE(reader.read_line(piece, 101));
}

TEST(PretrainTextReader, SeekContinuesAtARecordedOffset) {
  for (const std::string& path : {kDictionary, kDictionaryXz}) {
    const auto expected = lines_of(kDictionary);
    TextReader reader(path);
    std::string line;
    for (int i = 0; i < 37; ++i) ASSERT_TRUE(reader.read_line(line));
    const uint64_t offset = reader.offset();
    // The offset counts the bytes of the 37 lines and their newlines.
    uint64_t bytes = 0;
    for (int i = 0; i < 37; ++i) bytes += expected[i].size() + 1;
    EXPECT_EQ(offset, bytes) << path;
    TextReader other(path);
    other.seek(offset);
    EXPECT_EQ(read_all(other), std::vector<std::string>(expected.begin() + 37, expected.end())) << path;
    // Backwards works too (xz decodes again from the start).
    other.seek(0);
    EXPECT_EQ(read_all(other), expected) << path;
    EXPECT_THROW(other.seek(1u << 30), FormatError) << path;
  }
}

// ---- span corruption ----

TEST(SpanCorruption, RoundsHalvesToEvenLikePython) {
  EXPECT_EQ(round_half_even(0.5), 0);
  EXPECT_EQ(round_half_even(1.5), 2);
  EXPECT_EQ(round_half_even(2.5), 2);
  EXPECT_EQ(round_half_even(2.51), 3);
  EXPECT_EQ(round_half_even(7.0), 7);
  EXPECT_EQ(round_half_even(21.15), 21);
}

TEST(SpanCorruption, InputAndTargetLengthsMatchT5) {
  // T5 / HF run_t5_mlm_flax.py: inputs 512 -> 568 raw tokens, targets 114.
  SpanLengths l512 = compute_input_and_target_lengths(512);
  EXPECT_EQ(l512.raw_length, 568);
  EXPECT_EQ(l512.inputs_length, 512);
  EXPECT_EQ(l512.targets_length, 114);
  // 128: 141 raw -> 21 noise (round 21.15), 7 spans: 120 + 7 + 1 = 128 inputs, 21 + 7 + 1 = 29
  // targets; 142 raw would give 121 + 7 + 1 = 129.
  SpanLengths l128 = compute_input_and_target_lengths(128);
  EXPECT_EQ(l128.raw_length, 141);
  EXPECT_EQ(l128.inputs_length, 128);
  EXPECT_EQ(l128.targets_length, 29);
  EXPECT_EQ(corrupted_lengths(142).inputs_length, 129);
  EXPECT_THROW(compute_input_and_target_lengths(1), UsageError);
}

// Runs of 1s in a mask.
int64_t count_runs(const std::vector<uint8_t>& mask) {
  int64_t runs = 0;
  for (std::size_t i = 0; i < mask.size(); ++i)
    if (mask[i] && (i == 0 || !mask[i - 1])) ++runs;
  return runs;
}

TEST(SpanCorruption, NoiseMaskHasT5sCountsAndShape) {
  for (uint64_t seed = 0; seed < 200; ++seed) {
    Rng rng(seed);
    const auto mask = random_spans_noise_mask(141, {}, rng);
    ASSERT_EQ(mask.size(), 141u);
    int64_t noise = 0;
    for (auto m : mask) noise += m;
    EXPECT_EQ(noise, 21);
    EXPECT_EQ(count_runs(mask), 7);
    EXPECT_EQ(mask.front(), 0) << "starts with kept tokens";
    EXPECT_EQ(mask.back(), 1) << "ends with a noise span";
  }
  // Long sequences: the noise fraction is 0.15 and the mean span length 3.
  Rng rng(42);
  const auto mask = random_spans_noise_mask(100000, {}, rng);
  int64_t noise = 0;
  for (auto m : mask) noise += m;
  EXPECT_EQ(noise, 15000);
  EXPECT_EQ(count_runs(mask), 5000);
  // Span lengths are random (geometric-like), not all 3.
  std::map<int64_t, int64_t> lengths;
  for (std::size_t i = 0, run = 0; i <= mask.size(); ++i) {
    if (i < mask.size() && mask[i]) ++run;
    else if (run > 0) ++lengths[static_cast<int64_t>(run)], run = 0;
  }
  EXPECT_GT(lengths[1], 1000);
  EXPECT_GT(lengths.rbegin()->first, 8);
  // Other options: density 0.5, mean span 1 -> every other kept/noise count matches.
  Rng rng2(1);
  const auto half = random_spans_noise_mask(1000, {0.5, 10.0}, rng2);
  noise = 0;
  for (auto m : half) noise += m;
  EXPECT_EQ(noise, 500);
  EXPECT_EQ(count_runs(half), 50);
}

TEST(SpanCorruption, MasksAreDeterministicPerSeed) {
  Rng a(7), b(7), c(8);
  const auto ma = random_spans_noise_mask(141, {}, a);
  EXPECT_EQ(ma, random_spans_noise_mask(141, {}, b));
  EXPECT_NE(ma, random_spans_noise_mask(141, {}, c));
}

TEST(SpanCorruption, HandWorkedExample) {
  const Ids tokens = {10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
  const std::vector<uint8_t> mask = {0, 0, 1, 1, 0, 0, 0, 1, 0, 1};
  const CorruptedExample out = apply_noise_mask(tokens, mask, 32099, 1);
  EXPECT_EQ(out.inputs, (Ids{10, 11, 32099, 14, 15, 16, 32098, 18, 32097, 1}));
  EXPECT_EQ(out.targets, (Ids{32099, 12, 13, 32098, 17, 32097, 19, 1}));
  EXPECT_THROW(apply_noise_mask(tokens, mask, 32099, 1, /*max_sentinels=*/2), UsageError);
  EXPECT_THROW(apply_noise_mask(tokens, {0, 1}, 32099, 1), UsageError);
}

// Puts every span of the targets back in place of its sentinel in the inputs.
Ids reconstruct(const Ids& inputs, const Ids& targets, int64_t first_sentinel, int64_t last_sentinel) {
  auto is_sentinel = [&](int64_t id) { return id <= first_sentinel && id >= last_sentinel; };
  std::map<int64_t, Ids> spans;
  int64_t current = 0;
  for (std::size_t i = 0; i + 1 < targets.size(); ++i) {
    if (is_sentinel(targets[i])) current = targets[i];
    else spans[current].push_back(targets[i]);
  }
  Ids out;
  for (std::size_t i = 0; i + 1 < inputs.size(); ++i) {
    if (is_sentinel(inputs[i])) out.insert(out.end(), spans[inputs[i]].begin(), spans[inputs[i]].end());
    else out.push_back(inputs[i]);
  }
  return out;
}

TEST(SpanCorruption, InputsAndTargetsReconstructTheOriginal) {
  const int64_t first = t5().sentinel_id(0), eos = t5().eos_id();
  const Ids tokens = t5().encode_plain(
      "The quick brown fox jumps over the lazy dog while the small red hen watches from the old wooden "
      "fence, and far away a farmer drives his wagon along the narrow road towards the market in the valley, "
      "where bakers sell warm bread and weavers sell bright cloth to the travelers who came from the harbor "
      "before the sun rose over the quiet hills and the river.");
  ASSERT_GE(tokens.size(), 70u);
  const Ids raw(tokens.begin(), tokens.begin() + 70);
  const SpanLengths lengths = corrupted_lengths(70);
  for (uint64_t seed = 0; seed < 50; ++seed) {
    Rng rng(seed);
    const auto mask = random_spans_noise_mask(70, {}, rng);
    const CorruptedExample out = apply_noise_mask(raw, mask, first, eos);
    EXPECT_EQ(static_cast<int64_t>(out.inputs.size()), lengths.inputs_length);
    EXPECT_EQ(static_cast<int64_t>(out.targets.size()), lengths.targets_length);
    EXPECT_EQ(out.inputs.back(), eos);
    EXPECT_EQ(out.targets.back(), eos);
    // Sentinels in order <extra_id_0>, <extra_id_1>, ... in both, the targets start with one.
    std::vector<int64_t> in_sentinels, target_sentinels;
    for (int64_t id : out.inputs)
      if (id > 32000 - 1 && id <= first) in_sentinels.push_back(id);
    for (int64_t id : out.targets)
      if (id > 32000 - 1 && id <= first) target_sentinels.push_back(id);
    ASSERT_EQ(in_sentinels.size(), static_cast<std::size_t>(count_runs(mask)));
    EXPECT_EQ(in_sentinels, target_sentinels);
    for (std::size_t n = 0; n < in_sentinels.size(); ++n) EXPECT_EQ(in_sentinels[n], t5().sentinel_id(static_cast<int>(n)));
    EXPECT_EQ(out.targets.front(), first);
    EXPECT_EQ(t5().id_to_piece(out.targets.front()), "<extra_id_0>");
    EXPECT_EQ(reconstruct(out.inputs, out.targets, first, t5().sentinel_id(99)), raw);
  }
}

TEST(SpanCorruption, UnigramEntropy) {
  EXPECT_NEAR(unigram_entropy({{1, 1, 2, 2}}), std::log(2.0), 1e-12);
  EXPECT_NEAR(unigram_entropy({{1, 2}, {3, 4}}), std::log(4.0), 1e-12);
  EXPECT_DOUBLE_EQ(unigram_entropy({{5, 5, 5}}), 0.0);
  // p = (1/2, 1/4, 1/4): 1.5 bits = 1.5 ln 2 nats.
  EXPECT_NEAR(unigram_entropy({{7, 7, 8, 9}}), 1.5 * std::log(2.0), 1e-12);
}

TEST(SpanCorruption, RngBelowIsUniformAndShuffleIsAPermutation) {
  Rng rng(3);
  std::vector<int> counts(6, 0);
  for (int i = 0; i < 60000; ++i) ++counts[rng.below(6)];
  for (int c : counts) EXPECT_NEAR(c, 10000, 400);
  std::vector<int> values(100);
  for (int i = 0; i < 100; ++i) values[i] = i;
  const std::vector<int> original = values;
  rng.shuffle(values);
  std::set<int> seen(values.begin(), values.end());
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_NE(values, original);  // moved
  int in_place = 0;
  for (int i = 0; i < 100; ++i) in_place += values[i] == i;
  EXPECT_LT(in_place, 10);  // a uniform permutation fixes 1 element on average
}

// ---- documents ----

TEST(PretrainCorpus, AutoSplitDetectsParagraphsAndLines) {
  EXPECT_EQ(resolve_split("auto", kDictionary), DocumentSplit::kParagraph);
  EXPECT_EQ(resolve_split("auto", kDictionaryXz), DocumentSplit::kParagraph);
  EXPECT_EQ(resolve_split("auto", kGlosses), DocumentSplit::kLine);
  EXPECT_EQ(resolve_split("line", kDictionary), DocumentSplit::kLine);
  EXPECT_THROW(resolve_split("sentences", kDictionary), UsageError);
}

TEST(PretrainCorpus, ParagraphDocumentsJoinTheirLines) {
  DocumentReader reader({kDictionaryXz}, {DocumentSplit::kParagraph}, 16384);
  std::vector<std::string> documents;
  for (std::string d; reader.next(d);) documents.push_back(d);
  ASSERT_EQ(documents.size(), 1u + 24u * 2u);  // the heading, then definitions and Syn: per entry
  EXPECT_EQ(documents[0], "Ladder tiny dictionary Made-up entries written for the pretraining tests.");
  EXPECT_EQ(documents[1].rfind("Lamp \\lamp\\ n. 1. A old container used for trading goods; as, the farmers kept a lamp near the door. 2.", 0), 0u)
      << documents[1];
  EXPECT_EQ(documents[2], "Syn: tower, garden [Ladder test corpus]");
}

TEST(PretrainCorpus, FilesAreReadInRotation) {
  DocumentReader reader({kDictionary, kGlosses}, {DocumentSplit::kParagraph, DocumentSplit::kLine}, 16384);
  const auto glosses = lines_of(kGlosses);
  std::vector<std::string> documents;
  for (std::string d; reader.next(d);) documents.push_back(d);
  ASSERT_EQ(documents.size(), 49u + 150u);
  EXPECT_EQ(documents[1], glosses[0]);
  EXPECT_EQ(documents[2], "Lamp \\lamp\\ n. 1. A old container used for trading goods; as, the farmers kept a lamp near the door. 2. Any container that farmers clean in the spring.");
  EXPECT_EQ(documents[3], glosses[1]);
  // After the 49 paragraphs only glosses remain.
  EXPECT_EQ(documents.back(), glosses.back());
  EXPECT_EQ(documents[98], glosses[49]);
  EXPECT_EQ(documents[99], glosses[50]);
}

TEST(PretrainCorpus, LongDocumentsAreCut) {
  DocumentReader reader({kDictionary}, {DocumentSplit::kParagraph}, 64);
  std::size_t count = 0, longest = 0;
  for (std::string d; reader.next(d);) {
    ++count;
    longest = std::max(longest, d.size());
    EXPECT_LE(d.size(), 64u + 100u);  // cut after the line that passed 64
  }
  EXPECT_GE(count, 49u);  // the 49 paragraphs (ParagraphDocumentsJoinTheirLines), however cut
  EXPECT_GT(longest, 64u) << "no document reached the cut";
}

// ---- the stream ----

CorpusOptions glosses_corpus(uint64_t seed = 0, int64_t block = 7) {
  CorpusOptions o;
  o.files = {kGlosses};
  o.seed = seed;
  o.shuffle_block = block;
  return o;
}

// The token stream the packing must cut: every gloss line encoded, </s> after each.
Ids reference_tokens() {
  Ids all;
  for (const auto& line : lines_of(kGlosses)) {
    const Ids ids = t5().encode_plain(line);
    all.insert(all.end(), ids.begin(), ids.end());
    all.push_back(t5().eos_id());
  }
  return all;
}

TEST(PretrainStream, PacksEveryWindowOfTheTokenStreamOncePerEpoch) {
  const Ids all = reference_tokens();
  PretrainStream stream(glosses_corpus(), {}, 32, t5());
  const int64_t raw = stream.lengths().raw_length;
  EXPECT_EQ(stream.lengths().inputs_length, 32);
  // Epoch 0: collect the examples and locate each in the reference stream.
  std::vector<Ids> epoch0;
  PretrainExample e = stream.next();
  while (e.epoch == 0) {
    epoch0.push_back(e.raw);
    EXPECT_EQ(static_cast<int64_t>(e.inputs.size()), 32);
    EXPECT_EQ(static_cast<int64_t>(e.targets.size()), stream.lengths().targets_length);
    e = stream.next();
  }
  EXPECT_EQ(e.epoch, 1);
  // Find the epoch's skip from the first example, then every window s + k * raw must be there once.
  std::multiset<Ids> got(epoch0.begin(), epoch0.end());
  int64_t skip = -1;
  for (int64_t s = 0; s < raw && skip < 0; ++s) {
    const Ids window(all.begin() + s, all.begin() + s + raw);
    if (got.count(window)) skip = s;
  }
  ASSERT_GE(skip, 0) << "no example is a window of the packed token stream";
  const int64_t windows = (static_cast<int64_t>(all.size()) - skip) / raw;
  std::multiset<Ids> expected;
  for (int64_t k = 0; k < windows; ++k) expected.insert(Ids(all.begin() + skip + k * raw, all.begin() + skip + (k + 1) * raw));
  EXPECT_EQ(static_cast<int64_t>(epoch0.size()), windows);
  EXPECT_TRUE(got == expected) << "the examples are not exactly the packed windows";
  // Shuffled: not in reading order.
  EXPECT_NE(epoch0.front(), Ids(all.begin() + skip, all.begin() + skip + raw));
}

TEST(PretrainStream, IsDeterministicAndPrefetchDoesNotChangeIt) {
  PretrainStream a(glosses_corpus(5), {}, 32, t5(), /*prefetch=*/true);
  PretrainStream b(glosses_corpus(5), {}, 32, t5(), /*prefetch=*/false);
  PretrainStream c(glosses_corpus(6), {}, 32, t5());
  bool differs = false;
  for (int i = 0; i < 300; ++i) {  // several blocks and more than one epoch
    const PretrainExample x = a.next(), y = b.next(), z = c.next();
    ASSERT_EQ(x.raw, y.raw) << i;
    ASSERT_EQ(x.inputs, y.inputs) << i;
    ASSERT_EQ(x.targets, y.targets) << i;
    differs = differs || x.raw != z.raw;
  }
  EXPECT_TRUE(differs) << "another seed gave the same order";
}

TEST(PretrainStream, RestoreContinuesExactlyThroughJson) {
  for (int64_t stop : {0, 5, 7, 30, 130}) {
    PretrainStream straight(glosses_corpus(1), {}, 32, t5());
    CorpusOptions two = glosses_corpus(1);
    two.files = {kDictionaryXz, kGlosses};
    PretrainStream straight2(two, {}, 32, t5());
    for (int64_t i = 0; i < stop; ++i) {
      straight.next();
      straight2.next();
    }
    const nlohmann::json saved = straight.position().to_json();
    const nlohmann::json saved2 = straight2.position().to_json();
    PretrainStream resumed(glosses_corpus(1), {}, 32, t5());
    resumed.restore(StreamPosition::from_json(nlohmann::json::parse(saved.dump()), "test"));
    PretrainStream resumed2(two, {}, 32, t5());
    resumed2.restore(StreamPosition::from_json(nlohmann::json::parse(saved2.dump()), "test"));
    for (int i = 0; i < 60; ++i) {
      const PretrainExample x = straight.next(), y = resumed.next();
      ASSERT_EQ(x.inputs, y.inputs) << "stop " << stop << " example " << i;
      ASSERT_EQ(x.targets, y.targets) << "stop " << stop << " example " << i;
      ASSERT_EQ(x.epoch, y.epoch);
      ASSERT_EQ(straight2.next().inputs, resumed2.next().inputs) << "two files, stop " << stop << " example " << i;
    }
  }
}

TEST(PretrainStream, RejectsWrongPositionsAndTinyCorpora) {
  PretrainStream stream(glosses_corpus(), {}, 32, t5());
  StreamPosition bad = stream.position();
  bad.block_start.offsets.push_back(0);
  bad.block_start.finished.push_back(0);
  EXPECT_THROW(stream.restore(bad), FormatError);
  const std::string tiny = testing::TempDir() + "ladder_pretrain_tiny.txt";
  std::ofstream(tiny) << "only a few words here\n";
  CorpusOptions o;
  o.files = {tiny};
  EXPECT_THROW(PretrainStream(o, {}, 128, t5()), FormatError);
  EXPECT_THROW(PretrainStream(CorpusOptions{}, {}, 128, t5()), UsageError);
}

TEST(PretrainStream, TargetsAreLessPredictableThanUniformButBelowLogVocabulary) {
  PretrainStream stream(glosses_corpus(), {}, 32, t5());
  std::vector<Ids> targets;
  for (int i = 0; i < 100; ++i) targets.push_back(stream.next().targets);
  const double h = unigram_entropy(targets);
  EXPECT_GT(h, 2.0);
  EXPECT_LT(h, std::log(32100.0));
}

}  // namespace
}  // namespace ladder::pretrain
