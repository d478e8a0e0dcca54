#pragma once
// JSON files: read with errors that name the file, written atomically (temp + rename).
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

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
  const nlohmann::json& value = json.at(key);
  auto wrong = [&](const std::string& expected) -> T {
    throw FormatError(source + ": \"" + std::string(key) + "\" must be " + expected + ", found " + value.dump());
  };
  if constexpr (std::is_same_v<T, bool>) {
    return value.is_boolean() ? value.get<bool>() : wrong("true or false");
  } else if constexpr (std::is_integral_v<T>) {
    // nlohmann would turn 2.5 into 2 and 1e300 into garbage: only whole numbers in range pass.
    const std::string range = std::is_unsigned_v<T> ? "a whole number >= 0 (that fits in 64 bits)"
                                                    : "a whole number (that fits in 64 bits)";
    if (value.is_number_unsigned()) {
      const auto u = value.get<uint64_t>();
      return u <= static_cast<uint64_t>(std::numeric_limits<T>::max()) ? static_cast<T>(u) : wrong(range);
    }
    if (value.is_number_integer()) {
      const auto i = value.get<int64_t>();
      if constexpr (std::is_unsigned_v<T>) {
        return i >= 0 ? static_cast<T>(i) : wrong(range);
      } else {
        return i >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
                       i <= static_cast<int64_t>(std::numeric_limits<T>::max())
                   ? static_cast<T>(i)
                   : wrong(range);
      }
    }
    if (value.is_number_float()) {
      const double d = value.get<double>();
      const bool whole = std::isfinite(d) && d == std::floor(d) &&
                         d >= static_cast<double>(std::numeric_limits<T>::min()) &&
                         d < static_cast<double>(std::numeric_limits<T>::max());
      return whole ? static_cast<T>(d) : wrong(range);
    }
    return wrong(range);
  } else if constexpr (std::is_floating_point_v<T>) {
    return value.is_number() ? value.get<T>() : wrong("a number");
  } else {
    try {
      return value.get<T>();
    } catch (const nlohmann::json::exception&) {
      throw FormatError(source + ": key \"" + std::string(key) + "\" has the wrong type (" + value.dump() + ")");
    }
  }
}

}  // namespace ladder
