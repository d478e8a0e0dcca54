// Checkpoint: the weights of a Hugging Face model folder, single-file or sharded through
// model.safetensors.index.json, seen as one name -> tensor map.
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ladder/error.h"
#include "ladder/io/safetensors.h"

namespace ladder::safetensors {
namespace {

using json = nlohmann::json;

constexpr const char* kIndexName = "model.safetensors.index.json";
constexpr const char* kSingleName = "model.safetensors";
constexpr std::streamoff kMaxIndexBytes = 100ll * 1000 * 1000;

bool is_directory(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

bool exists(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0;
}

std::string join(const std::string& dir, const std::string& name) {
  if (dir.empty() || dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

std::string parent_of(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A shard name must stay inside the model folder: a crafted index must not read elsewhere.
bool is_safe_relative(const std::string& name) {
  if (name.empty() || name.front() == '/') return false;
  std::stringstream parts(name);
  std::string part;
  while (std::getline(parts, part, '/')) {
    if (part == "..") return false;
  }
  return true;
}

json read_index(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw FormatError(path + ": cannot open checkpoint index: " + std::strerror(errno));
  }
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size > kMaxIndexBytes) {
    throw FormatError(
        path + ": " +
        expected_found("index size", "at most 100 MB", std::to_string(size) + " bytes"));
  }
  in.seekg(0, std::ios::beg);
  std::string text(static_cast<std::size_t>(size > 0 ? size : 0), '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(text.size()))) {
    throw FormatError(path + ": cannot read checkpoint index");
  }
  try {
    return json::parse(text);
  } catch (const json::exception& error) {
    throw FormatError(path + ": checkpoint index is not valid JSON (" + error.what() + ")");
  }
}

}  // namespace

Checkpoint Checkpoint::open(const std::string& path) {
  std::string index_path;
  std::string single_path;
  if (is_directory(path)) {
    if (exists(join(path, kIndexName))) {
      index_path = join(path, kIndexName);
    } else if (exists(join(path, kSingleName))) {
      single_path = join(path, kSingleName);
    } else {
      throw LoadError(path + ": no weights found: expected " + kIndexName + " or " + kSingleName +
                      " in this directory");
    }
  } else if (ends_with(path, ".index.json")) {
    index_path = path;
  } else {
    single_path = path;
  }

  Checkpoint checkpoint;
  if (!single_path.empty()) {
    checkpoint.path_ = single_path;
    checkpoint.files_.push_back(File::open(single_path));
    for (const TensorInfo& info : checkpoint.files_[0].tensors()) {
      checkpoint.owner_[info.name] = 0;
    }
    return checkpoint;
  }

  checkpoint.path_ = index_path;
  const json index = read_index(index_path);
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
    throw FormatError(
        index_path + ": " +
        expected_found("index", "an object with a \"weight_map\" object",
                       index.is_object() ? "no weight_map object" : index.type_name()));
  }
  const std::string dir = parent_of(index_path);
  std::map<std::string, std::size_t> shard_of_file;  // shard file name -> index in files_
  std::map<std::string, std::string> listed;         // tensor name -> shard file name
  for (const auto& item : index["weight_map"].items()) {
    if (!item.value().is_string()) {
      throw FormatError(index_path + ": weight_map entry '" + item.key() + "': " +
                        expected_found("value", "a shard file name", item.value().type_name()));
    }
    const std::string shard = item.value().get<std::string>();
    if (!is_safe_relative(shard)) {
      throw FormatError(index_path + ": weight_map entry '" + item.key() + "': " +
                        expected_found("shard", "a file name inside " + dir, "'" + shard + "'"));
    }
    listed[item.key()] = shard;
    if (shard_of_file.count(shard)) continue;
    try {
      checkpoint.files_.push_back(File::open(join(dir, shard)));
    } catch (const FormatError& error) {
      throw FormatError(index_path + ": shard '" + shard + "' (holding '" + item.key() +
                        "') cannot be read: " + error.what());
    }
    shard_of_file[shard] = checkpoint.files_.size() - 1;
  }

  // Every tensor of every shard is visible (as transformers loads whole shards); a name in
  // two shards is ambiguous, so it is refused rather than resolved by file order.
  for (std::size_t i = 0; i < checkpoint.files_.size(); ++i) {
    for (const TensorInfo& info : checkpoint.files_[i].tensors()) {
      auto [slot, inserted] = checkpoint.owner_.emplace(info.name, i);
      if (!inserted) {
        throw FormatError(index_path + ": tensor '" + info.name +
                          "' is in two shards: " + checkpoint.files_[slot->second].path() +
                          " and " + checkpoint.files_[i].path());
      }
    }
  }
  for (const auto& [name, shard] : listed) {
    const File& file = checkpoint.files_[shard_of_file[shard]];
    if (!file.contains(name)) {
      throw FormatError(index_path + ": tensor '" + name + "' is listed in shard '" + shard +
                        "' but " + file.path() + " does not hold it");
    }
  }
  return checkpoint;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> names;
  names.reserve(owner_.size());
  for (const auto& item : owner_) names.push_back(item.first);
  return names;
}

bool Checkpoint::contains(const std::string& name) const { return owner_.count(name) > 0; }

const TensorInfo& Checkpoint::info(const std::string& name) const {
  return files_[owner_index(name)].info(name);
}

const uint8_t* Checkpoint::data(const std::string& name) const {
  const File& file = files_[owner_index(name)];
  return file.data(file.info(name));
}

const std::string& Checkpoint::file_of(const std::string& name) const {
  return files_[owner_index(name)].path();
}

std::size_t Checkpoint::owner_index(const std::string& name) const {
  auto found = owner_.find(name);
  if (found == owner_.end()) {
    throw LoadError(path_ + ": checkpoint has no tensor named '" + name + "' (it holds " +
                    std::to_string(owner_.size()) + " tensors)");
  }
  return found->second;
}

}  // namespace ladder::safetensors
