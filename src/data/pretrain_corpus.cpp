#include "ladder/pretrain/corpus.h"

#include <algorithm>
#include <numeric>

#include "ladder/error.h"
#include "ladder/io/json_file.h"

namespace ladder::pretrain {
namespace {

constexpr uint64_t kShuffleStream = 0xB10C5EEDull;
constexpr uint64_t kNoiseStream = 0x0153EEDull;
constexpr uint64_t kEpochSkipStream = 0x5C1Bull;

std::string trim(const std::string& s) {
  const char* space = " \t\r\n\f\v";
  const std::size_t begin = s.find_first_not_of(space);
  if (begin == std::string::npos) return std::string();
  return s.substr(begin, s.find_last_not_of(space) - begin + 1);
}

}  // namespace

std::string split_name(DocumentSplit split) { return split == DocumentSplit::kLine ? "line" : "paragraph"; }

DocumentSplit resolve_split(const std::string& split, const std::string& path) {
  if (split == "line") return DocumentSplit::kLine;
  if (split == "paragraph") return DocumentSplit::kParagraph;
  if (split != "auto") throw UsageError("unknown document split \"" + split + "\" (expected auto, line or paragraph)");
  TextReader reader(path);
  std::string line;
  int64_t lines = 0, blank = 0;
  while (lines < 1000 && reader.read_line(line, 1 << 16)) {
    ++lines;
    if (trim(line).empty()) ++blank;
  }
  return blank > 0 && blank * 20 >= lines ? DocumentSplit::kParagraph : DocumentSplit::kLine;
}

// ---- options and positions as JSON ----

nlohmann::json CorpusOptions::to_json() const {
  return {{"files", files}, {"split", split}, {"max_document_bytes", max_document_bytes},
          {"shuffle_block", shuffle_block}, {"seed", seed}};
}

CorpusOptions CorpusOptions::from_json(const nlohmann::json& json, const std::string& source) {
  CorpusOptions o;
  o.files = json_field<std::vector<std::string>>(json, "files", source);
  o.split = json_field<std::string>(json, "split", source);
  o.max_document_bytes = json_field<int64_t>(json, "max_document_bytes", source);
  o.shuffle_block = json_field<int64_t>(json, "shuffle_block", source);
  o.seed = json_field<uint64_t>(json, "seed", source);
  return o;
}

void CorpusOptions::validate() const {
  if (files.empty()) throw UsageError("no corpus files given (--corpus FILE, plain text or .xz)");
  if (max_document_bytes < 64) throw UsageError("max document bytes must be at least 64, found " + std::to_string(max_document_bytes));
  if (shuffle_block < 1) throw UsageError("shuffle block must be at least 1 example, found " + std::to_string(shuffle_block));
  if (split != "auto" && split != "line" && split != "paragraph")
    throw UsageError("unknown document split \"" + split + "\" (expected auto, line or paragraph)");
}

nlohmann::json ReadState::to_json() const {
  std::vector<bool> done(finished.begin(), finished.end());
  return {{"offsets", offsets}, {"finished", done}, {"next_file", next_file}, {"carry", carry}};
}

ReadState ReadState::from_json(const nlohmann::json& json, const std::string& source) {
  ReadState s;
  s.offsets = json_field<std::vector<uint64_t>>(json, "offsets", source);
  const auto done = json_field<std::vector<bool>>(json, "finished", source);
  s.finished.assign(done.begin(), done.end());
  s.next_file = json_field<int64_t>(json, "next_file", source);
  s.carry = json_field<std::vector<int64_t>>(json, "carry", source);
  if (s.offsets.size() != s.finished.size())
    throw FormatError(source + ": " + expected_found("as many \"finished\" flags as offsets", std::to_string(s.offsets.size()),
                                                     std::to_string(s.finished.size())));
  return s;
}

nlohmann::json StreamPosition::to_json() const {
  return {{"epoch", epoch}, {"block", block}, {"index", index}, {"block_start", block_start.to_json()}};
}

StreamPosition StreamPosition::from_json(const nlohmann::json& json, const std::string& source) {
  StreamPosition p;
  p.epoch = json_field<int64_t>(json, "epoch", source);
  p.block = json_field<int64_t>(json, "block", source);
  p.index = json_field<int64_t>(json, "index", source);
  p.block_start = ReadState::from_json(json_field<nlohmann::json>(json, "block_start", source), source);
  if (p.epoch < 0 || p.block < 0 || p.index < 0) throw FormatError(source + ": negative stream position");
  return p;
}

// ---- documents ----

DocumentReader::DocumentReader(const std::vector<std::string>& files, const std::vector<DocumentSplit>& splits,
                               int64_t max_document_bytes)
    : max_bytes_(max_document_bytes) {
  if (files.size() != splits.size()) throw UsageError("DocumentReader: one split per file expected");
  for (std::size_t i = 0; i < files.size(); ++i) sources_.push_back(Source{TextReader(files[i]), splits[i], false});
}

bool DocumentReader::read_document(Source& source, std::string& document) {
  document.clear();
  std::string line;
  const std::size_t limit = static_cast<std::size_t>(max_bytes_);
  while (source.reader.read_line(line, limit)) {
    std::string text = trim(line);
    if (text.empty()) {
      if (source.split == DocumentSplit::kParagraph && !document.empty()) return true;
      continue;
    }
    if (!document.empty()) document += ' ';
    document += text;
    if (source.split == DocumentSplit::kLine || document.size() >= limit) return true;
  }
  return !document.empty();
}

bool DocumentReader::next(std::string& document) {
  const int64_t n = static_cast<int64_t>(sources_.size());
  for (int64_t tried = 0; tried < n; ++tried) {
    Source& source = sources_[static_cast<std::size_t>(next_file_)];
    next_file_ = (next_file_ + 1) % n;
    if (source.finished) continue;
    if (read_document(source, document)) return true;
    source.finished = true;
  }
  return false;
}

ReadState DocumentReader::state() const {
  ReadState s;
  for (const Source& source : sources_) {
    s.offsets.push_back(source.reader.offset());
    s.finished.push_back(source.finished ? 1 : 0);
  }
  s.next_file = next_file_;
  return s;
}

void DocumentReader::restore(const ReadState& state, const std::string& source) {
  if (state.offsets.size() != sources_.size())
    throw FormatError(source + ": " + expected_found("reading state for " + std::to_string(sources_.size()) + " corpus files",
                                                     std::to_string(sources_.size()), std::to_string(state.offsets.size()),
                                                     "the run was started with other --corpus files"));
  if (state.next_file < 0 || state.next_file >= static_cast<int64_t>(sources_.size()))
    throw FormatError(source + ": next_file " + std::to_string(state.next_file) + " is out of range");
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    sources_[i].reader.seek(state.offsets[i]);
    sources_[i].finished = state.finished[i] != 0;
  }
  next_file_ = state.next_file;
}

// ---- blocks ----

// Reads, tokenises and packs blocks one after another. Used by one thread at a time: the
// stream waits for the previous fill before starting the next.
class PretrainStream::Filler {
 public:
  Filler(const CorpusOptions& corpus, const std::vector<DocumentSplit>& splits, int64_t raw_length,
         const T5Tokenizer& tokenizer)
      : corpus_(corpus), raw_length_(raw_length), tokenizer_(tokenizer),
        reader_(corpus.files, splits, corpus.max_document_bytes) {
    start_epoch(0);
  }

  // Continues at a recorded block start.
  void restore(const ReadState& state, int64_t epoch, int64_t block, const std::string& source) {
    reader_.restore(state, source);
    carry_ = state.carry;
    carry_start_ = 0;
    epoch_ = epoch;
    block_ = block;
  }

  Block fill() {
    Block b;
    b.epoch = epoch_;
    b.block = block_;
    b.start = reader_.state();
    b.start.carry.assign(carry_.begin() + static_cast<std::ptrdiff_t>(carry_start_), carry_.end());
    const std::size_t raw = static_cast<std::size_t>(raw_length_);
    b.ids.reserve(static_cast<std::size_t>(corpus_.shuffle_block) * raw);
    bool exhausted = false;
    std::string document;
    while (b.count < corpus_.shuffle_block) {
      if (carry_.size() - carry_start_ >= raw) {
        for (std::size_t i = 0; i < raw; ++i) b.ids.push_back(static_cast<int32_t>(carry_[carry_start_ + i]));
        carry_start_ += raw;
        ++b.count;
        continue;
      }
      if (!reader_.next(document)) {
        exhausted = true;
        break;
      }
      carry_.erase(carry_.begin(), carry_.begin() + static_cast<std::ptrdiff_t>(carry_start_));
      carry_start_ = 0;
      const std::vector<int64_t> ids = tokenizer_.encode_plain(document);
      carry_.insert(carry_.end(), ids.begin(), ids.end());
      carry_.push_back(tokenizer_.eos_id());
    }
    if (exhausted) {
      if (b.count == 0) {
        if (block_ == 0)
          throw FormatError(describe_files() + ": " +
                            expected_found("at least one example of " + std::to_string(raw_length_) + " tokens per epoch",
                                           std::to_string(raw_length_) + " tokens", "fewer",
                                           "corpus too small for --input-length"));
        start_epoch(epoch_ + 1);  // the previous block ended exactly with the epoch
        return fill();
      }
      start_epoch(epoch_ + 1);
    } else {
      ++block_;
    }
    b.order.resize(static_cast<std::size_t>(b.count));
    std::iota(b.order.begin(), b.order.end(), 0u);
    Rng rng(mix_seed({corpus_.seed, kShuffleStream, static_cast<uint64_t>(b.epoch), static_cast<uint64_t>(b.block)}));
    rng.shuffle(b.order);
    return b;
  }

 private:
  void start_epoch(int64_t epoch) {
    ReadState fresh;
    fresh.offsets.assign(corpus_.files.size(), 0);
    fresh.finished.assign(corpus_.files.size(), 0);
    reader_.restore(fresh, "epoch start");
    epoch_ = epoch;
    block_ = 0;
    carry_.clear();
    carry_start_ = 0;
    // Cut each epoch's examples at different places: skip a seeded number of leading ids.
    skip_ = static_cast<int64_t>(Rng(mix_seed({corpus_.seed, kEpochSkipStream, static_cast<uint64_t>(epoch)}))
                                     .below(static_cast<uint64_t>(raw_length_)));
    std::string document;
    while (static_cast<int64_t>(carry_.size()) < skip_ && reader_.next(document)) {
      const std::vector<int64_t> ids = tokenizer_.encode_plain(document);
      carry_.insert(carry_.end(), ids.begin(), ids.end());
      carry_.push_back(tokenizer_.eos_id());
    }
    carry_start_ = std::min<std::size_t>(static_cast<std::size_t>(skip_), carry_.size());
  }

  std::string describe_files() const {
    std::string out;
    for (const auto& f : corpus_.files) out += (out.empty() ? "" : ", ") + f;
    return out;
  }

  CorpusOptions corpus_;
  int64_t raw_length_;
  T5Tokenizer tokenizer_;
  DocumentReader reader_;
  std::vector<int64_t> carry_;
  std::size_t carry_start_ = 0;
  int64_t epoch_ = 0, block_ = 0, skip_ = 0;
};

PretrainStream::PretrainStream(CorpusOptions corpus, SpanCorruptionOptions corruption, int64_t input_length,
                               const T5Tokenizer& tokenizer, bool prefetch)
    : corpus_(std::move(corpus)), corruption_(corruption), prefetch_(prefetch) {
  corpus_.validate();
  lengths_ = compute_input_and_target_lengths(input_length, corruption_);
  if (lengths_.inputs_length != input_length)
    throw UsageError(expected_found("--input-length " + std::to_string(input_length) + " reachable by span corruption",
                                    std::to_string(input_length), std::to_string(lengths_.inputs_length),
                                    "choose another input length"));
  first_sentinel_ = tokenizer.sentinel_id(0);
  eos_ = tokenizer.eos_id();
  for (const auto& file : corpus_.files) splits_.push_back(resolve_split(corpus_.split, file));
  filler_ = std::make_unique<Filler>(corpus_, splits_, lengths_.raw_length, tokenizer);
  current_ = filler_->fill();
  start_prefetch();
}

PretrainStream::~PretrainStream() {
  // A background fill must not outlive the filler it uses; its errors no longer matter.
  try {
    wait_prefetch();
  } catch (...) {
  }
}

void PretrainStream::wait_prefetch() {
  if (next_block_.valid()) next_block_.wait();
}

void PretrainStream::start_prefetch() {
  if (!prefetch_) return;
  Filler* filler = filler_.get();
  next_block_ = std::async(std::launch::async, [filler] { return filler->fill(); });
}

PretrainExample PretrainStream::next() {
  if (index_ >= current_.count) {
    current_ = next_block_.valid() ? next_block_.get() : filler_->fill();
    index_ = 0;
    start_prefetch();
  }
  const std::size_t raw = static_cast<std::size_t>(lengths_.raw_length);
  const std::size_t row = current_.order[static_cast<std::size_t>(index_)];
  PretrainExample example;
  example.epoch = current_.epoch;
  example.raw.assign(current_.ids.begin() + static_cast<std::ptrdiff_t>(row * raw),
                     current_.ids.begin() + static_cast<std::ptrdiff_t>((row + 1) * raw));
  Rng rng(mix_seed({corpus_.seed, kNoiseStream, static_cast<uint64_t>(current_.epoch),
                    static_cast<uint64_t>(current_.block), static_cast<uint64_t>(index_)}));
  const std::vector<uint8_t> mask = random_spans_noise_mask(lengths_.raw_length, corruption_, rng);
  CorruptedExample corrupted = apply_noise_mask(example.raw, mask, first_sentinel_, eos_);
  example.inputs = std::move(corrupted.inputs);
  example.targets = std::move(corrupted.targets);
  ++index_;
  return example;
}

StreamPosition PretrainStream::position() const {
  StreamPosition p;
  p.epoch = current_.epoch;
  p.block = current_.block;
  p.index = index_;
  p.block_start = current_.start;
  return p;
}

void PretrainStream::restore(const StreamPosition& position, const std::string& source) {
  wait_prefetch();
  next_block_ = std::future<Block>();
  filler_->restore(position.block_start, position.epoch, position.block, source);
  current_ = filler_->fill();
  if (current_.epoch != position.epoch || current_.block != position.block || position.index > current_.count)
    throw FormatError(source + ": " + expected_found("the recorded block to hold the recorded position",
                                                     "block " + std::to_string(position.block) + " with at least " +
                                                         std::to_string(position.index) + " examples",
                                                     "block " + std::to_string(current_.block) + " with " +
                                                         std::to_string(current_.count),
                                                     "the corpus files or options changed since the checkpoint?"));
  index_ = position.index;
  start_prefetch();
}

}  // namespace ladder::pretrain
