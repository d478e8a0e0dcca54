#pragma once
// The user-data loaders of custom.h (load_custom_classification / load_custom_seq2seq), shared by
// fuzz_tsv, fuzz_csv and fuzz_jsonl. They only read by path, so the input is written to a
// scratch file whose extension picks the format. Field names come from the input (its header
// row or first JSON object) so that most rows get past the header check.
#include <string>
#include <vector>

#include "fuzz_common.h"
#include "ladder/data/custom.h"

namespace ladder_fuzz {

inline void load_custom(const std::string& file_name, const uint8_t* data, std::size_t size,
                        std::vector<std::string> fields) {
  if (fields.empty()) fields = {"text", "label"};
  const std::string path = write_scratch(file_name, data, size);
  ladder::data::LoadOptions options;
  options.skip_malformed = size % 2 == 1;  // both modes, decided by the input

  ladder::data::ClassificationFields classification;
  classification.text_field = fields.front();
  classification.label_field = fields.back();
  if (fields.size() >= 3) classification.text_pair_field = fields[1];
  classification.prefix = size % 3 == 0 ? "" : "task";
  guarded([&] {
    const ladder::data::Dataset dataset =
        ladder::data::load_custom_classification(path, classification, "custom", options);
    std::size_t checksum = dataset.labels.size() + dataset.skipped_rows;
    for (const auto& example : dataset.examples) checksum += example.source.size() + example.target.size();
    consume(checksum);
    // Loading again with the inferred label set as the known labels must accept the same rows.
    classification.known_labels = dataset.labels;
    const ladder::data::Dataset again =
        ladder::data::load_custom_classification(path, classification, "custom", options);
    if (again.examples.size() != dataset.examples.size() || again.labels != dataset.labels) {
      fail("known_labels = the inferred labels changed the data set");
    }
  });

  ladder::data::Seq2SeqFields seq2seq;
  seq2seq.source_field = fields.front();
  seq2seq.target_field = fields.back();
  guarded([&] {
    const ladder::data::Dataset dataset = ladder::data::load_custom_seq2seq(path, seq2seq, "custom", options);
    std::size_t checksum = dataset.skipped_rows;
    for (const auto& example : dataset.examples) checksum += example.source.size() + example.target.size();
    consume(checksum);
  });
}

}  // namespace ladder_fuzz
