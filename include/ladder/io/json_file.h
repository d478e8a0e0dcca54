#pragma once
// JSON files: read with errors that name the file, written atomically (temp + rename).
#include <string>

#include <nlohmann/json.hpp>

#include "ladder/error.h"

namespace ladder {

nlohmann::json read_json_file(const std::string& path);  // FormatError naming the file
void write_json_atomically(const std::string& path, const nlohmann::json& json);

// json[key] as T; a missing key or a value of the wrong type is a FormatError naming
// `source` (the file) and the key.
template <typename T>
T json_field(const nlohmann::json& json, const char* key, const std::string& source) {
  if (!json.is_object() || !json.contains(key))
    throw FormatError(source + ": missing required key \"" + std::string(key) + "\"");
  try {
    return json.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw FormatError(source + ": key \"" + std::string(key) + "\" has the wrong type (" + json.at(key).dump() + ")");
  }
}

}  // namespace ladder
