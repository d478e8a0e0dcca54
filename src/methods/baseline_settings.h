#pragma once
// Typed reads of a method's JSON settings for the baseline methods (full, lora, adapter,
// bitfit, prompt). A wrong type or range is a UsageError naming the method and the key, so a
// typo in --method-settings fails before any training starts.
#include <algorithm>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ladder/error.h"

namespace ladder::baseline {

inline UsageError bad_setting(const std::string& method, const std::string& key, const std::string& expected,
                              const nlohmann::json& found) {
  return UsageError(method + ": " + expected_found("setting \"" + key + "\"", expected, found.dump()));
}

inline int64_t int_setting(const nlohmann::json& settings, const std::string& key, int64_t fallback,
                           int64_t minimum, const std::string& method) {
  if (!settings.contains(key)) return fallback;
  const nlohmann::json& value = settings.at(key);
  if (!value.is_number_integer() || value.get<int64_t>() < minimum)
    throw bad_setting(method, key, "an integer >= " + std::to_string(minimum), value);
  return value.get<int64_t>();
}

// A number in [minimum, maximum) (maximum_inclusive widens it to [minimum, maximum]).
inline double number_setting(const nlohmann::json& settings, const std::string& key, double fallback,
                             double minimum, double maximum, bool maximum_inclusive,
                             const std::string& method) {
  if (!settings.contains(key)) return fallback;
  const nlohmann::json& value = settings.at(key);
  const bool ok = value.is_number() && value.get<double>() >= minimum &&
                  (maximum_inclusive ? value.get<double>() <= maximum : value.get<double>() < maximum);
  if (!ok) {
    std::string range = "a number in [" + nlohmann::json(minimum).dump() + ", " + nlohmann::json(maximum).dump() +
                        (maximum_inclusive ? "]" : ")");
    throw bad_setting(method, key, range, value);
  }
  return value.get<double>();
}

inline bool bool_setting(const nlohmann::json& settings, const std::string& key, bool fallback,
                         const std::string& method) {
  if (!settings.contains(key)) return fallback;
  const nlohmann::json& value = settings.at(key);
  if (!value.is_boolean()) throw bad_setting(method, key, "true or false", value);
  return value.get<bool>();
}

// One of `allowed`.
inline std::string choice_setting(const nlohmann::json& settings, const std::string& key,
                                  const std::string& fallback, const std::vector<std::string>& allowed,
                                  const std::string& method) {
  if (!settings.contains(key)) return fallback;
  const nlohmann::json& value = settings.at(key);
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : "|") + a;
  if (!value.is_string() || std::find(allowed.begin(), allowed.end(), value.get<std::string>()) == allowed.end())
    throw bad_setting(method, key, "one of " + list, value);
  return value.get<std::string>();
}

// A non-empty list of distinct names from `allowed` (a single string is accepted as a list of one).
inline std::vector<std::string> names_setting(const nlohmann::json& settings, const std::string& key,
                                              const std::vector<std::string>& fallback,
                                              const std::vector<std::string>& allowed, const std::string& method) {
  if (!settings.contains(key)) return fallback;
  const nlohmann::json& value = settings.at(key);
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  const std::string expected = "a non-empty list of distinct names from [" + list + "]";
  std::vector<std::string> names;
  if (value.is_string()) {
    names.push_back(value.get<std::string>());
  } else if (value.is_array() && !value.empty()) {
    for (const auto& item : value) {
      if (!item.is_string()) throw bad_setting(method, key, expected, value);
      names.push_back(item.get<std::string>());
    }
  } else {
    throw bad_setting(method, key, expected, value);
  }
  for (size_t i = 0; i < names.size(); ++i) {
    if (std::find(allowed.begin(), allowed.end(), names[i]) == allowed.end() ||
        std::find(names.begin(), names.begin() + i, names[i]) != names.begin() + i)
      throw bad_setting(method, key, expected, value);
  }
  return names;
}

// The last component of a module path ("encoder.block.0.layer.0.SelfAttention.q" -> "q").
inline std::string leaf_name(const std::string& path) {
  const size_t dot = path.rfind('.');
  return dot == std::string::npos ? path : path.substr(dot + 1);
}

}  // namespace ladder::baseline
