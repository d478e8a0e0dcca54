#pragma once
// The pretraining data stream: text files -> documents -> token ids -> packed examples of a
// fixed raw length -> shuffled in blocks -> span-corrupted. Torch-free (ladder_core).
//
// Documents. Each file is cut by `split`:
//   line       every non-blank line is a document (WordNet glosses: one gloss a line);
//   paragraph  blank lines separate documents, the lines of one are joined by single spaces
//              (GCIDE: an entry's headword and definitions, then its "Syn:" block);
//   auto       paragraph when at least one line in 20 of the first 1000 is blank, else line.
// Leading/trailing whitespace of every line is dropped; a document longer than
// max_document_bytes is cut at a line boundary (a line longer than that at a UTF-8 boundary).
// Several files are read side by side, one document from each in turn, so every block mixes
// them (a file that runs out drops out of the rotation).
//
// Packing (as Hugging Face's run_t5_mlm_flax.py does: tokenizer per text, then group_texts):
// every document becomes encode_plain(document) + </s>, the ids are concatenated and cut into
// examples of raw_length ids; the remainder at the end of an epoch is dropped. Each epoch
// starts by skipping a seeded number (< raw_length) of ids, so epochs cut different examples.
//
// Shuffling: the stream is read in blocks of shuffle_block examples (about 9 MB of int32 ids
// for 16384 x 141); each block is permuted with a seed of (seed, epoch, block). The next block
// is read and tokenised on a background thread while the current one is used. Only two blocks
// are ever in memory, whatever the corpus size. After the last block of an epoch the files
// are read again from the start (next epoch).
//
// Position and resumption: a position is (epoch, block, index in block) plus the reading
// state where the block began (a decoded-byte offset per file, which files are finished, the
// rotation, and the ids read but not yet packed). restore() seeks there, rebuilds the same
// block and skips `index` examples, so a resumed run sees exactly the examples a straight run
// would. The noise mask of an example is seeded by (seed, epoch, block, index): no random
// state needs saving.
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ladder/pretrain/span_corruption.h"
#include "ladder/pretrain/text_reader.h"
#include "ladder/tokenizer/t5_tokenizer.h"

namespace ladder::pretrain {

enum class DocumentSplit { kLine, kParagraph };
std::string split_name(DocumentSplit split);
// "line" | "paragraph" | "auto" (detected from the file); UsageError otherwise.
DocumentSplit resolve_split(const std::string& split, const std::string& path);

struct CorpusOptions {
  std::vector<std::string> files;
  std::string split = "auto";
  int64_t max_document_bytes = 16384;
  int64_t shuffle_block = 16384;  // examples per shuffled block
  uint64_t seed = 0;

  nlohmann::json to_json() const;
  static CorpusOptions from_json(const nlohmann::json& json, const std::string& source);
  void validate() const;  // UsageError for no files or non-positive sizes
};

// Where reading stands in the files.
struct ReadState {
  std::vector<uint64_t> offsets;   // per file: decoded offset of the next unread document
  std::vector<uint8_t> finished;   // per file: no document left this epoch
  int64_t next_file = 0;           // the file the next document comes from (rotation)
  std::vector<int64_t> carry;      // ids read but not yet packed into an example

  nlohmann::json to_json() const;
  static ReadState from_json(const nlohmann::json& json, const std::string& source);
};

struct StreamPosition {
  int64_t epoch = 0;  // 0-based
  int64_t block = 0;  // block of that epoch
  int64_t index = 0;  // examples of that block already delivered
  ReadState block_start;

  nlohmann::json to_json() const;
  static StreamPosition from_json(const nlohmann::json& json, const std::string& source);
};

// Documents of several files in rotation (see the header comment).
class DocumentReader {
 public:
  DocumentReader(const std::vector<std::string>& files, const std::vector<DocumentSplit>& splits,
                 int64_t max_document_bytes);
  // The next document; false once every file is finished.
  bool next(std::string& document);
  // offsets, finished, next_file (carry left empty).
  ReadState state() const;
  // Continues from a state() of the same files.
  void restore(const ReadState& state, const std::string& source);

 private:
  struct Source {
    TextReader reader;
    DocumentSplit split;
    bool finished = false;
  };
  bool read_document(Source& source, std::string& document);

  std::vector<Source> sources_;
  int64_t max_bytes_;
  int64_t next_file_ = 0;
};

struct PretrainExample {
  std::vector<int64_t> raw;      // raw_length packed ids
  std::vector<int64_t> inputs;   // span-corrupted input, </s> last
  std::vector<int64_t> targets;  // sentinel + span ..., </s> last
  int64_t epoch = 0;
};

// The infinite stream of span-corrupted examples (epochs restart). Deterministic given the
// options; not thread-safe (one consumer).
class PretrainStream {
 public:
  // input_length: length of the corrupted inputs; the raw length follows from
  // compute_input_and_target_lengths. Reads and shuffles the first block before returning.
  PretrainStream(CorpusOptions corpus, SpanCorruptionOptions corruption, int64_t input_length,
                 const T5Tokenizer& tokenizer, bool prefetch = true);
  ~PretrainStream();
  PretrainStream(const PretrainStream&) = delete;
  PretrainStream& operator=(const PretrainStream&) = delete;

  PretrainExample next();
  // The position of the example next() returns next.
  StreamPosition position() const;
  // Continues from a position() of a stream with the same options and files.
  void restore(const StreamPosition& position, const std::string& source = "stream position");

  const SpanLengths& lengths() const { return lengths_; }
  const std::vector<DocumentSplit>& splits() const { return splits_; }

 private:
  struct Block {
    int64_t epoch = 0, block = 0, count = 0;
    ReadState start;
    std::vector<int32_t> ids;      // count x raw_length, reading order
    std::vector<uint32_t> order;   // delivery order (a seeded permutation)
  };
  class Filler;

  void wait_prefetch();
  void start_prefetch();

  CorpusOptions corpus_;
  SpanCorruptionOptions corruption_;
  SpanLengths lengths_;
  int64_t first_sentinel_ = 0, eos_ = 0;
  bool prefetch_;
  std::vector<DocumentSplit> splits_;
  std::unique_ptr<Filler> filler_;
  Block current_;
  int64_t index_ = 0;
  std::future<Block> next_block_;
};

}  // namespace ladder::pretrain
