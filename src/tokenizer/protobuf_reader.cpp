#include "protobuf_reader.h"

#include <cstring>
#include <utility>

#include "ladder/error.h"

namespace ladder::tokenizer {

namespace {

const char* wire_type_name(WireType type) {
  switch (type) {
    case WireType::kVarint:
      return "varint";
    case WireType::kFixed64:
      return "fixed64";
    case WireType::kLengthDelimited:
      return "length-delimited";
    case WireType::kFixed32:
      return "fixed32";
  }
  return "unknown";
}

}  // namespace

ProtoReader::ProtoReader(std::string_view data, std::string source, std::string context)
    : data_(data), source_(std::move(source)), context_(std::move(context)) {}

void ProtoReader::fail(const std::string& problem) const {
  throw FormatError(source_ + ": " + context_ + ": " + problem +
                    " (is it a sentencepiece .model file, complete and uncorrupted?)");
}

uint64_t ProtoReader::read_varint() {
  uint64_t value = 0;
  // A varint holds at most 64 bits in 10 groups of 7.
  for (int shift = 0; shift < 70; shift += 7) {
    if (pos_ >= data_.size()) {
      fail("truncated varint at byte " + std::to_string(pos_) + " of " +
           std::to_string(data_.size()));
    }
    const auto byte = static_cast<uint8_t>(data_[pos_++]);
    value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return value;
  }
  fail("varint longer than 10 bytes at byte " + std::to_string(pos_));
}

bool ProtoReader::next(ProtoField& field) {
  if (pos_ >= data_.size()) return false;
  const size_t field_start = pos_;
  const uint64_t key = read_varint();
  field = ProtoField{};
  field.number = static_cast<uint32_t>(key >> 3);
  const auto wire = static_cast<uint32_t>(key & 7);
  if (field.number == 0 || (key >> 3) > 0x1fffffff) {
    fail("invalid field number " + std::to_string(key >> 3) + " at byte " +
         std::to_string(field_start));
  }
  auto need = [&](uint64_t count) {
    if (count > data_.size() - pos_) {
      fail(expected_found(
          "field " + std::to_string(field.number) + " at byte " + std::to_string(field_start),
          std::to_string(count) + " more bytes", std::to_string(data_.size() - pos_) + " left"));
    }
  };
  switch (wire) {
    case 0:
      field.wire_type = WireType::kVarint;
      field.varint = read_varint();
      break;
    case 1: {
      field.wire_type = WireType::kFixed64;
      need(8);
      uint64_t bits = 0;
      std::memcpy(&bits, data_.data() + pos_, 8);  // little-endian hosts only (x86, arm64)
      field.varint = bits;
      pos_ += 8;
      break;
    }
    case 2: {
      field.wire_type = WireType::kLengthDelimited;
      const uint64_t length = read_varint();
      need(length);
      field.bytes = data_.substr(pos_, static_cast<size_t>(length));
      pos_ += static_cast<size_t>(length);
      break;
    }
    case 5: {
      field.wire_type = WireType::kFixed32;
      need(4);
      uint32_t bits = 0;
      std::memcpy(&bits, data_.data() + pos_, 4);
      field.varint = bits;
      pos_ += 4;
      break;
    }
    default:
      // Groups (3, 4) are deprecated and never written by sentencepiece; 6 and 7 do not exist.
      fail("unsupported wire type " + std::to_string(wire) + " for field " +
           std::to_string(field.number) + " at byte " + std::to_string(field_start));
  }
  return true;
}

void ProtoReader::expect_wire_type(const ProtoField& field, WireType type, const char* name) const {
  if (field.wire_type != type) {
    fail(expected_found(std::string("field ") + std::to_string(field.number) + " (" + name + ")",
                        std::string("wire type ") + wire_type_name(type),
                        wire_type_name(field.wire_type)));
  }
}

std::string_view ProtoReader::as_bytes(const ProtoField& field, const char* name) const {
  expect_wire_type(field, WireType::kLengthDelimited, name);
  return field.bytes;
}

float ProtoReader::as_float(const ProtoField& field, const char* name) const {
  expect_wire_type(field, WireType::kFixed32, name);
  const auto bits = static_cast<uint32_t>(field.varint);
  float value = 0;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

int32_t ProtoReader::as_int32(const ProtoField& field, const char* name) const {
  expect_wire_type(field, WireType::kVarint, name);
  // Negative int32 values are sign-extended to 64 bits on the wire; keep the low 32 bits.
  return static_cast<int32_t>(static_cast<uint32_t>(field.varint));
}

bool ProtoReader::as_bool(const ProtoField& field, const char* name) const {
  expect_wire_type(field, WireType::kVarint, name);
  return field.varint != 0;
}

ProtoReader ProtoReader::nested(std::string_view bytes, const std::string& context) const {
  return ProtoReader(bytes, source_, context_ + " > " + context);
}

}  // namespace ladder::tokenizer
