#pragma once
// JSON files: read with errors that name the file, written atomically (temp + rename).
#include <string>

#include <nlohmann/json.hpp>

namespace ladder {

nlohmann::json read_json_file(const std::string& path);  // FormatError naming the file
void write_json_atomically(const std::string& path, const nlohmann::json& json);

}  // namespace ladder
