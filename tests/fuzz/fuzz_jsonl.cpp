// libFuzzer target: JSON Lines user data. The JSONL reader is internal to custom.cpp, so the
// input goes through the custom-data loader from a scratch .jsonl file, with the field names
// of its first JSON object; the same file is also read as a run directory's label file
// (load_labels, {"labels": [...]}).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz_common.h"
#include "fuzz_custom.h"
#include "ladder/data/custom.h"
#include "ladder/data/table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> fields;
  ladder_fuzz::guarded([&] {
    const std::vector<ladder::data::TextRow> lines = ladder::data::split_lines(text);
    if (lines.empty()) return;
    const nlohmann::json first = nlohmann::json::parse(lines[0].fields[0], nullptr, false);
    if (!first.is_object()) return;
    for (const auto& item : first.items()) fields.push_back(item.key());
  });
  ladder_fuzz::load_custom("data.jsonl", data, size, fields);
  ladder_fuzz::guarded([&] {
    const std::vector<std::string> labels = ladder::data::load_labels(ladder_fuzz::scratch_dir() + "/data.jsonl");
    ladder_fuzz::consume(labels.size());
  });
  return 0;
}
