#pragma once
// Errors thrown inside ladder. Only `main` turns them into exit codes.
#include <stdexcept>
#include <string>

namespace ladder {

// Base class: the message is one line a user can act on.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A file that is missing, unreadable, truncated or malformed.
class FormatError : public Error {
 public:
  using Error::Error;
};

// A checkpoint whose tensors do not fit the model (missing, unexpected, wrong shape/dtype).
class LoadError : public Error {
 public:
  using Error::Error;
};

// A bad command-line value or configuration combination.
class UsageError : public Error {
 public:
  using Error::Error;
};

// Builds "what: expected X, found Y (hint)" messages consistently.
inline std::string expected_found(const std::string& what, const std::string& expected,
                                  const std::string& found, const std::string& hint = "") {
  std::string message = what + ": expected " + expected + ", found " + found;
  if (!hint.empty()) message += " (" + hint + ")";
  return message;
}

}  // namespace ladder
