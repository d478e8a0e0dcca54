#pragma once
// A minimal reader of the protobuf wire format, enough for sentencepiece's ModelProto.
// Linking libprotobuf (or libsentencepiece) next to libtorch is what we avoid here.
#include <cstdint>
#include <string>
#include <string_view>

namespace ladder::tokenizer {

// Protobuf wire types (https://protobuf.dev/programming-guides/encoding/).
enum class WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// One field of a message: its number, wire type and payload. For varints `varint` holds the
// value; for fixed32 the raw little-endian bits are in `varint` too; for length-delimited
// fields `bytes` views the payload (inside the reader's buffer).
struct ProtoField {
  uint32_t number = 0;
  WireType wire_type = WireType::kVarint;
  uint64_t varint = 0;
  std::string_view bytes;
};

// Walks the fields of one serialized message. Every malformed or truncated input throws
// FormatError naming `source` (the file) and `context` (the message being read).
class ProtoReader {
 public:
  ProtoReader(std::string_view data, std::string source, std::string context);

  // Reads the next field into `field`; returns false at the end of the message.
  bool next(ProtoField& field);

  // Typed views of a field; each checks the wire type and names the field on mismatch.
  std::string_view as_bytes(const ProtoField& field, const char* name) const;
  float as_float(const ProtoField& field, const char* name) const;
  int32_t as_int32(const ProtoField& field, const char* name) const;
  bool as_bool(const ProtoField& field, const char* name) const;

  // A reader for a nested message held in `bytes`, with the same source file.
  ProtoReader nested(std::string_view bytes, const std::string& context) const;

  [[noreturn]] void fail(const std::string& problem) const;

 private:
  uint64_t read_varint();
  void expect_wire_type(const ProtoField& field, WireType type, const char* name) const;

  std::string_view data_;
  size_t pos_ = 0;
  std::string source_;
  std::string context_;
};

}  // namespace ladder::tokenizer
