#include "ladder/io/json_file.h"

#include <fstream>

#include "ladder/error.h"
#include "ladder/io/atomic_file.h"

namespace ladder {

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw FormatError(path + ": cannot open");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(path + ": invalid JSON (" + std::string(e.what()) + ")");
  }
}

void write_json_atomically(const std::string& path, const nlohmann::json& json) {
  write_file_atomically(path, json.dump(2) + "\n");
}

}  // namespace ladder
