// llama2.c's tokenizer written as Hugging Face writes a Llama 2 tokenizer (what transformers'
// LlamaConverter makes of a sentencepiece BPE model), so a converted folder loads there too.
#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <tuple>
#include <unordered_map>

#include "ladder/error.h"
#include "ladder/io/atomic_file.h"
#include "ladder/tokenizer/llama2c_tokenizer.h"
#include "utf8.h"

namespace ladder {
namespace {

using Json = nlohmann::ordered_json;

const char* const kSpecialNames[] = {"<unk>", "<s>", "</s>"};

// Hugging Face's name of a piece: the special tokens by their sentencepiece names, spaces as '▁'.
std::string hugging_face_name(const std::string& piece, int64_t id) {
  if (id < Llama2cTokenizer::kFirstByteId) return kSpecialNames[id];
  if (id < Llama2cTokenizer::kFirstByteId + 256) return piece;
  std::string name;
  for (const char c : piece) {
    if (c == ' ')
      name += tokenizer::utf8::kSpaceSymbol;
    else
      name += c;
  }
  return name;
}

Json added_token(int64_t id) {
  return Json{{"id", id},           {"content", kSpecialNames[id]}, {"single_word", false}, {"lstrip", false},
              {"rstrip", false},    {"normalized", false},          {"special", true}};
}

Json special_token(const std::string& name, int type_id) {
  return Json{{"SpecialToken", Json{{"id", name}, {"type_id", type_id}}}};
}

Json sequence(const std::string& name, int type_id) { return Json{{"Sequence", Json{{"id", name}, {"type_id", type_id}}}}; }

Json replace(const std::string& from, const std::string& to) {
  return Json{{"type", "Replace"}, {"pattern", Json{{"String", from}}}, {"content", to}};
}

}  // namespace

void Llama2cTokenizer::write_hugging_face_files(const std::string& dir) const {
  const int64_t n = vocab_size();
  const int64_t first_merged = kFirstByteId + 256;
  std::vector<std::string> names(static_cast<size_t>(n));
  std::unordered_map<std::string, int64_t> vocab_ids;
  Json vocab = Json::object();
  for (int64_t id = 0; id < n; ++id) {
    names[id] = hugging_face_name(piece(id), id);
    if (id >= first_merged && piece(id).find(tokenizer::utf8::kSpaceSymbol) != std::string::npos)
      throw FormatError("llama2.c tokenizer: piece " + std::to_string(id) +
                        " holds '\xE2\x96\x81', which Hugging Face's format reserves for spaces");
    if (!vocab_ids.emplace(names[id], id).second)
      throw FormatError("llama2.c tokenizer: pieces " + std::to_string(vocab_ids[names[id]]) + " and " + std::to_string(id) +
                        " are both \"" + names[id] + "\"; Hugging Face's vocabulary needs distinct pieces");
    vocab[names[id]] = id;
  }
  // Every way of splitting a piece into two pieces is a merge, ranked by the merged piece's
  // score (best first), then by the ids: Hugging Face's ordering for sentencepiece BPE models.
  std::vector<std::tuple<float, int64_t, int64_t, int64_t>> merges;
  for (int64_t id = first_merged; id < n; ++id) {
    const std::string& whole = names[id];
    for (size_t cut = tokenizer::utf8::char_length(whole[0]); cut < whole.size();
         cut += tokenizer::utf8::char_length(whole[cut])) {
      const auto left = vocab_ids.find(whole.substr(0, cut)), right = vocab_ids.find(whole.substr(cut));
      if (left != vocab_ids.end() && right != vocab_ids.end() && left->second >= first_merged && right->second >= first_merged)
        merges.emplace_back(-score(id), id, left->second, right->second);
    }
  }
  std::sort(merges.begin(), merges.end());
  Json merge_list = Json::array();
  for (const auto& [negative_score, merged, left, right] : merges) merge_list.push_back(names[left] + " " + names[right]);

  const std::string space(tokenizer::utf8::kSpaceSymbol);
  Json json;
  json["version"] = "1.0";
  json["truncation"] = nullptr;
  json["padding"] = nullptr;
  json["added_tokens"] = Json::array({added_token(0), added_token(1), added_token(2)});
  json["normalizer"] = Json{{"type", "Sequence"},
                            {"normalizers", Json::array({Json{{"type", "Prepend"}, {"prepend", space}}, replace(" ", space)})}};
  json["pre_tokenizer"] = nullptr;
  json["post_processor"] = Json{
      {"type", "TemplateProcessing"},
      {"single", Json::array({special_token("<s>", 0), sequence("A", 0)})},
      {"pair", Json::array({special_token("<s>", 0), sequence("A", 0), special_token("<s>", 1), sequence("B", 1)})},
      {"special_tokens", Json{{"<s>", Json{{"id", "<s>"}, {"ids", Json::array({kBosId})}, {"tokens", Json::array({"<s>"})}}}}}};
  json["decoder"] = Json{{"type", "Sequence"},
                         {"decoders", Json::array({replace(space, " "), Json{{"type", "ByteFallback"}}, Json{{"type", "Fuse"}},
                                                   Json{{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}};
  json["model"] = Json{{"type", "BPE"},
                       {"dropout", nullptr},
                       {"unk_token", "<unk>"},
                       {"continuing_subword_prefix", nullptr},
                       {"end_of_word_suffix", nullptr},
                       {"fuse_unk", true},
                       {"byte_fallback", true},
                       {"ignore_merges", false},
                       {"vocab", vocab},
                       {"merges", merge_list}};

  const Json config{{"add_bos_token", true},
                    {"add_eos_token", false},
                    {"bos_token", "<s>"},
                    {"eos_token", "</s>"},
                    {"unk_token", "<unk>"},
                    {"pad_token", nullptr},
                    {"clean_up_tokenization_spaces", false},
                    {"legacy", false},
                    {"tokenizer_class", "LlamaTokenizerFast"}};
  const Json special_map{{"bos_token", "<s>"}, {"eos_token", "</s>"}, {"unk_token", "<unk>"}};
  const std::filesystem::path out(dir);
  write_file_atomically((out / "tokenizer.json").string(), json.dump(2, ' ', false) + "\n");
  write_file_atomically((out / "tokenizer_config.json").string(), config.dump(2) + "\n");
  write_file_atomically((out / "special_tokens_map.json").string(), special_map.dump(2) + "\n");
}

}  // namespace ladder
