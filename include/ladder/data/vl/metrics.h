#pragma once
// Vision-language metrics: VQA answer normalisation and soft accuracy (as VL-T5's
// VQAEvaluator), and corpus BLEU-4 / CIDEr-D for captions (as pycocoevalcap, which VL-T5 runs
// through language_evaluation's CocoEvaluator). Torch-free.
#include <string>
#include <utility>
#include <vector>

namespace ladder::data {

// VL-T5's VQAEvaluator.normalize_answer, i.e. the official VQA evaluator's steps:
//   1. '\n' and '\t' -> ' ', surrounding whitespace stripped;
//   2. processPunctuation: each of ; / [ ] " { } ( ) = + \ _ - > < @ ` , ? ! is deleted when
//      the answer has it next to a space (either side) or has a "digit,digit" anywhere, and
//      replaced by a space otherwise; then every '.' not followed by a digit is deleted (at most
//      32 of them: the evaluator passes re.UNICODE (32) where re.sub takes its count);
//   3. processDigitArticle: lowercase, split on whitespace, number words "none"/"zero".."ten"
//      -> "0".."10", articles a/an/the dropped, contractions restored ("isnt" -> "isn't"),
//      words joined by one space;
//   4. remaining ',' deleted.
// Approximation: lowercasing and whitespace are ASCII only (Python's are Unicode-aware).
std::string normalize_vqa_answer(const std::string& answer);

// The label weight of the normalised prediction, as VQAEvaluator.evaluate (score of the answer
// in the {answer: score} label, 0 if absent). Label keys are normalised too; if several keys
// normalise to the same text the highest weight counts (the preprocessed files hold normalised,
// distinct keys, so this does not arise there).
double vqa_score(const std::string& prediction, const std::vector<std::pair<std::string, double>>& answers);

// Caption tokens, approximating pycocoevalcap's PTBTokenizer (Stanford PTB tokenizer,
// lowercased, then its punctuation tokens '' ' `` ` -LRB- -RRB- -LCB- -RCB- . ? ! , : - -- ...
// ; dropped): ASCII lowercase; the characters . , ? ! : ; " ` ( ) [ ] { } separate tokens and are
// dropped, except '.' and ',' between two digits ("3.5", "1,000"); a token made only of
// hyphens or apostrophes is dropped, apostrophes around a token are stripped, and the clitics
// n't 's 're 've 'll 'd 'm become tokens of their own ("don't" -> "do n't", "dog's" -> "dog
// 's") as PTB does. Not reproduced: PTB's handling of abbreviations ("mr." stays "mr" here,
// PTB keeps "mr."), URLs, and non-ASCII punctuation.
std::vector<std::string> caption_tokens(const std::string& text);

// Corpus BLEU-4 as pycocoevalcap's Bleu(4).compute_score (option "closest"): predictions[i]
// against references[i] (one or more each); both tokenised by caption_tokens. Clipped n-gram
// matches and n-gram counts are summed over the corpus, BLEU-4 = (prod_{n=1..4} (correct_n +
// 1e-15) / (guess_n + 1e-9))^(1/4), times exp(1 - r/c) when c < r, c = total prediction length,
// r = sum of each prediction's closest reference length (ties: the shorter). In [0, 1].
// Throws Error if the lists differ in length or an image has no reference; 0 for no images.
double corpus_bleu4(const std::vector<std::string>& predictions, const std::vector<std::vector<std::string>>& references);

// CIDEr-D as pycocoevalcap's Cider (n = 4, sigma = 6): n-gram TF-IDF vectors with document
// frequencies counted over the evaluated images' references (an image counts once per n-gram)
// and idf = log(#images) - log(max(1, df)); per reference, per n, the clipped cosine
// sum_g min(h_g, r_g) r_g / (|h| |r|) times exp(-delta^2 / (2 sigma^2)), delta the difference in
// *bigram* counts (pycocoevalcap's `length`, kept); averaged over n and the references, times
// 10; the mean over images. One image alone scores 0 (log 1 = 0), as in pycocoevalcap.
// Same tokenisation and argument checks as corpus_bleu4.
double cider_d(const std::vector<std::string>& predictions, const std::vector<std::vector<std::string>>& references);

}  // namespace ladder::data
